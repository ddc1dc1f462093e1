"""The generators spread a tick's messages over the tick (each machine its own slot) unless told to burst."""

from __future__ import annotations

import logging
import time

import pytest
import typer

from streamlab.domain import Fleet
from streamlab.services.common import ServiceOptions
from streamlab.services import generator_loop
from streamlab.services.generator_loop import _pacing, run_generator, slot_offsets
from streamlab.transport.memory import MemoryPublisher, MemoryTransport


def test_slots_split_the_tick_evenly_or_not_at_all():
    assert slot_offsets(4, 0.1, "spread") == pytest.approx([0.0, 0.025, 0.05, 0.075])
    assert slot_offsets(4, 0.1, "burst") == [0.0] * 4
    with pytest.raises(ValueError, match="spread, burst"):
        slot_offsets(4, 0.1, "random")


def test_a_bad_pacing_flag_is_a_one_line_usage_error():
    with pytest.raises(typer.BadParameter, match="use one of spread, burst"):
        _pacing("even")


class Clock:
    """The generator's clock, faked: sleeping moves it on and nothing else does, so when each message is
    sent is decided by the pacing alone, not by how busy the machine is."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    @staticmethod
    def time_ns() -> int:
        return time.time_ns()


class TimedPublisher(MemoryPublisher):
    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self.sent_at: list[float] = []

    def publish(self, topic, key, value, headers=None, on_delivery=None) -> None:
        self.sent_at.append(self.clock.monotonic())
        super().publish(topic, key, value, headers, on_delivery)


def send_times(monkeypatch, tmp_path, pacing: str, machines: int = 5, ticks: int = 3) -> list[float]:
    """When each message of `ticks` ticks at 5 Hz was published, seconds after the first (on the fake clock)."""
    clock = Clock()
    monkeypatch.setattr(generator_loop, "time", clock)
    transport = MemoryTransport()
    transport.publisher_ = TimedPublisher(clock)
    monkeypatch.setattr(ServiceOptions, "transport", lambda self: transport)
    options = ServiceOptions(broker="rabbitmq", data_dir=tmp_path, instance="telemetry-generator")
    fleet = Fleet(machines, seed=7)
    run_generator(options, logging.getLogger("pacing"), "telemetry", "telemetry", 5.0, fleet.telemetry,
                  fleet.machine_ids, 0, max_messages=machines * ticks, pacing=pacing)
    sent = transport.publisher_.sent_at
    assert len(sent) == machines * ticks, "every reading published"
    return [t - sent[0] for t in sent]


def test_spread_sends_each_machine_at_its_own_slot(monkeypatch, tmp_path):
    sent = send_times(monkeypatch, tmp_path, "spread")
    assert sent == pytest.approx([tick * 0.2 + j * 0.04 for tick in range(3) for j in range(5)])


def test_burst_sends_a_tick_at_once(monkeypatch, tmp_path):
    sent = send_times(monkeypatch, tmp_path, "burst")
    assert sent == pytest.approx([tick * 0.2 for tick in range(3) for _ in range(5)])
