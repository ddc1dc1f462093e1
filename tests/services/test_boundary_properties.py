"""Property-based tests (hypothesis) of the dead-letter boundary, issue 15.

Over every codec, the message validation, the processor's scoring and the sinks' writers, with
valid-but-extreme and malformed inputs: no exception escapes the boundary, and no NaN or inf reaches a sink.
"""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from streamlab.codecs import CODEC_NAMES, SAFE_CODEC_NAMES, DecodeError, get_codec
from streamlab.domain import AccelAxes, Alert, HealthRecord, TelemetryReading, VibrationMetadata, VibrationWindow
from streamlab.domain import messages as m
from streamlab.domain.messages import MESSAGE_TYPES
from streamlab.services.common import ServiceOptions
from streamlab.services.health_parquet_sink import health_row
from streamlab.services.health_processor import HealthScorer, Processor
from streamlab.services.sinkio import HourlyParquetWriter
from streamlab.transport import Record

# how many examples, the seed and the health checks come from the profile (tests/conftest.py)
SETTINGS = settings()


def bounded(bounds: tuple[float, float]) -> st.SearchStrategy[float]:
    return st.floats(*bounds, allow_nan=False) | st.sampled_from(bounds)


machine_ids = st.text(min_size=1, max_size=m.MAX_ID_LENGTH) | st.sampled_from(["M000", "M001"])
timestamps = st.integers(0, m.MAX_TS_NS) | st.sampled_from([0, m.MAX_TS_NS, 1_790_000_000_000_000_000])

readings = st.builds(
    TelemetryReading, machine_id=machine_ids, seq=st.integers(0, m.MAX_SEQ), ts_ns=timestamps,
    temperature_c=bounded(m.TEMPERATURE_C), rpm=bounded(m.RPM), load_pct=bounded(m.LOAD_PCT),
    power_kw=bounded(m.POWER_KW))

#: what a hostile or broken producer can put in a field: anything JSON or msgpack can carry, and then some
junk = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=20),
                 st.binary(max_size=20), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(), st.integers(), max_size=2))


def _just_outside(bounds: tuple[float, float]) -> list:
    low, high = bounds
    return [math.nextafter(high, math.inf), math.nextafter(low, -math.inf), high * 10 + 1, int(high) + 1, True]


#: per field, values a validator must refuse although they are close to valid (the edges the junk rarely hits)
near_misses = {
    "machine_id": ["", "x" * (m.MAX_ID_LENGTH + 1), 7, None],
    "seq": [-1, m.MAX_SEQ + 1, True, 1.0, "1"],
    "ts_ns": [-1, m.MAX_TS_NS + 1, False, 1.5],
    **{name: _just_outside(bounds) + [math.nan, math.inf, "1.0"] for name, bounds in m.TELEMETRY_VALUES},
}


def telemetry_dicts() -> st.SearchStrategy[dict]:
    """Valid readings with some fields replaced by junk, near misses or extreme values, some keys dropped or added;
    one in three left valid (extreme), so a validator that refuses everything cannot pass."""
    def mutate(reading: TelemetryReading, replacements: dict, drop: list[str], extra: dict) -> dict:
        data = {**reading.to_dict(), **replacements}
        for key in drop:
            data.pop(key, None)
        return {**data, **extra}

    fields = sorted(TelemetryReading._fields)
    field_values = st.sampled_from(fields).flatmap(
        lambda name: st.tuples(st.just(name), junk | st.floats() | st.sampled_from(near_misses[name])))
    one_field = st.builds(lambda r, kv: {**r.to_dict(), kv[0]: kv[1]}, readings, field_values)
    anything = st.builds(mutate, readings, st.dictionaries(st.sampled_from(fields), junk | st.floats(), max_size=3),
                         st.lists(st.sampled_from(fields), max_size=1),
                         st.dictionaries(st.text(max_size=5), junk, max_size=1))
    return st.one_of(readings.map(TelemetryReading.to_dict), one_field, anything)


def _in_range_real(value, bounds: tuple[float, float]) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        number = float(value)
    except OverflowError:
        return False
    return math.isfinite(number) and bounds[0] <= number <= bounds[1]


