"""MessagePack: schemaless binary JSON.

Messages are written as maps with their field names, like JSON (so the
payload describes itself, at the price of repeating the names in every
message). The vibration samples go out as three ``bin`` blobs of
little-endian float32 -- 4 bytes per sample and a single ``memcpy`` each way
instead of 768 floats to pack one by one. The cost: the blob's meaning (dtype,
byte order) lives in this code, not in the wire format; a reader in another
language must know it. Decoded samples are read-only numpy views of the
payload (no copy); code that wants to modify them in place must copy first.
"""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np

from ..domain.messages import Message, VibrationWindow
from .base import Codec, M, require_type

FLOAT32_LE = np.dtype("<f4")


def _pack_array(obj: Any) -> Any:
    """msgpack ``default`` hook: numpy arrays become bin blobs of little-endian float32."""
    if isinstance(obj, np.ndarray):
        return obj.astype(FLOAT32_LE, copy=False).tobytes()
    raise TypeError(f"msgpack cannot serialise {type(obj).__name__}")


def _float32_from_bytes(blob: bytes) -> np.ndarray:
    if len(blob) % FLOAT32_LE.itemsize:
        raise ValueError(f"sample blob of {len(blob)} bytes is not a whole number of float32")
    return np.frombuffer(blob, dtype=FLOAT32_LE)


class MsgpackCodec(Codec):
    """MessagePack maps; vibration axes as float32 ``bin`` blobs."""

    name = "msgpack"
    content_type = "application/msgpack"
    safe_for_untrusted = True

    def encode(self, msg: Message) -> bytes:
        require_type(msg, self.name)
        if isinstance(msg, VibrationWindow):
            return msgpack.packb(msg.to_dict(raw_arrays=True), use_bin_type=True, default=_pack_array)
        return msgpack.packb(msg.to_dict(), use_bin_type=True)

    def _decode(self, data: bytes, msg_type: type[M]) -> M:
        # unpackb raises ExtraData on trailing bytes and caps lengths at len(data): safe on garbage.
        fields = msgpack.unpackb(data, raw=False)
        if msg_type is VibrationWindow and isinstance(fields, dict) and isinstance(fields.get("axes"), dict):
            fields["axes"] = {
                axis: _float32_from_bytes(value) if isinstance(value, bytes) else value
                for axis, value in fields["axes"].items()
            }
        return msg_type.from_dict(fields)  # type: ignore[return-value]
