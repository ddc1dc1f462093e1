"""Message types that flow through the pipeline, and their plain-dict form.

Every message carries the same three header fields:

* ``machine_id`` -- which machine of the fleet it is about (``"M007"``); it is
  also the broker key, so one machine's messages stay in order on one partition.
* ``seq`` -- a per-producer, per-machine sequence number that starts at 0 and
  grows by 1. Consumers and tests use it to prove "no loss, no duplicates".
* ``ts_ns`` -- ``time.time_ns()`` when the message was created, i.e. just before
  it is sent. End-to-end latency is ``receive time - ts_ns`` on the same clock,
  so it must be a wall-clock stamp, never the simulated time.

``to_dict()`` gives a plain, JSON-able dict; ``from_dict()`` is the strict
inverse. ``from_dict`` validates names *and* types (a ``bool`` is not an
``int``, floats must be finite, no unknown keys): codecs build on it, and the
processor relies on every malformed payload being rejected at decode time so it
can be dead-lettered with a reason instead of crashing later in the pipeline.

Why the vibration axes are numpy ``float32`` arrays and not ``list[float]``:
the samples *are* 32-bit sensor values, the fleet generates them vectorised and
the processor needs numpy for the FFT anyway. An array of 256 float32 is 1 KiB
in one block, a list is 256 boxed Python floats (~8 KiB) that every binary codec
would have to walk one by one. The cost is that equality needs
``numpy.array_equal`` (done in :class:`AccelAxes`) and that the JSON codecs must
call ``tolist()``; :meth:`VibrationWindow.to_dict` does that unless asked for
the raw arrays.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

HealthState = Literal["ok", "warning", "critical"]
HEALTH_STATES: tuple[str, ...] = ("ok", "warning", "critical")
# An alert's previous state may also be "unknown": the first assessment of a machine.
PREVIOUS_STATES: tuple[str, ...] = ("unknown", *HEALTH_STATES)


# --------------------------------------------------------------------------- physically plausible ranges

#: Bounds every decoded message is held to. Finite is not enough: one reading of 1e308 °C is a valid float
#: whose square overflows the processor's running sums to inf (and every later record of that machine to
#: NaN), and a ts_ns of 2**63 fits orjson's, msgpack's and protobuf's fixed64 unsigned ints but no int64
#: column, timestamp or numpy array downstream. The ranges are generous (a sensor fault that reads 1900 °C
#: is still a reading the model should see) but physical: what lies outside is dead-lettered at decode.
MAX_TS_NS = 2**63 - 1                  # int64: Parquet, numpy and Kafka timestamps hold nothing larger
MAX_SEQ = 2**63 - 1
MAX_ID_LENGTH = 128                    # machine, sensor and firmware ids are names, not payloads
TEMPERATURE_C = (-273.15, 2000.0)      # absolute zero .. beyond any machine that still runs
RPM = (0.0, 100_000.0)                 # the fastest turbomachinery spins at ~1e5 rpm
LOAD_PCT = (0.0, 1000.0)               # overload is possible, tenfold is not
POWER_KW = (0.0, 1_000_000.0)          # a gigawatt is a power station, not a machine
ACCEL_M_S2 = 100_000.0                 # |a| of a shock accelerometer's range (~10,000 g)
SAMPLE_RATE_HZ = (0.0, 1_000_000.0)    # exclusive lower bound
MAX_SAMPLES = 65_536                   # per axis and window
MAX_FEATURE = 1e12                     # any computed feature; keeps sums and squares of them finite


# --------------------------------------------------------------------------- validation helpers


def _check_keys(data: Any, expected: frozenset[str], type_name: str) -> Mapping[str, Any]:
    """Fail unless ``data`` is a mapping with exactly the ``expected`` keys."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{type_name} must be a mapping, got {type(data).__name__}")
    keys = data.keys()
    if keys != expected:
        missing = sorted(expected - keys)
        unknown = sorted(str(k) for k in keys - expected)
        raise ValueError(f"{type_name} fields do not match: missing {missing}, unknown {unknown}")
    return data


