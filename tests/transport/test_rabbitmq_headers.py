"""A consumed RabbitMQ delivery whose `timestamp_in_ms` header is not a number is still a record (issue 15)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from streamlab.transport.rabbitmq import TIMESTAMP_HEADER, _record


def delivery(value, timestamp=None):
    method = SimpleNamespace(exchange="telemetry", routing_key="M000", delivery_tag=7)
    props = SimpleNamespace(headers={TIMESTAMP_HEADER: value, "codec": b"orjson"}, timestamp=timestamp)
    return method, props, b"{}"


@pytest.mark.parametrize("value", [b"not-a-number", "12:00", None, 1.5e300, float("nan"), [1, 2], {"a": 1}])
def test_a_non_numeric_timestamp_header_does_not_crash_the_consumer(value):
    record = _record(*delivery(value, timestamp=1_790_000_000))
    assert record.timestamp_ms == 1_790_000_000_000            # falls back to the AMQP timestamp property
    assert record.headers["codec"] == b"orjson"


def test_a_numeric_timestamp_header_is_read():
    assert _record(*delivery(1_790_000_000_123)).timestamp_ms == 1_790_000_000_123
    assert _record(*delivery(b"1790000000123")).timestamp_ms == 1_790_000_000_123
