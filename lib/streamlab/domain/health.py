"""Health scoring: the processor's logic, kept pure so it can be tested without a broker.

Three pieces, used in this order by the processor:

1. :class:`TelemetryFeatures` -- rolling statistics over the last N telemetry
   readings of one machine (temperature mean/std/slope, rpm mean/std, load and
   power means), kept as running sums: O(1) per reading and per query.
2. :func:`vibration_band_energies` -- RMS acceleration per frequency band of a
   vibration window (Hann-windowed real FFT, summed over the three axes). Bands
   are chosen so each fault shows in one: 0-50 Hz holds the once-per-revolution
   (1x) line of every rpm in the fleet (imbalance), 150-250 Hz the bearing
   defect tones (bearing wear).
3. :class:`HealthModel` -- maps features to a health score with fixed limits
   (normal / warning / critical) per indicator, as vibration standards such as
   ISO 10816 do with their severity zones. Fixed physical limits need no
   per-machine training and are easy to explain; their weakness is a machine
   whose healthy baseline sits close to a limit.

:class:`AlertTracker` turns successive states into :class:`Alert` messages.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .messages import Alert, HealthRecord, SequenceCounter, TelemetryReading, VibrationWindow

DEFAULT_BANDS_HZ: tuple[tuple[float, float], ...] = ((0.0, 50.0), (50.0, 150.0), (150.0, 250.0), (250.0, 500.0))


# --------------------------------------------------------------------------- telemetry features


class TelemetryFeatures:
    """Rolling statistics of one machine over its last ``window`` readings.

    Time comes from the readings' ``ts_ns`` (so the slope is in degrees per
    second of the producer's clock, independent of when the processor sees
    the readings).

    Why running sums instead of numpy over the window: the processor asks for
    the features after *every* reading, and numpy's mean/std on a 50-element
    array cost ~40 µs of call overhead — most of the processor's time per
    record. Sums of x and x² updated as readings enter and leave the window make
    it O(1) in plain floats; they are recomputed exactly from the window every
    ``RESYNC`` readings so rounding cannot drift.
    """

    RESYNC = 1000

    def __init__(self, window: int = 50, min_readings: int = 10) -> None:
        if window < 2 or not 2 <= min_readings <= window:
            raise ValueError("need window >= 2 and 2 <= min_readings <= window")
        self.window = window
        self.min_readings = min_readings
        self._ring: list[tuple[float, float, float, float, float]] = []
        self._next = 0
        self._origin_ns: int | None = None
        self._updates = 0
        self._sums = [0.0] * 7  # Σt, Σt², Σtemp, Σtemp², Σt·temp, Σrpm, Σrpm²
        self._load = 0.0
        self._power = 0.0

    @property
    def count(self) -> int:
        """Readings currently in the window."""
        return len(self._ring)

    @property
    def ready(self) -> bool:
        """Enough readings for meaningful statistics."""
        return len(self._ring) >= self.min_readings

    def _add(self, row: tuple[float, float, float, float, float], sign: float) -> None:
        t, temp, rpm, load, power = row
        s = self._sums
        s[0] += sign * t
        s[1] += sign * t * t
        s[2] += sign * temp
        s[3] += sign * temp * temp
        s[4] += sign * t * temp
        s[5] += sign * rpm
        s[6] += sign * rpm * rpm
        self._load += sign * load
        self._power += sign * power

    def _resync(self) -> None:
        self._sums = [0.0] * 7
        self._load = self._power = 0.0
        for row in self._ring:
            self._add(row, 1.0)

    def update(self, reading: TelemetryReading) -> None:
        if self._origin_ns is None:
            self._origin_ns = reading.ts_ns  # keeps times small: no float cancellation in the slope
        row = ((reading.ts_ns - self._origin_ns) * 1e-9, reading.temperature_c, reading.rpm,
               reading.load_pct, reading.power_kw)
        if len(self._ring) < self.window:
            self._ring.append(row)
        else:
            self._add(self._ring[self._next], -1.0)
            self._ring[self._next] = row
            self._next = (self._next + 1) % self.window
        self._add(row, 1.0)
        self._updates += 1
        if self._updates % self.RESYNC == 0:
            self._resync()

    def update_many(self, ts_ns: np.ndarray, values: np.ndarray) -> dict[str, np.ndarray]:
        """Feed a batch of readings at once; the features after each one, as arrays (NaN while not ready).

        ``ts_ns`` is an int64 array of the readings' ``ts_ns`` and ``values`` an
        (n, 4) array of ``temperature_c, rpm, load_pct, power_kw``, in arrival
        order. The result equals calling :meth:`update` then :meth:`features`
        per reading (to rounding: the window sums come from cumulative sums over
        the window's history plus the batch instead of running sums), at a few
        numpy calls per batch instead of a dozen Python operations per reading.
        ``"ready"`` is a boolean array.
        """
        n_new = len(ts_ns)
        if n_new == 0:
            return {"ready": np.zeros(0, dtype=bool)}
        if self._origin_ns is None:
            self._origin_ns = int(ts_ns[0])
        fresh = np.empty((n_new, 5))
        fresh[:, 0] = (np.asarray(ts_ns, dtype=np.int64) - self._origin_ns) * 1e-9  # exact in int64, as update()
        fresh[:, 1:] = values
        history = self._ring[self._next:] + self._ring[:self._next]  # the window, oldest first
        full = np.concatenate([np.asarray(history, dtype=float).reshape(-1, 5), fresh])
        h = len(history)
        t, temp, rpm, load, power = full.T
        columns = np.stack([t, t * t, temp, temp * temp, t * temp, rpm, rpm * rpm, load, power])
        cums = np.concatenate([np.zeros((9, 1)), np.cumsum(columns, axis=1)], axis=1)
        end = np.arange(h + 1, h + n_new + 1)               # exclusive end of each new reading's window
        start = np.maximum(0, end - self.window)
        sums = cums[:, end] - cums[:, start]
        n = (end - start).astype(float)
        t_mean, temp_mean, rpm_mean = sums[0] / n, sums[2] / n, sums[5] / n
        t_var = sums[1] - n * t_mean * t_mean
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = np.where(t_var > 1e-12, (sums[4] - n * t_mean * temp_mean) / t_var, 0.0)
        # keep the state exactly as per-reading updates would have left it
        window_rows = [tuple(row) for row in full[-self.window:].tolist()]
        self._ring, self._next = window_rows, 0
        self._updates += n_new
        self._resync()
        ready = n >= self.min_readings
        out = {
            "temp_mean": temp_mean,
            "temp_std": np.sqrt(np.maximum(0.0, sums[3] / n - temp_mean * temp_mean)),
            "temp_slope": slope,
            "rpm_mean": rpm_mean,
            "rpm_std": np.sqrt(np.maximum(0.0, sums[6] / n - rpm_mean * rpm_mean)),
            "load_mean": sums[7] / n,
            "power_mean": sums[8] / n,
        }
        out = {name: np.where(ready, values, np.nan) for name, values in out.items()}
        out["ready"] = ready
        return out

    def features(self) -> dict[str, float]:
        """Current statistics; empty until :attr:`ready`."""
        n = len(self._ring)
        if n < self.min_readings:
            return {}
        s = self._sums
        t_mean, temp_mean, rpm_mean = s[0] / n, s[2] / n, s[5] / n
        t_var = s[1] - n * t_mean * t_mean
        temp_slope = (s[4] - n * t_mean * temp_mean) / t_var if t_var > 1e-12 else 0.0
        return {
            "temp_mean": temp_mean,
            "temp_std": math.sqrt(max(0.0, s[3] / n - temp_mean * temp_mean)),
            "temp_slope": temp_slope,
            "rpm_mean": rpm_mean,
            "rpm_std": math.sqrt(max(0.0, s[6] / n - rpm_mean * rpm_mean)),
            "load_mean": self._load / n,
            "power_mean": self._power / n,
        }


# --------------------------------------------------------------------------- vibration features


def band_feature_name(low_hz: float, high_hz: float) -> str:
    """Feature name of one band, e.g. ``vib_rms_150_250``."""
    return f"vib_rms_{low_hz:g}_{high_hz:g}"


@functools.lru_cache(maxsize=8)
def _hann(n_samples: int) -> tuple[np.ndarray, float]:
    window = np.hanning(n_samples)
    return window, float(window @ window)


def vibration_band_energies(
    window: VibrationWindow, bands: tuple[tuple[float, float], ...] = DEFAULT_BANDS_HZ
) -> dict[str, float]:
    """RMS acceleration (m/s^2) per frequency band, summed over the three axes, plus the total.

    Each axis has its mean removed first (gravity on z would otherwise land in
    the lowest band), is Hann-windowed (less leakage of a strong 1x line into
    the neighbouring bands) and transformed with ``rfft``. The scaling follows
    Parseval, so the squares of all bands add up to the mean square of the
    signal: a band's value is the RMS the signal would have if it only
    contained that band. Bands are half-open ``[low, high)``; a band above the
    Nyquist frequency is 0.
    """
    samples = window.axes.as_matrix().astype(np.float64)
    samples -= samples.mean(axis=1, keepdims=True)
    n = samples.shape[1]
    hann, hann_energy = _hann(n)
    spectrum = np.fft.rfft(samples * hann, axis=1)
    mean_square = (spectrum.real**2 + spectrum.imag**2).sum(axis=0) / (n * hann_energy)
    mean_square[1 : (n + 1) // 2] *= 2.0  # one-sided spectrum: every bin but DC and Nyquist stands for two
    freqs = np.fft.rfftfreq(n, d=1.0 / window.sample_rate_hz)
    result = {}
    for low, high in bands:
        in_band = (freqs >= low) & (freqs < high)
        result[band_feature_name(low, high)] = float(np.sqrt(mean_square[in_band].sum()))
    result["vib_rms_total"] = float(np.sqrt(mean_square.sum()))
    return result


TELEMETRY_FEATURE_NAMES: tuple[str, ...] = (
    "temp_mean", "temp_std", "temp_slope", "rpm_mean", "rpm_std", "load_mean", "power_mean")
VIBRATION_FEATURE_NAMES: tuple[str, ...] = (
    *(band_feature_name(low, high) for low, high in DEFAULT_BANDS_HZ), "vib_rms_total")
FEATURE_NAMES: tuple[str, ...] = TELEMETRY_FEATURE_NAMES + VIBRATION_FEATURE_NAMES
"""Every feature a health record can carry: sinks give each its column, present or not."""


# --------------------------------------------------------------------------- health model


@dataclass(frozen=True, slots=True)
class Limit:
    """Severity zones of one feature: at ``normal`` or below nothing is wrong,
    ``warning`` marks the warning zone, ``critical`` the critical one."""

    feature: str
    normal: float
    warning: float
    critical: float
    meaning: str

    def severity(self, value: float) -> float:
        """0 up to ``normal``, 0.5 at ``warning``, 1 at ``critical`` and above; linear in between."""
        if value <= self.normal:
            return 0.0
        if value < self.warning:
            return 0.5 * (value - self.normal) / (self.warning - self.normal)
        if value < self.critical:
            return 0.5 + 0.5 * (value - self.warning) / (self.critical - self.warning)
        return 1.0

    def severity_many(self, values: np.ndarray) -> np.ndarray:
        """:meth:`severity` over an array at once (same zones, same linear ramps)."""
        ramp_warning = 0.5 * (values - self.normal) / (self.warning - self.normal)
        ramp_critical = 0.5 + 0.5 * (values - self.warning) / (self.critical - self.warning)
        return np.select([values <= self.normal, values < self.warning, values < self.critical],
                         [0.0, ramp_warning, ramp_critical], 1.0)


# The limits sit well above the healthy fleet's range (temperatures 45-60 C,
# slopes ~0 +- 0.05 C/s over a 5 s window, 1x RMS <= 0.15, bearing band ~0.04)
# and below what a developed fault produces (see domain.fleet constants).
DEFAULT_LIMITS: tuple[Limit, ...] = (
    Limit("temp_mean", 65.0, 72.0, 80.0, "temperature high"),
    Limit("temp_slope", 0.10, 0.25, 0.60, "temperature rising fast"),
    Limit(band_feature_name(150, 250), 0.08, 0.20, 0.50, "bearing-band vibration (bearing wear)"),
    Limit(band_feature_name(0, 50), 0.25, 0.50, 1.00, "1x vibration (imbalance)"),
)


class Assessment(NamedTuple):
    """What :meth:`HealthModel.score` returns; unpacks as ``score, state, features``."""

    health_score: float
    state: str
    features: dict[str, float]


class HealthModel:
    """Health score = 1 - worst indicator severity; state from the same severity.

    ``critical`` once any indicator reaches its critical limit, ``warning`` once
    any reaches its warning limit, else ``ok``. Indicators whose feature is
    missing are skipped (the processor's scorer passes telemetry features only
    once a machine's vibration bands are known too: a verdict joins both streams).
    """

    def __init__(self, limits: tuple[Limit, ...] = DEFAULT_LIMITS) -> None:
        self.limits = limits

    def severities(self, features: Mapping[str, float]) -> dict[str, float]:
        """Severity per indicator present in ``features``."""
        return {
            limit.feature: limit.severity(features[limit.feature])
            for limit in self.limits
            if limit.feature in features
        }

    def score(
        self,
        telemetry: Mapping[str, float] | None = None,
        vibration: Mapping[str, float] | None = None,
    ) -> Assessment:
        """Assess a machine from its telemetry features and/or vibration band energies."""
        features: dict[str, float] = {}
        if telemetry:
            features.update(telemetry)
        if vibration:
            features.update(vibration)
        worst = max(self.severities(features).values(), default=0.0)
        if worst >= 1.0:
            state = "critical"
        elif worst >= 0.5:
            state = "warning"
        else:
            state = "ok"
        return Assessment(health_score=1.0 - worst, state=state, features=features)

    def worst_many(self, telemetry: Mapping[str, np.ndarray], vibration: Mapping[str, float] | None,
                   ready: np.ndarray) -> np.ndarray:
        """The worst severity per reading of a batch: :meth:`score`'s ``1 - health_score``, vectorised.

        A telemetry indicator counts only where ``ready`` (as :meth:`score` skips
        missing features); a vibration indicator counts for every reading.
        """
        worst = np.zeros(len(ready))
        for limit in self.limits:
            if limit.feature in telemetry:
                severity = np.where(ready, limit.severity_many(np.nan_to_num(telemetry[limit.feature])), 0.0)
            elif vibration and limit.feature in vibration:
                severity = np.full(len(ready), limit.severity(vibration[limit.feature]))
            else:
                continue
            worst = np.maximum(worst, severity)
        return worst

    @staticmethod
    def state_of(worst: float) -> str:
        """The state a worst severity means (as :meth:`score` decides it)."""
        if worst >= 1.0:
            return "critical"
        if worst >= 0.5:
            return "warning"
        return "ok"

    def reason(self, features: Mapping[str, float]) -> str:
        """Human-readable cause: the worst indicator and its value, e.g. for an alert."""
        present = [limit for limit in self.limits if limit.feature in features]
        if not present:
            return "no features yet"
        worst = max(present, key=lambda limit: limit.severity(features[limit.feature]))
        value = features[worst.feature]
        if worst.severity(value) == 0.0:
            return "all indicators normal"
        return f"{worst.meaning}: {worst.feature}={value:.3g} (warning {worst.warning:g}, critical {worst.critical:g})"

    def record(
        self, machine_id: str, seq: int, source_ts_ns: int, assessment: Assessment, ts_ns: int | None = None
    ) -> HealthRecord:
        """Wrap an assessment into the message the processor publishes."""
        return HealthRecord(
            machine_id=machine_id,
            seq=seq,
            ts_ns=time.time_ns() if ts_ns is None else ts_ns,
            source_ts_ns=source_ts_ns,
            health_score=assessment.health_score,
            state=assessment.state,
            features=assessment.features,
        )


# --------------------------------------------------------------------------- alerts


class AlertTracker:
    """Remembers each machine's state and emits an :class:`Alert` when it changes.

    A machine starts in state ``"unknown"``; its first assessment only alerts
    if it is not ``ok`` (a fleet starting up should not flood the alerts
    topic). ``confirm`` > 1 requires a new state to be seen that many times in
    a row before it is reported, which damps flapping at a limit at the price
    of ``confirm - 1`` assessments of delay.
    """

    def __init__(self, model: HealthModel | None = None, confirm: int = 1) -> None:
        if confirm < 1:
            raise ValueError(f"confirm must be >= 1, got {confirm}")
        self.model = model or HealthModel()
        self.confirm = confirm
        self._state: dict[str, str] = {}
        self._pending: dict[str, tuple[str, int]] = {}
        self._seq = SequenceCounter()

    def state_of(self, machine_id: str) -> str:
        return self._state.get(machine_id, "unknown")

    def update_many(self, records: list[HealthRecord]) -> list[Alert | None]:
        """:meth:`update` for each record in order; a record that keeps its machine's reported state with
        nothing pending (almost all of them) costs two dict lookups."""
        state, pending, update = self._state, self._pending, self.update
        return [None if record.state == state.get(record.machine_id) and record.machine_id not in pending
                else update(record) for record in records]

    def update(self, record: HealthRecord, ts_ns: int | None = None) -> Alert | None:
        """Feed one health record; returns an alert when the reported state changes."""
        previous = self.state_of(record.machine_id)
        if record.state == previous:
            self._pending.pop(record.machine_id, None)
            return None
        candidate, seen = self._pending.get(record.machine_id, (record.state, 0))
        seen = seen + 1 if candidate == record.state else 1
        if seen < self.confirm:
            self._pending[record.machine_id] = (record.state, seen)
            return None
        self._pending.pop(record.machine_id, None)
        self._state[record.machine_id] = record.state
        if previous == "unknown" and record.state == "ok":
            return None
        return Alert(
            machine_id=record.machine_id,
            seq=self._seq.next(record.machine_id),
            ts_ns=time.time_ns() if ts_ns is None else ts_ns,
            source_ts_ns=record.source_ts_ns,
            previous_state=previous,
            state=record.state,
            reason=self.model.reason(record.features),
            health_score=record.health_score,
        )
