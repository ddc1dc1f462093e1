"""Serializers for the pipeline's messages, behind one :class:`Codec` interface (Bonus 1).

=============  ======================================  ==================
name           wire format                             safe for untrusted
=============  ======================================  ==================
json           stdlib JSON (the baseline)              yes
orjson         the same JSON, via orjson               yes
msgpack        MessagePack maps, float32 ``bin``       yes
avro           fastavro + ``schemas/*.avsc``           yes
protobuf       ``schemas/streamlab.proto``             yes
cloudpickle    pickled Python objects                  **no** (runs code)
=============  ======================================  ==================

Every codec round-trips every message type of :mod:`streamlab.domain` and
raises :class:`DecodeError` -- and nothing else -- for bytes it cannot turn
into a valid message. Each codec module's docstring says what its encoding
choices cost.

Usage::

    codec = get_codec("avro")
    payload = codec.encode(reading)
    reading_again = codec.decode(payload, TelemetryReading)
"""

from __future__ import annotations

from ..errors import UserError
from .avro_codec import AvroCodec
from .base import Codec, DecodeError
from .json_codecs import JsonCodec, OrjsonCodec
from .msgpack_codec import MsgpackCodec
from .pickle_codec import CloudpickleCodec
from .protobuf_codec import ProtobufCodec

_CODECS: dict[str, Codec] = {
    codec.name: codec
    for codec in (JsonCodec(), OrjsonCodec(), MsgpackCodec(), AvroCodec(), ProtobufCodec(), CloudpickleCodec())
}

CODEC_NAMES: tuple[str, ...] = tuple(_CODECS)
"""All codec names, the JSON baseline first."""

SAFE_CODEC_NAMES: tuple[str, ...] = tuple(name for name, codec in _CODECS.items() if codec.safe_for_untrusted)
"""The codecs a service may use on data from a broker."""


def get_codec(name: str) -> Codec:
    """The codec registered as ``name`` (codecs are stateless; one shared instance each)."""
    try:
        return _CODECS[name]
    except KeyError:
        raise ValueError(f"unknown codec {name!r}; valid codecs: {', '.join(CODEC_NAMES)}") from None


def service_codec(name: str) -> Codec:
    """The codec a service may use on data from a broker: a safe one, or a one-line `UserError` naming them.

    cloudpickle stays registered for the codec benchmark (Bonus 1), which only decodes what it encoded
    itself; a service decodes whatever anyone published, and unpickling that runs their code.
    """
    if name in SAFE_CODEC_NAMES:
        return _CODECS[name]
    why = "decoding it runs code from the broker" if name in _CODECS else "no such codec"
    raise UserError(f"codec {name!r} is refused by the services ({why}); allowed codecs: {', '.join(SAFE_CODEC_NAMES)}")


__all__ = [
    "CODEC_NAMES", "SAFE_CODEC_NAMES", "AvroCodec", "CloudpickleCodec", "Codec", "DecodeError",
    "JsonCodec", "MsgpackCodec", "OrjsonCodec", "ProtobufCodec", "get_codec", "service_codec",
]