def _text(value: Any, name: str, *, allow_empty: bool = False, max_length: int | None = MAX_ID_LENGTH) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}")
    if not value and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    if max_length is not None and len(value) > max_length:
        raise ValueError(f"{name} must be at most {max_length} characters, got {len(value)}")
    return value


def _count(value: Any, name: str, maximum: int = MAX_SEQ) -> int:
    """A non-negative int up to ``maximum``; ``bool`` is rejected although Python calls it an int."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    if value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}: out of range")
    return value


def _timestamp(value: Any, name: str) -> int:
    return _count(value, name, MAX_TS_NS)


def _real(value: Any, name: str, bounds: tuple[float, float] | None = None) -> float:
    """A finite float within ``bounds`` (ints are accepted: JSON writes 50.0 back as 50 in some libraries)."""
    if not isinstance(value, (float, int)) or isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {type(value).__name__}")
    try:
        result = float(value)
    except OverflowError:  # an int beyond float range
        raise ValueError(f"{name} is out of range: {str(value)[:30]}...") from None
    if not math.isfinite(result):
        raise ValueError(f"{name} must be finite, got {result}")
    if bounds is not None and not bounds[0] <= result <= bounds[1]:
        raise ValueError(f"{name} must be within [{bounds[0]:g}, {bounds[1]:g}], got {result:g}: out of range")
    return result


def _feature(value: Any, name: str) -> float:
    return _real(value, name, (-MAX_FEATURE, MAX_FEATURE))


def _choice(value: Any, name: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")
    return value


def _samples(value: Any, name: str) -> np.ndarray:
    """A 1-D, non-empty, finite float32 array from a list, tuple or numeric array."""
    array = np.asarray(value)
    if array.ndim != 1 or array.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be a 1-D sequence of numbers, got {array.dtype} with {array.ndim} dims")
    array = np.ascontiguousarray(array, dtype=np.float32)
    if array.size == 0:
        raise ValueError(f"{name} must not be empty")
    if array.size > MAX_SAMPLES:
        raise ValueError(f"{name} must hold at most {MAX_SAMPLES} samples, got {array.size}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must hold finite numbers only")
    if np.abs(array).max() > ACCEL_M_S2:
        raise ValueError(f"{name} must stay within ±{ACCEL_M_S2:g} m/s^2: out of range")
    return array


# --------------------------------------------------------------------------- telemetry


@dataclass(slots=True)
class TelemetryReading:
    """One flat reading of a machine's process sensors, sent at >= 10 Hz per machine."""

    type_name: ClassVar[str] = "telemetry"
    _fields: ClassVar[frozenset[str]] = frozenset(
        {"machine_id", "seq", "ts_ns", "temperature_c", "rpm", "load_pct", "power_kw"}
    )

    machine_id: str
    seq: int
    ts_ns: int
    temperature_c: float
    rpm: float
    load_pct: float
    power_kw: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "machine_id": self.machine_id,
            "seq": self.seq,
            "ts_ns": self.ts_ns,
            "temperature_c": self.temperature_c,
            "rpm": self.rpm,
            "load_pct": self.load_pct,
            "power_kw": self.power_kw,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TelemetryReading:
        d = _check_keys(data, cls._fields, cls.type_name)
        return cls(
            machine_id=_text(d["machine_id"], "machine_id"),
            seq=_count(d["seq"], "seq"),
            ts_ns=_timestamp(d["ts_ns"], "ts_ns"),
            temperature_c=_real(d["temperature_c"], "temperature_c", TEMPERATURE_C),
            rpm=_real(d["rpm"], "rpm", RPM),
            load_pct=_real(d["load_pct"], "load_pct", LOAD_PCT),
            power_kw=_real(d["power_kw"], "power_kw", POWER_KW),
        )


#: The reading's measurements in the column order of :attr:`TelemetryColumns.values`, with their bounds.
TELEMETRY_VALUES: tuple[tuple[str, tuple[float, float]], ...] = (
    ("temperature_c", TEMPERATURE_C), ("rpm", RPM), ("load_pct", LOAD_PCT), ("power_kw", POWER_KW))