def _in_range_count(value, maximum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= maximum


def is_valid_reading(data) -> bool:
    """The reading's contract as the message module's docstrings state it, written out independently:
    exactly its seven fields, a non-empty id of at most MAX_ID_LENGTH characters, integer seq and ts_ns
    (not bool) in range, and finite numbers (int or float, not bool) within each measurement's bounds."""
    if not isinstance(data, dict) or data.keys() != TelemetryReading._fields:
        return False
    machine_id = data["machine_id"]
    return (isinstance(machine_id, str) and 0 < len(machine_id) <= m.MAX_ID_LENGTH
            and _in_range_count(data["seq"], m.MAX_SEQ) and _in_range_count(data["ts_ns"], m.MAX_TS_NS)
            and all(_in_range_real(data[name], bounds) for name, bounds in m.TELEMETRY_VALUES))


def _accepted(data) -> TelemetryReading | None:
    try:
        return TelemetryReading.from_dict(data)
    except ValueError:
        return None


@SETTINGS
@given(reading=readings)
def test_every_valid_extreme_reading_is_accepted_and_round_trips(reading):
    assert TelemetryReading.from_dict(reading.to_dict()) == reading


@pytest.mark.parametrize(("name", "value"), [(n, v) for n, vs in near_misses.items() for v in vs], ids=repr)
def test_each_near_miss_alone_is_refused(name, value):
    data = {**TelemetryReading("M000", 1, 1, 20.0, 1.0, 1.0, 1.0).to_dict(), name: value}
    assert not is_valid_reading(data)
    with pytest.raises(ValueError, match=name):
        TelemetryReading.from_dict(data)


@SETTINGS
@given(data=telemetry_dicts())
def test_validation_accepts_exactly_the_readings_in_range(data):
    reading = _accepted(data)
    assert (reading is not None) == is_valid_reading(data), (data, reading)
    if reading is not None:
        assert {name: float(data[name]) for name, _ in m.TELEMETRY_VALUES} == {
            name: getattr(reading, name) for name, _ in m.TELEMETRY_VALUES}
        assert (reading.machine_id, reading.seq, reading.ts_ns) == (data["machine_id"], data["seq"], data["ts_ns"])


names = st.text(min_size=1, max_size=m.MAX_ID_LENGTH)
health_records = st.builds(
    HealthRecord, machine_id=machine_ids, seq=st.integers(0, m.MAX_SEQ), ts_ns=timestamps, source_ts_ns=timestamps,
    health_score=st.floats(0, 1), state=st.sampled_from(m.HEALTH_STATES),
    features=st.dictionaries(st.sampled_from(["temp_mean", "temp_slope", "vib_rms_total", "other"]),
                             st.floats(-m.MAX_FEATURE, m.MAX_FEATURE, allow_nan=False), max_size=4))
alerts = st.builds(
    Alert, machine_id=machine_ids, seq=st.integers(0, m.MAX_SEQ), ts_ns=timestamps, source_ts_ns=timestamps,
    previous_state=st.sampled_from(m.PREVIOUS_STATES), state=st.sampled_from(m.HEALTH_STATES),
    reason=st.text(max_size=100), health_score=st.floats(0, 1))
samples = st.floats(-m.ACCEL_M_S2, m.ACCEL_M_S2, width=32)
windows = st.integers(1, 16).flatmap(lambda n: st.builds(
    VibrationWindow, machine_id=machine_ids, seq=st.integers(0, m.MAX_SEQ), ts_ns=timestamps,
    sample_rate_hz=st.floats(1.0, m.SAMPLE_RATE_HZ[1]),
    axes=st.builds(AccelAxes, *[st.lists(samples, min_size=n, max_size=n)] * 3),
    metadata=st.builds(VibrationMetadata, sensor_id=names, mount_position=names, firmware=names,
                       rpm_at_capture=bounded(m.RPM), units=names)))
MESSAGES = {"telemetry": readings, "vibration": windows, "health": health_records, "alert": alerts}


@pytest.mark.parametrize("codec_name", SAFE_CODEC_NAMES)
@SETTINGS
@given(payload=st.binary(max_size=300), type_name=st.sampled_from(sorted(MESSAGE_TYPES)), data=st.data())
def test_every_safe_codec_decodes_its_own_bytes_and_raises_only_decode_error_on_any_other(codec_name, payload,
                                                                                        type_name, data):
    codec, msg_type = get_codec(codec_name), MESSAGE_TYPES[type_name]
    message = data.draw(MESSAGES[type_name], label="valid message")
    assert codec.decode(codec.encode(message), msg_type) == message     # a codec that refuses all input fails here
    try:
        decoded = codec.decode(payload, msg_type)
    except DecodeError:
        decoded = None
    if decoded is not None:                                            # garbage that happens to parse is valid
        assert type(decoded) is msg_type and codec.decode(codec.encode(decoded), msg_type) == decoded


@pytest.mark.parametrize("codec_name", [c for c in SAFE_CODEC_NAMES if c in ("json", "orjson", "msgpack")])
@SETTINGS
@given(data=telemetry_dicts())
def test_schemaless_codecs_decode_exactly_the_valid_readings(codec_name, data):
    import msgpack

    try:
        payload = msgpack.packb(data) if codec_name == "msgpack" else orjson.dumps(data)
    except (TypeError, ValueError, OverflowError, orjson.JSONEncodeError):
        payload = None
    assume(payload is not None)    # not representable on this wire (bytes in JSON, ints beyond 64 bits)
    on_the_wire = msgpack.unpackb(payload) if codec_name == "msgpack" else orjson.loads(payload)   # NaN -> null
    try:
        reading = get_codec(codec_name).decode(payload, TelemetryReading)
    except DecodeError:
        reading = None
    assert (reading is not None) == is_valid_reading(on_the_wire), (on_the_wire, reading)
    if reading is not None:
        assert TelemetryReading.from_dict(on_the_wire) == reading


@pytest.mark.parametrize("codec_name", CODEC_NAMES)
@SETTINGS
@given(reading=readings)
def test_every_codec_round_trips_valid_extreme_readings(codec_name, reading):
    codec = get_codec(codec_name)
    assert codec.decode(codec.encode(reading), TelemetryReading) == reading


def _finite(record: HealthRecord) -> bool:
    return math.isfinite(record.health_score) and all(math.isfinite(v) for v in record.features.values())


@SETTINGS
@given(batch=st.lists(readings.map(lambda r: TelemetryReading(
    "M000" if r.seq % 2 else "M001", r.seq, r.ts_ns, r.temperature_c, r.rpm, r.load_pct, r.power_kw)),
    min_size=1, max_size=80))
def test_scoring_extreme_valid_readings_gives_finite_records(batch):
    for scored in (HealthScorer(window=5, confirm=1).on_telemetry_batch(batch),
                   [HealthScorer(window=5, confirm=1).on_telemetry(r) for r in batch[:1]]):
        for record, _alert in scored:
            assert _finite(record), record


class _Publisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, dict]] = []

    def publish(self, topic, key, value, headers=None, on_delivery=None):
        self.sent.append((topic, value, dict(headers or {})))

    def flush(self, timeout=None):
        return 0

    def warm_up(self, topics, timeout=10.0):
        pass

    def close(self):
        pass


