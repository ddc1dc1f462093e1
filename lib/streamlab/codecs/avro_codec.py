"""Avro (fastavro) with the schemas in ``schemas/*.avsc``, single-object encoding.

Avro's binary form carries no field names or types: the reader needs the
writer's schema. Schemaless payloads would make a telemetry message decoded
with the health schema come out as plausible garbage, so every payload uses
Avro's *single-object encoding* (the spec's format for messages): the marker
``C3 01``, the 8-byte CRC-64-AVRO fingerprint of the schema, then the record.
The decoder checks marker and fingerprint before reading, and that no bytes
are left over after it. Those 10 bytes are most of the overhead on a ~60-byte
telemetry message; a schema registry (Confluent's 5-byte header) would save
half of it, at the price of running one.

Vibration samples are ``array<float>``: 4 bytes per sample, typed in the
schema, so any Avro reader gets float32 back. fastavro still visits every
sample from Python lists, which costs time that a ``bytes`` field of raw
float32 would not (see the msgpack codec for that trade).

Schemas are parsed once, at import.
"""

from __future__ import annotations

import io
import json
from importlib import resources
from typing import Any

import fastavro
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from ..domain.messages import MESSAGE_TYPES, Message
from .base import Codec, DecodeError, M, require_type

SINGLE_OBJECT_MARKER = b"\xc3\x01"
HEADER_SIZE = len(SINGLE_OBJECT_MARKER) + 8


def load_schema(type_name: str) -> dict[str, Any]:
    """The parsed Avro schema of a message type (``schemas/<type_name>.avsc``)."""
    text = resources.files(__package__).joinpath("schemas", f"{type_name}.avsc").read_text(encoding="utf-8")
    return parse_schema(json.loads(text))


def single_object_header(schema: dict[str, Any]) -> bytes:
    """``C3 01`` + the schema's CRC-64-AVRO fingerprint, little-endian (fastavro's hex is in that order)."""
    return SINGLE_OBJECT_MARKER + bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


SCHEMAS: dict[str, dict[str, Any]] = {name: load_schema(name) for name in MESSAGE_TYPES}
HEADERS: dict[str, bytes] = {name: single_object_header(schema) for name, schema in SCHEMAS.items()}


class AvroCodec(Codec):
    """fastavro records with a single-object-encoding header."""

    name = "avro"
    content_type = "avro/binary"
    safe_for_untrusted = True

    def encode(self, msg: Message) -> bytes:
        type_name = require_type(msg, self.name)
        buffer = io.BytesIO()
        buffer.write(HEADERS[type_name])
        fastavro.schemaless_writer(buffer, SCHEMAS[type_name], msg.to_dict())
        return buffer.getvalue()

    def _decode(self, data: bytes, msg_type: type[M]) -> M:
        type_name = msg_type.type_name
        header = data[:HEADER_SIZE]
        if header[:2] != SINGLE_OBJECT_MARKER:
            raise DecodeError("not Avro single-object encoding (marker C3 01 missing)")
        if header != HEADERS[type_name]:
            raise DecodeError(f"schema fingerprint {header[2:].hex()} is not the {type_name} schema's")
        buffer = io.BytesIO(data)
        buffer.seek(HEADER_SIZE)
        fields = fastavro.schemaless_reader(buffer, SCHEMAS[type_name], None)
        if buffer.tell() != len(data):
            raise DecodeError(f"{len(data) - buffer.tell()} trailing bytes after the record")
        return msg_type.from_dict(fields)  # type: ignore[return-value]
