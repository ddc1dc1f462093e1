"""A delivery as a `Record`: its key, value, headers and the timestamp header the publisher sets."""

from __future__ import annotations

import json
from typing import Any

from ..base import Record

TIMESTAMP_HEADER = "timestamp_in_ms"


def _header_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (int, float, bool)):
        return str(value).encode()
    return json.dumps(value, default=str).encode()    # tables and arrays, e.g. x-death


def _record(method, props, body) -> Record:
    """A delivery (basic.deliver or basic.get-ok) as a Record: headers as bytes, the publish time in ms."""
    headers = {}
    timestamp_ms = 0
    for name, value in (props.headers or {}).items():
        if name == TIMESTAMP_HEADER:
            timestamp_ms = _timestamp_ms(value)
        else:
            headers[name] = _header_bytes(value)
    if not timestamp_ms and props.timestamp:
        timestamp_ms = int(props.timestamp) * 1000
    key = method.routing_key
    return Record(method.exchange, key.encode() if key else None, body, headers, -1,
                  method.delivery_tag, timestamp_ms)


def _timestamp_ms(value) -> int:
    """The header as ms since the epoch; 0 (unknown) for anything else a publisher put there, never a crash."""
    try:
        result = int(value)
    except (TypeError, ValueError, OverflowError):
        return 0
    return result if 0 <= result < 2**63 else 0