@dataclass(slots=True)
class TelemetryColumns:
    """A run of telemetry readings as columns: what the processor's fast path scores, no object per reading.

    ``values`` is an (n, 4) float array in the order of :data:`TELEMETRY_VALUES`.
    :meth:`from_dicts` validates a whole run of decoded payloads at once and
    accepts a run only if :meth:`TelemetryReading.from_dict` accepts every item,
    with the same values (a property test holds this); anything else goes to
    the per-record path, so the dead-letter boundary is the same on both paths.
    """

    machine_id: list[str]
    seq: list[int]
    ts_ns: list[int]
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.machine_id)

    @classmethod
    def from_readings(cls, readings: list[TelemetryReading]) -> TelemetryColumns:
        return cls([r.machine_id for r in readings], [r.seq for r in readings], [r.ts_ns for r in readings],
                   np.array([(r.temperature_c, r.rpm, r.load_pct, r.power_kw) for r in readings],
                            dtype=float).reshape(-1, 4))

    @classmethod
    def from_dicts(cls, items: list[Any]) -> TelemetryColumns | None:
        """The columns of ``items`` if every one is a valid reading, else None (let the per-record path say why).

        All or nothing on purpose: a run with a bad payload is rare, and the
        per-record path then dead-letters it with the exact reason, in order.
        Each check runs over a whole column (one ``map`` or numpy call), not per field and reading.
        """
        fields = TelemetryReading._fields
        if not all(type(d) is dict and d.keys() == fields for d in items):
            return None
        machine_id = [d["machine_id"] for d in items]
        seq = [d["seq"] for d in items]
        ts_ns = [d["ts_ns"] for d in items]
        if not (set(map(type, machine_id)) <= {str} and set(map(type, seq)) <= {int}
                and set(map(type, ts_ns)) <= {int}):
            return None
        if items and not (0 < min(map(len, machine_id)) and max(map(len, machine_id)) <= MAX_ID_LENGTH
                          and 0 <= min(seq) and max(seq) <= MAX_SEQ and 0 <= min(ts_ns) and max(ts_ns) <= MAX_TS_NS):
            return None
        columns = []
        for name, (low, high) in TELEMETRY_VALUES:
            column = [d[name] for d in items]
            if not set(map(type, column)) <= {float, int}:   # bool, str, None ... are not numbers here
                return None
            try:
                array = np.array(column, dtype=float)
            except OverflowError:   # an int beyond float range
                return None
            if not (np.isfinite(array).all() and (array >= low).all() and (array <= high).all()):
                return None
            columns.append(array)
        values = np.column_stack(columns) if items else np.empty((0, 4))
        return cls(machine_id, seq, ts_ns, values)

    def readings(self) -> list[TelemetryReading]:
        """The readings one by one (the per-record fallback when a run fails as a whole)."""
        return [TelemetryReading(m, s, t, *row) for m, s, t, row in
                zip(self.machine_id, self.seq, self.ts_ns, self.values.tolist())]


# --------------------------------------------------------------------------- vibration


@dataclass(slots=True, eq=False)
class AccelAxes:
    """Three equally long float32 sample arrays of a 3-axis accelerometer (m/s^2).

    Inputs are converted to contiguous float32 arrays, so lists work too.
    """

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray

    def __post_init__(self) -> None:
        self.x = _samples(self.x, "axes.x")
        self.y = _samples(self.y, "axes.y")
        self.z = _samples(self.z, "axes.z")
        if not (self.x.size == self.y.size == self.z.size):
            raise ValueError(f"axes must have equal lengths, got {self.x.size}/{self.y.size}/{self.z.size}")

    __hash__ = None  # type: ignore[assignment]  # mutable arrays: not hashable

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AccelAxes):
            return NotImplemented
        return (
            np.array_equal(self.x, other.x)
            and np.array_equal(self.y, other.y)
            and np.array_equal(self.z, other.z)
        )

    @property
    def n_samples(self) -> int:
        return int(self.x.size)

    def as_matrix(self) -> np.ndarray:
        """The samples as a (3, n) array, x/y/z rows, for vectorised maths."""
        return np.stack((self.x, self.y, self.z))


