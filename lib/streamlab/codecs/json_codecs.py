"""JSON codecs: the stdlib baseline and orjson.

Both write the messages' plain ``to_dict()`` form, so the wire format is the
same readable JSON either way; they differ in speed and in how the vibration
samples are written:

* ``json`` (stdlib) writes each float32 sample as the Python float it becomes,
  i.e. with float64 digits (``0.10000000149011612``): ~19 characters per
  4-byte sample. That is the honest cost of naive JSON for numeric arrays.
* ``orjson`` serialises the float32 numpy arrays natively
  (``OPT_SERIALIZE_NUMPY``) with the shortest digits that round-trip a
  float32 (``0.1``): smaller and much faster, still plain JSON.

Non-finite floats are refused: stdlib json would write the non-standard
``NaN`` token and orjson ``null``; neither decodes back into a valid message.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from ..domain.messages import Alert, HealthRecord, Message, TelemetryReading, VibrationWindow
from .base import Codec, M, require_type

#: Message types whose to_dict() orjson writes as it is (no arrays).
_FLAT_TYPES = frozenset({TelemetryReading, HealthRecord, Alert})


class JsonCodec(Codec):
    """Stdlib ``json``: the baseline every other codec is compared with."""

    name = "json"
    content_type = "application/json"
    safe_for_untrusted = True

    def encode(self, msg: Message) -> bytes:
        require_type(msg, self.name)
        return json.dumps(msg.to_dict(), separators=(",", ":"), allow_nan=False).encode()

    def _decode(self, data: bytes, msg_type: type[M]) -> M:
        return msg_type.from_dict(json.loads(data))  # type: ignore[return-value]

    def parse_many(self, payloads: list[bytes]) -> list[Any] | None:
        try:
            return [json.loads(payload) for payload in payloads]
        except (ValueError, TypeError, RecursionError):
            return None


class OrjsonCodec(Codec):
    """``orjson``: the same JSON, written and parsed in Rust; numpy arrays serialised natively."""

    name = "orjson"
    content_type = "application/json"
    safe_for_untrusted = True

    def encode(self, msg: Message) -> bytes:
        if type(msg) in _FLAT_TYPES:   # the processor encodes one health record per reading: no lookups
            return orjson.dumps(msg.to_dict())
        require_type(msg, self.name)
        if isinstance(msg, VibrationWindow):
            return orjson.dumps(msg.to_dict(raw_arrays=True), option=orjson.OPT_SERIALIZE_NUMPY)
        return orjson.dumps(msg.to_dict())

    def _decode(self, data: bytes, msg_type: type[M]) -> M:
        return msg_type.from_dict(orjson.loads(data))  # type: ignore[return-value]

    def parse_many(self, payloads: list[bytes]) -> list[Any] | None:
        loads = orjson.loads
        try:
            return [loads(payload) for payload in payloads]
        except (orjson.JSONDecodeError, TypeError):
            return None
