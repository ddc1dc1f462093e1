"""Reading the broker's copy back stops neither too early nor never (a scripted consumer, a fake clock)."""

from __future__ import annotations

import pytest

from streamlab.codecs import get_codec
from streamlab.domain.messages import TelemetryReading
from streamlab.experiments.faults import audit
from streamlab.transport.base import Record


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


class _ScriptedConsumer:
    """Assigned after `assigned_after` s; its records arrive at the times of `arrivals` (s)."""

    def __init__(self, clock: _Clock, assigned_after: float, arrivals: list[float]) -> None:
        self.clock, self.assigned_after, self.arrivals = clock, assigned_after, sorted(arrivals)
        self.committed = self.closed = False
        codec = get_codec("json")
        self.values = [codec.encode(TelemetryReading("M0", seq, seq, 20.0, 1500.0, 50.0, 3.0))
                       for seq in range(len(arrivals))]

    def poll(self, timeout: float = 1.0, max_records: int = 500) -> list[Record]:
        due = [i for i, t in enumerate(self.arrivals) if t is not None and t <= self.clock.now + timeout]
        if not due:
            self.clock.now += timeout
            return []
        self.clock.now = max(self.clock.now, self.arrivals[due[0]])
        out = [Record("ns.telemetry", None, self.values[i]) for i in due]
        for i in due:
            self.arrivals[i] = None
        return out

    def assignment_ready(self) -> bool:
        return self.clock.now >= self.assigned_after

    def commit(self) -> None:
        self.committed = True

    def close(self) -> None:
        self.closed = True


class _Transport:
    def __init__(self, consumer: _ScriptedConsumer) -> None:
        self._consumer = consumer

    def consumer(self, topics, group, client_id):
        return self._consumer


@pytest.fixture
def clock(monkeypatch):
    fake = _Clock()
    monkeypatch.setattr(audit.time, "monotonic", fake.monotonic)
    return fake


def _read(consumer: _ScriptedConsumer):
    return audit.read_back(_Transport(consumer), "ns", "telemetry", "json", ["machine_id", "seq"],
                           idle_s=1.0, empty_s=5.0, timeout_s=60.0)


def test_a_slow_join_and_first_fetch_still_read_every_record(clock):
    # 3 s to join, the first records 2 s later: both longer than idle_s, which must not end the read
    consumer = _ScriptedConsumer(clock, assigned_after=3.0, arrivals=[5.0, 5.2, 5.9, 6.5])
    rows = _read(consumer)
    assert list(rows["seq"]) == [0, 1, 2, 3]
    assert consumer.committed and consumer.closed


def test_an_empty_stream_ends_empty_s_after_assignment(clock):
    consumer = _ScriptedConsumer(clock, assigned_after=2.0, arrivals=[])
    assert _read(consumer).empty
    assert 7.0 <= clock.now < 8.0


def test_the_read_ends_idle_s_after_the_last_record(clock):
    consumer = _ScriptedConsumer(clock, assigned_after=0.0, arrivals=[0.2, 0.4, 9.0])
    rows = _read(consumer)
    assert list(rows["seq"]) == [0, 1]       # the record at 9 s comes after 1 s of quiet: not waited for
    assert 1.0 <= clock.now < 2.0


def test_a_consumer_never_assigned_is_bounded_by_the_timeout(clock):
    consumer = _ScriptedConsumer(clock, assigned_after=1e9, arrivals=[])
    assert _read(consumer).empty
    assert 60.0 <= clock.now < 61.0
