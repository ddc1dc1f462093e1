"""A transport held in this process's memory: what a service publishes stays in a list, what it consumes
is fed in as poll batches.

It exists so a service's own code (decode, score, publish, commit) can be run and measured without a
broker: the processor's unit tests, and chapter 04's measurement of its scoring paths per run size,
where a broker's round trips would hide the microseconds being compared. Nothing it holds leaves the
process; it is no back end of the application.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import DeliveryCallback, Record


@dataclass
class MemoryPublisher:
    """Keeps every published record, in order, as (topic, key, value, headers); each delivery succeeds."""

    sent: list[tuple[str, object, bytes, dict]] = field(default_factory=list)

    def publish(self, topic: str, key: bytes | str | None, value: bytes, headers: dict | None = None,
                on_delivery: DeliveryCallback | None = None) -> None:
        self.sent.append((topic, key, value, dict(headers or {})))
        if on_delivery is not None:
            on_delivery(None)

    def warm_up(self, topics: list[str], timeout: float = 10.0) -> None:
        """Connected on construction: nothing to prepare."""

    def flush(self, timeout: float = 30.0) -> int:
        return 0

    def close(self) -> None:
        pass

    def on(self, topic: str) -> list[tuple]:
        return [s for s in self.sent if s[0] == topic]


@dataclass
class MemoryConsumer:
    """Returns the queued poll batches one per poll, then empty polls; counts commits."""

    batches: list[list[Record]] = field(default_factory=list)
    commits: int = 0

    def poll(self, timeout: float = 0.0, max_records: int = 1000) -> list[Record]:
        return self.batches.pop(0) if self.batches else []

    def commit(self) -> bool:
        self.commits += 1
        return True

    def close(self) -> None:
        pass


class MemoryTransport:
    """One publisher and one consumer, shared by every caller, so a test or a benchmark reads what was sent."""

    def __init__(self) -> None:
        self.publisher_ = MemoryPublisher()
        self.consumer_ = MemoryConsumer()

    def consumer(self, topics: list[str], group: str, client_id: str, **_: object) -> MemoryConsumer:
        return self.consumer_

    def publisher(self, client_id: str, **_: object) -> MemoryPublisher:
        return self.publisher_
