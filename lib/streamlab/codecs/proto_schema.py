"""Build protobuf message classes from ``streamlab.proto`` without protoc.

Why not a checked-in ``streamlab_pb2.py``? Generated code is tied to the
protoc that made it: since protobuf 5 it calls ``ValidateProtobufRuntimeVersion``
and refuses runtimes of another major version, and older generated code fails
on newer runtimes the other way round. ``pyproject.toml`` allows any
``protobuf>=4.25`` (this venv has 7.x), and ``grpcio-tools`` pins its own
protobuf, so on a fresh machine the pairing is a lottery. A
``FileDescriptorProto`` built here and turned into classes with
``message_factory.GetMessageClass`` works on every runtime since 4.21, and the
``.proto`` file stays the single, readable source of truth.

The price is this parser, which understands only the subset the schema uses:
``syntax``, ``package``, top-level ``message`` blocks whose fields are
``[optional|repeated] <scalar|Message> name = N;`` or
``map<scalar, scalar> name = N;``. Anything else is an error, not a silent
misreading. ``tests/codecs/test_codecs.py`` compares the result with protoc's
own descriptor whenever ``grpcio-tools`` is installed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message as ProtoMessage

_FD = descriptor_pb2.FieldDescriptorProto

SCALAR_TYPES: dict[str, int] = {
    "double": _FD.TYPE_DOUBLE,
    "float": _FD.TYPE_FLOAT,
    "int64": _FD.TYPE_INT64,
    "uint64": _FD.TYPE_UINT64,
    "int32": _FD.TYPE_INT32,
    "uint32": _FD.TYPE_UINT32,
    "fixed64": _FD.TYPE_FIXED64,
    "fixed32": _FD.TYPE_FIXED32,
    "sfixed64": _FD.TYPE_SFIXED64,
    "sfixed32": _FD.TYPE_SFIXED32,
    "sint64": _FD.TYPE_SINT64,
    "sint32": _FD.TYPE_SINT32,
    "bool": _FD.TYPE_BOOL,
    "string": _FD.TYPE_STRING,
    "bytes": _FD.TYPE_BYTES,
}

_TOKEN = re.compile(r'\s+|//[^\n]*|/\*.*?\*/|"[^"\n]*"|[A-Za-z_][A-Za-z0-9_.]*|\d+|[{}<>=;,]|.', re.DOTALL)


class ProtoSyntaxError(ValueError):
    """The .proto text uses something outside the supported subset."""


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    line: int


def _tokenize(text: str) -> list[_Token]:
    tokens = []
    line = 1
    for match in _TOKEN.finditer(text):
        piece = match.group()
        if not (piece.isspace() or piece.startswith("//") or piece.startswith("/*")):
            tokens.append(_Token(piece, line))
        line += piece.count("\n")
    return tokens


class _Parser:
    """Recursive-descent parser over the token list; one method per grammar rule."""

    def __init__(self, text: str, file_name: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0
        self.file = descriptor_pb2.FileDescriptorProto(name=file_name)
        self.message_names: set[str] = set()

    # -- token helpers
    def _peek(self) -> str:
        return self.tokens[self.pos].text if self.pos < len(self.tokens) else ""

    def _fail(self, what: str) -> ProtoSyntaxError:
        line = self.tokens[min(self.pos, len(self.tokens) - 1)].line if self.tokens else 1
        return ProtoSyntaxError(f"{self.file.name}:{line}: {what} (got {self._peek()!r})")

    def _take(self, expected: str | None = None) -> str:
        if self.pos >= len(self.tokens):
            raise self._fail(f"unexpected end, expected {expected or 'a token'}")
        text = self.tokens[self.pos].text
        if expected is not None and text != expected:
            raise self._fail(f"expected {expected!r}")
        self.pos += 1
        return text

    def _identifier(self) -> str:
        text = self._take()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
            self.pos -= 1
            raise self._fail("expected a name")
        return text

    def _number(self) -> int:
        text = self._take()
        if not text.isdigit():
            self.pos -= 1
            raise self._fail("expected a field number")
        return int(text)

    # -- grammar
    def parse(self) -> descriptor_pb2.FileDescriptorProto:
        while self.pos < len(self.tokens):
            keyword = self._peek()
            if keyword == "syntax":
                self._syntax()
            elif keyword == "package":
                self._take()
                self.file.package = self._take()
                self._take(";")
            elif keyword == "message":
                self._message()
            else:
                raise self._fail("expected 'syntax', 'package' or 'message'")
        if self.file.syntax != "proto3":
            raise ProtoSyntaxError(f"{self.file.name}: only 'syntax = \"proto3\";' is supported")
        self._resolve_message_types()
        return self.file

    def _syntax(self) -> None:
        self._take("syntax")
        self._take("=")
        self.file.syntax = self._take().strip('"')
        self._take(";")

    def _message(self) -> None:
        self._take("message")
        message = self.file.message_type.add(name=self._identifier())
        self.message_names.add(message.name)
        self._take("{")
        while self._peek() != "}":
            if self._peek() == "map":
                self._map_field(message)
            else:
                self._field(message)
        self._take("}")

    def _field(self, message: descriptor_pb2.DescriptorProto) -> None:
        label = self._peek() if self._peek() in ("optional", "repeated") else ""
        if label:
            self._take()
        type_name = self._take()
        field = message.field.add(name=self._identifier())
        field.json_name = json_name(field.name)
        self._take("=")
        field.number = self._number()
        self._take(";")
        field.label = _FD.LABEL_REPEATED if label == "repeated" else _FD.LABEL_OPTIONAL
        if type_name in SCALAR_TYPES:
            field.type = SCALAR_TYPES[type_name]
        else:
            field.type_name = type_name  # resolved once all messages are known
        if label == "optional":
            # proto3 explicit presence = a synthetic one-field oneof named "_<field>" (as protoc does).
            field.proto3_optional = True
            field.oneof_index = len(message.oneof_decl)
            message.oneof_decl.add(name=f"_{field.name}")

    def _map_field(self, message: descriptor_pb2.DescriptorProto) -> None:
        self._take("map")
        self._take("<")
        key_type = self._take()
        self._take(",")
        value_type = self._take()
        self._take(">")
        name = self._identifier()
        self._take("=")
        number = self._number()
        self._take(";")
        if key_type not in SCALAR_TYPES or value_type not in SCALAR_TYPES:
            raise ProtoSyntaxError(
                f"{self.file.name}: map<{key_type}, {value_type}> {name}: only scalar maps are supported"
            )
        entry_name = "".join(part.capitalize() for part in name.split("_")) + "Entry"
        entry = message.nested_type.add(name=entry_name)
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, label=_FD.LABEL_OPTIONAL, type=SCALAR_TYPES[key_type], json_name="key")
        entry.field.add(
            name="value", number=2, label=_FD.LABEL_OPTIONAL, type=SCALAR_TYPES[value_type], json_name="value"
        )
        message.field.add(
            name=name,
            json_name=json_name(name),
            number=number,
            label=_FD.LABEL_REPEATED,
            type=_FD.TYPE_MESSAGE,
            type_name=f".{self.file.package}.{message.name}.{entry_name}",
        )

    def _resolve_message_types(self) -> None:
        for message in self.file.message_type:
            for field in message.field:
                if field.HasField("type"):
                    continue
                if field.type_name not in self.message_names:
                    raise ProtoSyntaxError(
                        f"{self.file.name}: {message.name}.{field.name}: unknown type {field.type_name!r}"
                    )
                field.type = _FD.TYPE_MESSAGE
                field.type_name = f".{self.file.package}.{field.type_name}"


def json_name(field_name: str) -> str:
    """protoc's JSON name of a field: ``rpm_at_capture`` -> ``rpmAtCapture``."""
    head, *rest = field_name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def parse_proto(text: str, file_name: str = "schema.proto") -> descriptor_pb2.FileDescriptorProto:
    """Parse ``.proto`` text (the supported subset) into a ``FileDescriptorProto``."""
    return _Parser(text, file_name).parse()


def build_message_classes(file_proto: descriptor_pb2.FileDescriptorProto) -> dict[str, type[ProtoMessage]]:
    """Message classes by short name, from a private pool (no clash with other users of the default pool)."""
    pool = descriptor_pool.DescriptorPool()
    file_descriptor = pool.Add(file_proto)
    if not hasattr(file_descriptor, "message_types_by_name"):  # pool.Add returns None on some runtimes
        file_descriptor = pool.FindFileByName(file_proto.name)
    return {
        name: message_factory.GetMessageClass(descriptor)
        for name, descriptor in file_descriptor.message_types_by_name.items()
    }
