"""The in-memory transport (`streamlab.transport.memory`), so the services' loops and dead-letter boundaries
are tested without a broker."""

from __future__ import annotations

import pytest

from streamlab.services.common import ServiceOptions
from streamlab.transport import Record
from streamlab.transport.memory import MemoryTransport


@pytest.fixture
def fake_transport(monkeypatch, tmp_path) -> MemoryTransport:
    transport = MemoryTransport()
    monkeypatch.setattr(ServiceOptions, "transport", lambda self: transport)
    return transport


@pytest.fixture
def make_record():
    """record(topic, value, offset=0, headers=None): a consumed record, orjson-coded unless headers say else."""
    def record(topic: str, value: bytes, offset: int = 0, headers: dict | None = None) -> Record:
        return Record(topic, b"M000", value, {"codec": b"orjson"} if headers is None else headers, 0, offset, 0)
    return record