class _Transport:
    def __init__(self) -> None:
        self.publisher_ = _Publisher()

    def consumer(self, *args, **kwargs):
        return None

    def publisher(self, *args, **kwargs):
        return self.publisher_


header_values = st.none() | st.sampled_from([b"orjson", b"json", b"msgpack", b"cloudpickle", b"yaml", b"", b"\xff"])
payloads = st.one_of(
    readings.map(lambda r: get_codec("orjson").encode(r)),
    telemetry_dicts().map(lambda d: json.dumps(d, default=repr).encode()),   # NaN, 2**70, ...
    st.binary(max_size=200))


@pytest.mark.parametrize("batch_scoring", [True, False], ids=["batch", "per-record"])
@SETTINGS
@given(inputs=st.lists(st.tuples(payloads, st.dictionaries(st.sampled_from(["codec", "type", "x"]), header_values,
                                                           max_size=2)), max_size=20))
def test_nothing_escapes_the_processor_and_every_record_is_processed_or_dead_lettered(batch_scoring, inputs,
                                                                                      tmp_path_factory):
    transport = _Transport()
    options = ServiceOptions(data_dir=tmp_path_factory.mktemp("p"), instance="health-processor")
    options.transport = lambda: transport  # type: ignore[method-assign]
    processor = Processor(options, logging.getLogger("p"), HealthScorer(window=5, confirm=1), 1000,
                          batch_scoring=batch_scoring)
    records = [Record("telemetry", b"k", value, headers, 0, offset) for offset, (value, headers) in enumerate(inputs)]
    processor.process_with_retries(records)
    processor.metrics.close()
    counters = processor.metrics.counters
    assert counters.get("processed", 0) + counters.get("dead_lettered", 0) == len(records)
    for topic, value, _headers in transport.publisher_.sent:
        if topic == "machine-health":
            assert _finite(get_codec("orjson").decode(value, HealthRecord))


@settings(max_examples=max(10, settings.default.max_examples // 4))   # a Parquet file per example
@given(records=st.lists(health_records, min_size=1, max_size=20))
def test_the_parquet_writer_takes_any_valid_record_and_writes_nothing_non_finite(records, tmp_path_factory):
    root = tmp_path_factory.mktemp("sink")
    writer = HourlyParquetWriter(root)
    rows = writer.fresh([health_row(get_codec("msgpack").decode(get_codec("msgpack").encode(r), HealthRecord))
                         for r in records])
    writer.write(rows)
    frame = pd.read_parquet(root)
    assert len(frame) == len(rows)
    numbers = frame.select_dtypes("number").to_numpy(dtype=float)
    assert not np.isinf(numbers).any()
    assert not frame["health_score"].isna().any()


@SETTINGS
@given(items=st.lists(telemetry_dicts() | readings.map(TelemetryReading.to_dict), max_size=8))
def test_columns_accept_a_run_only_when_every_reading_is_valid_with_the_same_values(items):
    """The processor's columnar decode is the per-record validation, held over the same hostile inputs."""
    expected = []
    for item in items:
        try:
            expected.append(TelemetryReading.from_dict(item))
        except ValueError:
            expected = None
            break
    columns = m.TelemetryColumns.from_dicts(items)
    if expected is None:
        assert columns is None
    else:   # plain dicts of plain values, as every decoder here returns: the fast path takes the whole run
        assert columns is not None, items
        assert columns.readings() == expected
