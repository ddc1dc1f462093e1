"""The one interface every serializer implements, and its single error type.

Decoding is a *template method*: :meth:`Codec.decode` calls the codec's
``_decode`` and turns whatever goes wrong into :class:`DecodeError`. Callers
(the processor above all) can then handle exactly one exception type and send
the payload with ``error.reason`` to the dead-letter topic, whatever library
raised underneath (``json.JSONDecodeError``, ``msgpack.ExtraData``,
``EOFError`` from fastavro, protobuf's ``DecodeError``, ``KeyError`` for a
missing field, ...).
"""

from __future__ import annotations

import abc
from typing import Any, TypeVar

from ..domain.messages import MESSAGE_TYPES, Message

M = TypeVar("M", bound=Message)


class DecodeError(ValueError):
    """A payload could not be decoded into the requested message type.

    ``reason`` is short and specific enough for a dead-letter record; ``codec``
    and ``message_type`` say who failed on what.
    """

    def __init__(self, reason: str, *, codec: str = "?", message_type: str = "?") -> None:
        self.reason = reason
        self.codec = codec
        self.message_type = message_type
        super().__init__(f"{codec} codec could not decode a {message_type} message: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:  # keep keyword-only fields when pickled across processes
        return (_rebuild_decode_error, (self.reason, self.codec, self.message_type))


def _rebuild_decode_error(reason: str, codec: str, message_type: str) -> DecodeError:
    return DecodeError(reason, codec=codec, message_type=message_type)


class Codec(abc.ABC):
    """Turns messages into bytes and back.

    Subclasses set the three class attributes and implement ``encode`` and
    ``_decode``. ``_decode`` may raise anything; :meth:`decode` converts it.
    """

    name: str
    content_type: str
    safe_for_untrusted: bool = True
    """False if decoding attacker-controlled bytes can do more than fail (pickle)."""

    @abc.abstractmethod
    def encode(self, msg: Message) -> bytes:
        """Serialize one message."""

    @abc.abstractmethod
    def _decode(self, data: bytes, msg_type: type[M]) -> M:
        """Deserialize, raising any exception on bad input (wrapped by :meth:`decode`)."""

    def parse_many(self, payloads: list[bytes]) -> list[Any] | None:
        """Every payload parsed to the plain data ``from_dict`` takes, without building messages (a columnar
        decode validates them as a whole); None if one does not parse or the codec has no such form, and
        the caller decodes record by record to learn which one and why."""
        return None

    def decode(self, data: bytes, msg_type: type[M]) -> M:
        """Deserialize ``data`` as ``msg_type``; every failure is a :class:`DecodeError`."""
        type_name = getattr(msg_type, "type_name", getattr(msg_type, "__name__", repr(msg_type)))
        if MESSAGE_TYPES.get(type_name) is not msg_type:
            raise DecodeError(f"unsupported message type {msg_type!r}", codec=self.name, message_type=type_name)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise DecodeError(
                f"payload must be bytes, got {type(data).__name__}", codec=self.name, message_type=type_name
            )
        try:
            return self._decode(bytes(data), msg_type)
        except DecodeError as exc:
            raise DecodeError(exc.reason, codec=self.name, message_type=type_name) from exc
        except Exception as exc:
            raise DecodeError(_describe(exc), codec=self.name, message_type=type_name) from exc

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def _describe(exc: Exception) -> str:
    """``ExcType: message``, shortened so a dead-letter record stays small."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 300 else text[:297] + "..."


def require_type(msg: Any, codec_name: str) -> str:
    """The registered type name of ``msg``; ``TypeError`` for anything else (a programming error)."""
    type_name = getattr(type(msg), "type_name", None)
    if MESSAGE_TYPES.get(type_name) is not type(msg):  # type: ignore[arg-type]
        raise TypeError(
            f"{codec_name} codec cannot encode {type(msg).__name__}; expected one of {sorted(MESSAGE_TYPES)}"
        )
    return type_name  # type: ignore[return-value]
