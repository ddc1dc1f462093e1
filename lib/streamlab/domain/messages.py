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


def _text(value: Any, name: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}")
    if not value and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    return value


def _count(value: Any, name: str) -> int:
    """A non-negative int; ``bool`` is rejected although Python calls it an int."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def _real(value: Any, name: str) -> float:
    """A finite float (ints are accepted: JSON writes 50.0 back as 50 in some libraries)."""
    if not isinstance(value, (float, int)) or isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {type(value).__name__}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{name} must be finite, got {result}")
    return result


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
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must hold finite numbers only")
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
            ts_ns=_count(d["ts_ns"], "ts_ns"),
            temperature_c=_real(d["temperature_c"], "temperature_c"),
            rpm=_real(d["rpm"], "rpm"),
            load_pct=_real(d["load_pct"], "load_pct"),
            power_kw=_real(d["power_kw"], "power_kw"),
        )


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
            rpm_at_capture=_real(d["rpm_at_capture"], "metadata.rpm_at_capture"),
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
        sample_rate_hz = _real(d["sample_rate_hz"], "sample_rate_hz")
        if sample_rate_hz <= 0:
            raise ValueError(f"sample_rate_hz must be > 0, got {sample_rate_hz}")
        return cls(
            machine_id=_text(d["machine_id"], "machine_id"),
            seq=_count(d["seq"], "seq"),
            ts_ns=_count(d["ts_ns"], "ts_ns"),
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
            ts_ns=_count(d["ts_ns"], "ts_ns"),
            source_ts_ns=_count(d["source_ts_ns"], "source_ts_ns"),
            health_score=_unit_interval(d["health_score"], "health_score"),
            state=_choice(d["state"], "state", HEALTH_STATES),
            features={_text(k, "feature name"): _real(v, f"features[{k!r}]") for k, v in features.items()},
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
            ts_ns=_count(d["ts_ns"], "ts_ns"),
            source_ts_ns=_count(d["source_ts_ns"], "source_ts_ns"),
            previous_state=_choice(d["previous_state"], "previous_state", PREVIOUS_STATES),
            state=_choice(d["state"], "state", HEALTH_STATES),
            reason=_text(d["reason"], "reason", allow_empty=True),
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
