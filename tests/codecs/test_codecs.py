"""Every codec x every message type: round trips, and DecodeError (only) for bad input."""

from __future__ import annotations

import json
import pickle
import zlib
from importlib import resources

import msgpack
import numpy as np
import pytest
from plugins.capabilities import importable

from streamlab.codecs import CODEC_NAMES, SAFE_CODEC_NAMES, DecodeError, get_codec, service_codec
from streamlab.errors import UserError
from streamlab.codecs.avro_codec import HEADERS, SINGLE_OBJECT_MARKER
from streamlab.codecs.proto_schema import ProtoSyntaxError, parse_proto
from streamlab.domain.messages import ACCEL_M_S2
from streamlab.domain import (
    MESSAGE_TYPES,
    AccelAxes,
    Alert,
    Fleet,
    HealthRecord,
    TelemetryReading,
    VibrationMetadata,
    VibrationWindow,
)

TS = 1_750_000_000_000_000_000


def fleet_messages() -> dict[str, object]:
    fleet = Fleet.with_faults(4, seed=3, duration_s=60)
    return {
        "telemetry": fleet.telemetry(1, 3.2),
        "vibration": fleet.vibration(2, 3.0),
        "health": HealthRecord("M001", 7, TS + 10, TS, 0.42, "warning",
                               {"temp_mean": 71.25, "temp_slope": 0.3, "vib_rms_150_250": 0.07}),
        "alert": Alert("M001", 2, TS + 11, TS, "ok", "warning", "temperature high: temp_mean=72.1", 0.42),
    }


def edge_messages() -> dict[str, object]:
    """Unicode, empty strings and maps, extreme float32 samples, 64-bit integers."""
    extremes = np.array([ACCEL_M_S2, np.finfo(np.float32).tiny, -0.0, 1e-45, -3.5], dtype=np.float32)
    return {
        "telemetry": TelemetryReading("Mäschine-α", 2**62, 2**63 - 1, -40.0, 0.0, 0.0, 1e-300),
        "vibration": VibrationWindow(
            "M999", 0, 0, 25600.0, AccelAxes(extremes, extremes[::-1].copy(), np.ones(5)),
            VibrationMetadata("ACC-ü", "top", "0.0.1", rpm_at_capture=0.0, units="g"),
        ),
        "health": HealthRecord("M000", 0, 1, 0, 1.0, "ok", {}),
        "alert": Alert("M000", 0, 1, 0, "unknown", "critical", "", 0.0),
    }


ALL_CASES = [(codec, kind) for codec in CODEC_NAMES for kind in MESSAGE_TYPES]


def case_id(case) -> str:
    return "-".join(case)


# ------------------------------------------------------------------------------------------ registry


def test_registry():
    assert CODEC_NAMES == ("json", "orjson", "msgpack", "avro", "protobuf", "cloudpickle")
    assert "cloudpickle" not in SAFE_CODEC_NAMES and len(SAFE_CODEC_NAMES) == 5
    for name in CODEC_NAMES:
        codec = get_codec(name)
        assert codec.name == name and codec.content_type
    assert get_codec("cloudpickle").safe_for_untrusted is False


class _Payload:
    """What anyone who can publish could send: unpickling it calls `_ran` (it could call os.system)."""

    def __reduce__(self):
        return (_ran, ("payload ran",))


_RAN: list[str] = []


def _ran(what: str) -> str:
    _RAN.append(what)
    return what


def test_cloudpickle_runs_the_senders_code_so_services_refuse_it():
    """The warning the codec carries, shown: decoding a crafted pickle runs its code before any type check;
    so it is flagged unsafe and no service may use it, while the safe codecs refuse the same bytes inertly."""
    payload = pickle.dumps(_Payload())
    for name in SAFE_CODEC_NAMES:
        with pytest.raises(DecodeError):
            get_codec(name).decode(payload, TelemetryReading)
    assert _RAN == []
    with pytest.raises(DecodeError, match="expected TelemetryReading"):
        get_codec("cloudpickle").decode(payload, TelemetryReading)
    assert _RAN == ["payload ran"]                       # ... but the code had run already
    assert get_codec("cloudpickle").safe_for_untrusted is False
    with pytest.raises(UserError, match="codec 'cloudpickle' is refused by the services"):
        service_codec("cloudpickle")


def test_unknown_codec_lists_valid_names():
    with pytest.raises(ValueError, match="unknown codec 'yaml'; valid codecs: json, orjson, msgpack, avro"):
        get_codec("yaml")


