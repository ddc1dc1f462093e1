"""An in-memory transport, so the services' loops and dead-letter boundaries are tested without a broker."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from streamlab.services.common import ServiceOptions
from streamlab.transport import Record


@dataclass
class FakePublisher:
    sent: list[tuple[str, object, bytes, dict]] = field(default_factory=list)

    def publish(self, topic, key, value, headers=None, on_delivery=None) -> None:
        self.sent.append((topic, key, value, dict(headers or {})))
        if on_delivery is not None:
            on_delivery(None)

    def flush(self, timeout=None) -> int:
        return 0

    def close(self) -> None:
        pass

    def on(self, topic: str) -> list[tuple]:
        return [s for s in self.sent if s[0] == topic]


@dataclass
class FakeConsumer:
    batches: list[list[Record]] = field(default_factory=list)
    commits: int = 0

    def poll(self, timeout=0.0, max_records=1000) -> list[Record]:
        return self.batches.pop(0) if self.batches else []

    def commit(self) -> None:
        self.commits += 1

    def close(self) -> None:
        pass


class FakeTransport:
    def __init__(self) -> None:
        self.publisher_ = FakePublisher()
        self.consumer_ = FakeConsumer()

    def consumer(self, topics, group, client_id, **_):
        return self.consumer_

    def publisher(self, client_id, **_):
        return self.publisher_


@pytest.fixture
def fake_transport(monkeypatch, tmp_path) -> FakeTransport:
    transport = FakeTransport()
    monkeypatch.setattr(ServiceOptions, "transport", lambda self: transport)
    return transport


@pytest.fixture
def make_record():
    """record(topic, value, offset=0, headers=None): a consumed record, orjson-coded unless headers say else."""
    def record(topic: str, value: bytes, offset: int = 0, headers: dict | None = None) -> Record:
        return Record(topic, b"M000", value, {"codec": b"orjson"} if headers is None else headers, 0, offset, 0)
    return record
