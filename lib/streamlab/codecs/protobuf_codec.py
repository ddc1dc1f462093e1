"""Protocol Buffers, from ``schemas/streamlab.proto`` (classes built at import, no protoc).

See :mod:`streamlab.codecs.proto_schema` for why the classes are built from
the ``.proto`` text instead of a generated ``_pb2.py``.

Choices and their cost:

* Scalars are proto3 ``optional`` (explicit presence), and decoding rejects a
  message with a field missing. Plain proto3 would turn a truncated or foreign
  payload into zeros and empty strings without complaint.
* Timestamps are ``fixed64`` (8 bytes) rather than varints (9 bytes at ~1.7e18).
* Vibration samples are ``repeated float``, packed by proto3: 4 bytes per sample
  plus a length prefix per axis, typed for every reader. The runtime copies
  them element by element from a Python list (``tolist()`` is 5x faster to
  hand over than the numpy array itself) and back into numpy on decode.
* ``map<string, double>`` for health features: every entry is a small
  sub-message, a few bytes more than Avro's map. A map has no presence, so it
  has field number 1 and a cut inside it still loses a checked field (see the
  comments in the ``.proto``).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

import numpy as np
from google.protobuf.message import Message as ProtoMessage

from ..domain.messages import Alert, HealthRecord, Message, TelemetryReading, VibrationWindow
from .base import Codec, DecodeError, M, require_type
from .proto_schema import build_message_classes, parse_proto

PROTO_FILE = "streamlab.proto"


def _load_classes() -> dict[str, type[ProtoMessage]]:
    text = resources.files(__package__).joinpath("schemas", PROTO_FILE).read_text(encoding="utf-8")
    return build_message_classes(parse_proto(text, PROTO_FILE))


PB = _load_classes()
"""Protobuf message classes by name: Telemetry, AccelAxes, VibrationMetadata, Vibration, Health, Alert."""

_HEADER = ("machine_id", "seq", "ts_ns")
_REQUIRED: dict[str, tuple[str, ...]] = {
    "Telemetry": (*_HEADER, "temperature_c", "rpm", "load_pct", "power_kw"),
    "Vibration": (*_HEADER, "sample_rate_hz", "axes", "metadata"),
    "VibrationMetadata": ("sensor_id", "mount_position", "firmware", "units", "rpm_at_capture"),
    "Health": (*_HEADER, "source_ts_ns", "health_score", "state"),
    "Alert": (*_HEADER, "source_ts_ns", "previous_state", "state", "reason", "health_score"),
}


def _require_fields(pb: ProtoMessage, kind: str) -> None:
    for field in _REQUIRED[kind]:
        if not pb.HasField(field):
            raise DecodeError(f"field {kind}.{field} is missing")


def _scalars(pb: ProtoMessage, kind: str) -> dict[str, Any]:
    _require_fields(pb, kind)
    return {field: getattr(pb, field) for field in _REQUIRED[kind]}


# ---------------------------------------------------------------- per message type: to and from protobuf


def _encode_telemetry(m: TelemetryReading) -> ProtoMessage:
    return PB["Telemetry"](
        machine_id=m.machine_id, seq=m.seq, ts_ns=m.ts_ns,
        temperature_c=m.temperature_c, rpm=m.rpm, load_pct=m.load_pct, power_kw=m.power_kw,
    )


def _encode_vibration(m: VibrationWindow) -> ProtoMessage:
    meta = m.metadata
    return PB["Vibration"](
        machine_id=m.machine_id, seq=m.seq, ts_ns=m.ts_ns, sample_rate_hz=m.sample_rate_hz,
        axes=PB["AccelAxes"](x=m.axes.x.tolist(), y=m.axes.y.tolist(), z=m.axes.z.tolist()),
        metadata=PB["VibrationMetadata"](
            sensor_id=meta.sensor_id, mount_position=meta.mount_position, firmware=meta.firmware,
            units=meta.units, rpm_at_capture=meta.rpm_at_capture,
        ),
    )


def _encode_health(m: HealthRecord) -> ProtoMessage:
    return PB["Health"](
        machine_id=m.machine_id, seq=m.seq, ts_ns=m.ts_ns, source_ts_ns=m.source_ts_ns,
        health_score=m.health_score, state=m.state, features=m.features,
    )


def _encode_alert(m: Alert) -> ProtoMessage:
    return PB["Alert"](
        machine_id=m.machine_id, seq=m.seq, ts_ns=m.ts_ns, source_ts_ns=m.source_ts_ns,
        previous_state=m.previous_state, state=m.state, reason=m.reason, health_score=m.health_score,
    )


def _fields_of_vibration(pb: ProtoMessage) -> dict[str, Any]:
    fields = _scalars(pb, "Vibration")
    axes = pb.axes
    fields["axes"] = {
        "x": np.array(axes.x, dtype=np.float32),
        "y": np.array(axes.y, dtype=np.float32),
        "z": np.array(axes.z, dtype=np.float32),
    }
    fields["metadata"] = _scalars(pb.metadata, "VibrationMetadata")
    return fields


def _fields_of_health(pb: ProtoMessage) -> dict[str, Any]:
    fields = _scalars(pb, "Health")
    fields["features"] = dict(pb.features)
    return fields


_ENCODERS: dict[type, Callable[[Any], ProtoMessage]] = {
    TelemetryReading: _encode_telemetry,
    VibrationWindow: _encode_vibration,
    HealthRecord: _encode_health,
    Alert: _encode_alert,
}
_DECODERS: dict[type, tuple[str, Callable[[ProtoMessage], dict[str, Any]]]] = {
    TelemetryReading: ("Telemetry", lambda pb: _scalars(pb, "Telemetry")),
    VibrationWindow: ("Vibration", _fields_of_vibration),
    HealthRecord: ("Health", _fields_of_health),
    Alert: ("Alert", lambda pb: _scalars(pb, "Alert")),
}


class ProtobufCodec(Codec):
    """proto3 messages with explicit presence; packed float32 samples."""

    name = "protobuf"
    content_type = "application/x-protobuf"
    safe_for_untrusted = True

    def encode(self, msg: Message) -> bytes:
        require_type(msg, self.name)
        return _ENCODERS[type(msg)](msg).SerializeToString()

    def _decode(self, data: bytes, msg_type: type[M]) -> M:
        kind, to_fields = _DECODERS[msg_type]
        pb = PB[kind]()
        pb.ParseFromString(data)
        return msg_type.from_dict(to_fields(pb))  # type: ignore[return-value]