# ------------------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("case", ALL_CASES, ids=case_id)
def test_round_trip(case):
    codec_name, kind = case
    codec = get_codec(codec_name)
    for message in (fleet_messages()[kind], edge_messages()[kind]):
        payload = codec.encode(message)
        assert isinstance(payload, bytes)
        decoded = codec.decode(payload, MESSAGE_TYPES[kind])
        # Exact equality, floats included: telemetry/health floats travel as doubles and the
        # samples are float32 on both sides (JSON writes enough digits to restore them exactly).
        assert decoded == message
        assert type(decoded) is type(message)


@pytest.mark.parametrize("codec_name", CODEC_NAMES)
def test_decoded_samples_are_float32_arrays(codec_name):
    codec = get_codec(codec_name)
    window = fleet_messages()["vibration"]
    decoded = codec.decode(codec.encode(window), VibrationWindow)
    for axis in (decoded.axes.x, decoded.axes.y, decoded.axes.z):
        assert isinstance(axis, np.ndarray) and axis.dtype == np.float32 and axis.shape == (256,)


@pytest.mark.parametrize("codec_name", CODEC_NAMES)
def test_encode_rejects_foreign_objects(codec_name):
    with pytest.raises(TypeError, match="cannot encode dict"):
        get_codec(codec_name).encode({"machine_id": "M001"})


def test_binary_codecs_are_compact_for_samples():
    window = fleet_messages()["vibration"]
    sizes = {name: len(get_codec(name).encode(window)) for name in CODEC_NAMES}
    raw = 3 * 256 * 4
    for name in ("msgpack", "avro", "protobuf"):
        assert raw < sizes[name] < raw + 300, sizes
    assert sizes["orjson"] < sizes["json"]
    assert sizes["json"] > 4 * raw


# ------------------------------------------------------------------------------------------ decode errors


def assert_decode_error(codec_name: str, payload, msg_type) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        get_codec(codec_name).decode(payload, msg_type)
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.codec == codec_name and error.message_type == msg_type.type_name
    assert error.reason and codec_name in str(error) and msg_type.type_name in str(error)
    return error


@pytest.mark.parametrize("case", ALL_CASES, ids=case_id)
def test_random_bytes(case):
    codec_name, kind = case
    rng = np.random.default_rng(zlib.crc32(case_id(case).encode()))  # str hash() is salted per process
    for size in (1, 7, 64, 1000):
        assert_decode_error(codec_name, rng.bytes(size), MESSAGE_TYPES[kind])


@pytest.mark.parametrize("case", ALL_CASES, ids=case_id)
def test_empty_payload(case):
    codec_name, kind = case
    assert_decode_error(codec_name, b"", MESSAGE_TYPES[kind])


@pytest.mark.parametrize("case", ALL_CASES, ids=case_id)
def test_truncated_payload(case):
    """Every proper prefix of a small message, a sample of prefixes of a vibration window."""
    codec_name, kind = case
    payload = get_codec(codec_name).encode(fleet_messages()[kind])
    cuts = range(len(payload)) if len(payload) < 1000 else np.linspace(0, len(payload) - 1, 40, dtype=int)
    for cut in cuts:
        assert_decode_error(codec_name, payload[:cut], MESSAGE_TYPES[kind])


@pytest.mark.parametrize("case", ALL_CASES, ids=case_id)
def test_other_message_type_payload(case):
    """A payload of another type (a producer on the wrong topic) is rejected, not misread."""
    codec_name, kind = case
    codec = get_codec(codec_name)
    for other_kind, message in fleet_messages().items():
        if other_kind != kind:
            assert_decode_error(codec_name, codec.encode(message), MESSAGE_TYPES[kind])


@pytest.mark.parametrize("codec_name", CODEC_NAMES)
@pytest.mark.parametrize("document", [b'{"a": 1}', b"[1, 2, 3]", b"null", b'"M001"', b"{}", b"42"])
def test_valid_json_of_the_wrong_shape(codec_name, document):
    for msg_type in MESSAGE_TYPES.values():
        assert_decode_error(codec_name, document, msg_type)


def wrong_field_types() -> list[dict]:
    good = fleet_messages()["telemetry"].to_dict()
    return [good | {"seq": "7"}, good | {"seq": True}, good | {"rpm": None}, good | {"machine_id": 3},
            good | {"temperature_c": [1.0]}, {k: v for k, v in good.items() if k != "rpm"}]


@pytest.mark.parametrize("fields", wrong_field_types(), ids=range(6))
def test_wrong_field_types_in_self_describing_formats(fields):
    as_json = json.dumps(fields).encode()
    for codec_name, payload in (("json", as_json), ("orjson", as_json), ("msgpack", msgpack.packb(fields))):
        assert_decode_error(codec_name, payload, TelemetryReading)


def test_wrong_field_types_in_a_pickle():
    reading = fleet_messages()["telemetry"]
    reading.seq = "7"  # a dataclass does not check types; the decoder must
    error = assert_decode_error("cloudpickle", pickle.dumps(reading), TelemetryReading)
    assert "seq must be an integer" in error.reason
    assert "expected TelemetryReading" in assert_decode_error("cloudpickle", pickle.dumps([1]), TelemetryReading).reason