@dataclass(slots=True)
class VibrationMetadata:
    """Where and how a vibration window was captured."""

    _fields: ClassVar[frozenset[str]] = frozenset(
        {"sensor_id", "mount_position", "firmware", "units", "rpm_at_capture"}
    )

    sensor_id: str
    mount_position: str
    firmware: str
    rpm_at_capture: float
    units: str = "m/s^2"

    def to_dict(self) -> dict[str, Any]:
        return {
            "sensor_id": self.sensor_id,
            "mount_position": self.mount_position,
            "firmware": self.firmware,
            "units": self.units,
            "rpm_at_capture": self.rpm_at_capture,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VibrationMetadata:
        d = _check_keys(data, cls._fields, "vibration.metadata")
        return cls(
            sensor_id=_text(d["sensor_id"], "metadata.sensor_id"),
            mount_position=_text(d["mount_position"], "metadata.mount_position"),
            firmware=_text(d["firmware"], "metadata.firmware"),
            units=_text(d["units"], "metadata.units"),
            rpm_at_capture=_real(d["rpm_at_capture"], "metadata.rpm_at_capture", RPM),
        )


@dataclass(slots=True)
class VibrationWindow:
    """A window of 3-axis accelerometer samples (the nested, 'complex' message), 1-2 Hz per machine.

    ``ts_ns`` is the creation (send-time-ish) stamp, used for latency, and it is
    also the window start: the simulator synthesises the whole window at once,
    so the samples cover ``n_samples / sample_rate_hz`` seconds from ``ts_ns``.
    """

    type_name: ClassVar[str] = "vibration"
    _fields: ClassVar[frozenset[str]] = frozenset(
        {"machine_id", "seq", "ts_ns", "sample_rate_hz", "axes", "metadata"}
    )
    _axes_fields: ClassVar[frozenset[str]] = frozenset({"x", "y", "z"})

    machine_id: str
    seq: int
    ts_ns: int
    sample_rate_hz: float
    axes: AccelAxes
    metadata: VibrationMetadata

    @property
    def n_samples(self) -> int:
        return self.axes.n_samples

    def to_dict(self, *, raw_arrays: bool = False) -> dict[str, Any]:
        """Plain dict; axes as lists, or as the float32 arrays themselves with ``raw_arrays``.

        ``raw_arrays`` exists for codecs that serialise numpy directly (orjson,
        msgpack): it saves converting 3 x n samples to Python floats and back.
        """
        axes = self.axes
        if raw_arrays:
            axes_dict: dict[str, Any] = {"x": axes.x, "y": axes.y, "z": axes.z}
        else:
            axes_dict = {"x": axes.x.tolist(), "y": axes.y.tolist(), "z": axes.z.tolist()}
        return {
            "machine_id": self.machine_id,
            "seq": self.seq,
            "ts_ns": self.ts_ns,
            "sample_rate_hz": self.sample_rate_hz,
            "axes": axes_dict,
            "metadata": self.metadata.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VibrationWindow:
        """Inverse of :meth:`to_dict`; axes may be lists or numeric arrays."""
        d = _check_keys(data, cls._fields, cls.type_name)
        axes = _check_keys(d["axes"], cls._axes_fields, "vibration.axes")
        sample_rate_hz = _real(d["sample_rate_hz"], "sample_rate_hz", SAMPLE_RATE_HZ)
        if sample_rate_hz <= 0:
            raise ValueError(f"sample_rate_hz must be > 0, got {sample_rate_hz}")
        return cls(
            machine_id=_text(d["machine_id"], "machine_id"),
            seq=_count(d["seq"], "seq"),
            ts_ns=_timestamp(d["ts_ns"], "ts_ns"),
            sample_rate_hz=sample_rate_hz,
            axes=AccelAxes(axes["x"], axes["y"], axes["z"]),
            metadata=VibrationMetadata.from_dict(d["metadata"]),
        )


# --------------------------------------------------------------------------- processor outputs


@dataclass(slots=True)
class HealthRecord:
    """The processor's enriched assessment of one machine (topic ``machine-health``).

    ``source_ts_ns`` is the ``ts_ns`` of the input message that triggered this
    record, so a sink can measure generator-to-sink latency through the processor.
    """

    type_name: ClassVar[str] = "health"
    _fields: ClassVar[frozenset[str]] = frozenset(
        {"machine_id", "seq", "ts_ns", "source_ts_ns", "health_score", "state", "features"}
    )

    machine_id: str
    seq: int
    ts_ns: int
    source_ts_ns: int
    health_score: float
    state: str
    features: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "machine_id": self.machine_id,
            "seq": self.seq,
            "ts_ns": self.ts_ns,
            "source_ts_ns": self.source_ts_ns,
            "health_score": self.health_score,
            "state": self.state,
            "features": dict(self.features),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HealthRecord:
        d = _check_keys(data, cls._fields, cls.type_name)
        features = d["features"]
        if not isinstance(features, Mapping):
            raise ValueError(f"features must be a mapping, got {type(features).__name__}")
        return cls(
            machine_id=_text(d["machine_id"], "machine_id"),
            seq=_count(d["seq"], "seq"),
            ts_ns=_timestamp(d["ts_ns"], "ts_ns"),
            source_ts_ns=_timestamp(d["source_ts_ns"], "source_ts_ns"),
            health_score=_unit_interval(d["health_score"], "health_score"),
            state=_choice(d["state"], "state", HEALTH_STATES),
            features={_text(k, "feature name"): _feature(v, f"features[{k!r}]") for k, v in features.items()},
        )


@dataclass(slots=True)
class Alert:
    """A change of a machine's health state (topic ``alerts``)."""

    type_name: ClassVar[str] = "alert"
    _fields: ClassVar[frozenset[str]] = frozenset(
        {"machine_id", "seq", "ts_ns", "source_ts_ns", "previous_state", "state", "reason", "health_score"}
    )

    machine_id: str
    seq: int
    ts_ns: int
    source_ts_ns: int
    previous_state: str
    state: str
    reason: str
    health_score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "machine_id": self.machine_id,
            "seq": self.seq,
            "ts_ns": self.ts_ns,
            "source_ts_ns": self.source_ts_ns,
            "previous_state": self.previous_state,
            "state": self.state,
            "reason": self.reason,
            "health_score": self.health_score,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alert:
        d = _check_keys(data, cls._fields, cls.type_name)
        return cls(
            machine_id=_text(d["machine_id"], "machine_id"),
            seq=_count(d["seq"], "seq"),
            ts_ns=_timestamp(d["ts_ns"], "ts_ns"),
            source_ts_ns=_timestamp(d["source_ts_ns"], "source_ts_ns"),
            previous_state=_choice(d["previous_state"], "previous_state", PREVIOUS_STATES),
            state=_choice(d["state"], "state", HEALTH_STATES),
            reason=_text(d["reason"], "reason", allow_empty=True, max_length=1000),
            health_score=_unit_interval(d["health_score"], "health_score"),
        )


def _unit_interval(value: Any, name: str) -> float:
    result = _real(value, name)
    if not 0.0 <= result <= 1.0:
        raise ValueError(f"{name} must be within [0, 1], got {result}")
    return result


Message = TelemetryReading | VibrationWindow | HealthRecord | Alert

MESSAGE_TYPES: dict[str, type[Message]] = {
    TelemetryReading.type_name: TelemetryReading,
    VibrationWindow.type_name: VibrationWindow,
    HealthRecord.type_name: HealthRecord,
    Alert.type_name: Alert,
}


def message_type(name: str) -> type[Message]:
    """The message class registered under ``name``; a clear error for an unknown one."""
    try:
        return MESSAGE_TYPES[name]
    except KeyError:
        raise ValueError(f"unknown message type {name!r}; valid: {sorted(MESSAGE_TYPES)}") from None


class SequenceCounter:
    """Per-key sequence numbers 0, 1, 2, ... (one counter per machine of one stream).

    A producer owns one counter per stream it sends; consumers check that each
    machine's ``seq`` arrives as an unbroken run to prove no loss / no duplicates.
    """

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def next(self, key: str) -> int:
        """Return the next number for ``key`` and advance it."""
        value = self._next.get(key, 0)
        self._next[key] = value + 1
        return value

    def peek(self, key: str) -> int:
        """The number :meth:`next` would return, without advancing."""
        return self._next.get(key, 0)
