"""The generators spread a tick's messages over the tick (each machine its own slot) unless told to burst."""

from __future__ import annotations

import logging
import time

import pytest
import typer

from streamlab.domain import Fleet
from streamlab.services.common import ServiceOptions
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


class TimedPublisher(MemoryPublisher):
    def __init__(self) -> None:
        super().__init__()
        self.sent_at: list[float] = []

    def publish(self, topic, key, value, headers=None, on_delivery=None) -> None:
        self.sent_at.append(time.monotonic())
        super().publish(topic, key, value, headers, on_delivery)


def send_times(monkeypatch, tmp_path, pacing: str, machines: int = 5, ticks: int = 3) -> list[float]:
    """When each message of `ticks` ticks at 5 Hz was published, seconds after the first."""
    transport = MemoryTransport()
    transport.publisher_ = TimedPublisher()
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
    due = [tick * 0.2 + j * 0.04 for tick in range(3) for j in range(5)]
    # never before its slot (how late depends on the machine's load, so it is not asserted)
    assert all(s >= d - 0.002 for s, d in zip(sent, due)), (sent, due)


def test_burst_sends_a_tick_at_once(monkeypatch, tmp_path):
    sent = send_times(monkeypatch, tmp_path, "burst")
    for tick in range(3):
        within = sent[tick * 5:(tick + 1) * 5]
        assert min(within) >= tick * 0.2 - 0.002, sent       # not before its tick
        assert within[-1] - within[0] < 0.16, sent           # the last one before its spread slot would be due
