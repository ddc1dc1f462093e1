"""Finite but absurd values are out of range at decode time (issue 15): validation lives in the message types."""

from __future__ import annotations

import pytest

from streamlab.codecs import SAFE_CODEC_NAMES, DecodeError, get_codec
from streamlab.domain import TelemetryReading
from streamlab.domain.messages import MAX_TS_NS

GOOD = {"machine_id": "M000", "seq": 1, "ts_ns": 1_790_000_000_000_000_000, "temperature_c": 55.0,
        "rpm": 1500.0, "load_pct": 60.0, "power_kw": 12.0}


@pytest.mark.parametrize("field, value", [
    ("ts_ns", 2**63), ("ts_ns", 2**64 - 1), ("seq", 2**63),
    ("temperature_c", 1e308), ("temperature_c", -1e308), ("temperature_c", -300.0),
    ("rpm", 1e308), ("rpm", -5.0), ("load_pct", 1e300), ("power_kw", -1.0), ("power_kw", 1e20),
    ("machine_id", "M" * 1000),
])
def test_out_of_range_fields_are_rejected_with_their_name(field, value):
    with pytest.raises(ValueError, match=field):
        TelemetryReading.from_dict({**GOOD, field: value})


def test_the_largest_valid_ts_is_accepted():
    assert TelemetryReading.from_dict({**GOOD, "ts_ns": MAX_TS_NS}).ts_ns == MAX_TS_NS


@pytest.mark.parametrize("codec_name", ["json", "orjson", "msgpack"])
def test_every_schemaless_codec_rejects_a_ts_beyond_int64(codec_name):
    """orjson and msgpack read 2**63..2**64-1 as a Python int: only the message type can refuse it."""
    import json

    import msgpack

    raw = {**GOOD, "ts_ns": 2**63 + 5}
    payload = msgpack.packb(raw) if codec_name == "msgpack" else json.dumps(raw).encode()
    with pytest.raises(DecodeError, match="ts_ns"):
        get_codec(codec_name).decode(payload, TelemetryReading)
    assert codec_name in SAFE_CODEC_NAMES


def test_protobuf_fixed64_beyond_int64_is_rejected():
    from streamlab.codecs.protobuf_codec import PB

    message = PB["Telemetry"](**{**GOOD, "ts_ns": 2**63 + 5})
    with pytest.raises(DecodeError, match="ts_ns"):
        get_codec("protobuf").decode(message.SerializeToString(), TelemetryReading)
