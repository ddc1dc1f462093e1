"""cloudpickle: a contender for the benchmark only -- never for data from a broker.

.. warning::
   Unpickling runs arbitrary code. A pickle is a small program for the Python
   VM; ``pickle.loads`` executes it, and a crafted payload can call
   ``os.system`` or anything else the consumer may do. Anyone who can publish
   to a topic could take over every consumer that decodes it with this codec.
   That is why ``safe_for_untrusted`` is False and why the services refuse it
   for untrusted input. It is measured because it is what "just send the
   Python object" costs, and because it needs no schema at all. Even
   corrupted (not malicious) pickles misbehave: fuzzing this codec with bit
   flips left "SystemError: deallocated bytearray object has exported
   buffers" messages from the interpreter, which no other codec produced.

Decoding checks that the result has the requested type and re-validates its
fields through ``from_dict`` (as every other codec does), so a foreign or
ill-typed but harmless pickle still fails with ``DecodeError``; nothing can make
the unpickling itself safe.
"""

from __future__ import annotations

import pickle

import cloudpickle

from ..domain.messages import Message, VibrationWindow
from .base import Codec, DecodeError, M, require_type


class CloudpickleCodec(Codec):
    """Pickles the message object itself (protocol 5). UNSAFE for untrusted input."""

    name = "cloudpickle"
    content_type = "application/x-python-pickle"
    safe_for_untrusted = False

    def encode(self, msg: Message) -> bytes:
        require_type(msg, self.name)
        return cloudpickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)

    def _decode(self, data: bytes, msg_type: type[M]) -> M:
        obj = pickle.loads(data)
        if type(obj) is not msg_type:
            raise DecodeError(f"unpickled a {type(obj).__name__}, expected {msg_type.__name__}")
        if isinstance(obj, VibrationWindow):
            return msg_type.from_dict(obj.to_dict(raw_arrays=True))  # type: ignore[return-value]
        return msg_type.from_dict(obj.to_dict())  # type: ignore[return-value]