def test_bad_vibration_samples():
    window = fleet_messages()["vibration"].to_dict(raw_arrays=True)
    window["axes"]["x"] = window["axes"]["x"][:10].astype("<f4").tobytes() + b"\x00"  # not a whole float32
    window["axes"]["y"] = window["axes"]["y"].astype("<f4").tobytes()
    window["axes"]["z"] = window["axes"]["z"].astype("<f4").tobytes()
    error = assert_decode_error("msgpack", msgpack.packb(window), VibrationWindow)
    assert "whole number of float32" in error.reason
    as_json = fleet_messages()["vibration"].to_dict()
    as_json["axes"]["y"] = as_json["axes"]["y"][:-1]
    assert "equal lengths" in assert_decode_error("json", json.dumps(as_json).encode(), VibrationWindow).reason


def test_protobuf_reports_missing_fields():
    codec = get_codec("protobuf")
    payload = codec.encode(fleet_messages()["alert"])
    cut = len(payload) - 9  # health_score, field 8, is last: a 1-byte tag and an 8-byte double
    assert payload[cut] == (8 << 3) | 1
    reason = assert_decode_error("protobuf", payload[:cut], Alert).reason
    assert reason == "field Alert.health_score is missing"


def test_avro_uses_single_object_encoding():
    codec = get_codec("avro")
    payload = codec.encode(fleet_messages()["telemetry"])
    assert payload.startswith(SINGLE_OBJECT_MARKER) and payload[:10] == HEADERS["telemetry"]
    assert len(set(HEADERS.values())) == len(HEADERS)
    assert "fingerprint" in assert_decode_error("avro", HEADERS["health"] + payload[10:], TelemetryReading).reason
    assert "trailing bytes" in assert_decode_error("avro", payload + b"\x00", TelemetryReading).reason


@pytest.mark.parametrize("codec_name", CODEC_NAMES)
def test_decode_rejects_non_bytes_and_unknown_types(codec_name):
    codec = get_codec(codec_name)
    assert_decode_error(codec_name, "a string", TelemetryReading)
    with pytest.raises(DecodeError, match="unsupported message type"):
        codec.decode(b"{}", dict)


def test_decode_accepts_bytearray_and_memoryview():
    codec = get_codec("msgpack")
    message = fleet_messages()["telemetry"]
    payload = codec.encode(message)
    assert codec.decode(bytearray(payload), TelemetryReading) == message
    assert codec.decode(memoryview(payload), TelemetryReading) == message


def test_decode_error_survives_pickling():
    error = DecodeError("bad", codec="avro", message_type="health")
    again = pickle.loads(pickle.dumps(error))
    assert (again.reason, again.codec, again.message_type, str(again)) == ("bad", "avro", "health", str(error))


# ------------------------------------------------------------------------------------------ schemas


def test_avro_schemas_are_shipped_for_every_type():
    schemas = resources.files("streamlab.codecs").joinpath("schemas")
    for kind in MESSAGE_TYPES:
        assert json.loads(schemas.joinpath(f"{kind}.avsc").read_text())["type"] == "record"


def test_proto_parser_matches_protoc():
    """The hand-written parser must produce exactly protoc's descriptor (when grpcio-tools is installed)."""
    protoc = importable("grpc_tools.protoc")
    import tempfile
    from pathlib import Path

    from google.protobuf import descriptor_pb2

    schemas = resources.files("streamlab.codecs").joinpath("schemas")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.desc"
        assert protoc.main(["protoc", f"-I{schemas}", f"--descriptor_set_out={out}", "streamlab.proto"]) == 0
        expected = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    assert parse_proto(schemas.joinpath("streamlab.proto").read_text(), "streamlab.proto") == expected


@pytest.mark.parametrize(
    "text, complaint",
    [
        ('syntax = "proto2"; message A { optional int32 a = 1; }', "only 'syntax"),
        ('syntax = "proto3";\nenum E { A = 0; }', "schema.proto:2: expected 'syntax', 'package' or 'message'"),
        ('syntax = "proto3"; message A { B b = 1; }', "unknown type 'B'"),
        ('syntax = "proto3"; message A { int32 a = x; }', "expected a field number"),
        ('syntax = "proto3"; message A { int32 a = 1 }', "expected ';'"),
        ('syntax = "proto3"; message A { map<string, A> m = 1; }', "only scalar maps"),
    ],
)
def test_proto_parser_rejects_what_it_does_not_support(text, complaint):
    with pytest.raises(ProtoSyntaxError, match=complaint.replace("(", "\\(")):
        parse_proto(text)
