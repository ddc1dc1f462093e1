"""A simulated machine fleet: the data source of both generators.

Each machine has its own baseline (rpm, temperature, load, rated power, a
healthy residual 1x vibration, a bearing-defect frequency) drawn once from the
fleet seed. Healthy machines produce noisy but stationary readings; a faulty
machine drifts according to the severity of its fault in the
:class:`~streamlab.domain.faults.FaultSchedule`.

Randomness: every machine has two private numpy Generators, one per stream,
seeded from ``(seed, machine index, stream)``. So a machine's data does not
depend on how many machines there are, on the order of calls across machines,
or on how the fleet is split over several generator processes -- only on the
fleet seed and on how many messages of that stream this machine produced.

Time: ``t_s`` is *simulated* seconds since the start of the run and only drives
the physics (load cycle, fault severity). The message header ``ts_ns`` is the
wall clock at creation (pass ``ts_ns`` explicitly for reproducible output), as
end-to-end latency needs. The generator service passes ``t_s = now - start``;
tests fast-forward without sleeping.

Cost: a telemetry reading is a handful of float operations and one batched
draw of 4 normals (a few microseconds); a vibration window is generated with
numpy in one go.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .faults import FaultMode, FaultSchedule, machine_id_for
from .messages import AccelAxes, TelemetryReading, VibrationMetadata, VibrationWindow

GRAVITY = 9.81  # m/s^2, seen as a DC offset by the vertical (z) accelerometer axis
TWO_PI = 2.0 * math.pi

# How strongly a fully developed fault (severity 1) moves each signal.
OVERHEAT_TEMP_RISE_C = 35.0
OVERHEAT_POWER_GAIN = 0.30
BEARING_TEMP_RISE_C = 8.0
BEARING_TONE_AMPLITUDE = 0.8  # m/s^2 per axis
IMBALANCE_1X_GAIN = 1.5  # m/s^2 added to the radial 1x amplitude

# Healthy noise levels.
TEMP_NOISE_C = 0.3
RPM_NOISE = 5.0
LOAD_NOISE_PCT = 1.0
POWER_NOISE_FRACTION = 0.02
VIBRATION_NOISE = 0.05  # m/s^2 white noise per axis

_STREAM_TELEMETRY = 1
_STREAM_VIBRATION = 2
_MOUNT_POSITIONS = ("drive-end bearing", "non-drive-end bearing", "gearbox housing")


@dataclass(frozen=True, slots=True)
class MachineProfile:
    """The fixed, per-machine baseline a healthy machine fluctuates around."""

    machine_id: str
    rpm: float
    temperature_c: float
    load_pct: float
    rated_power_kw: float
    load_cycle_s: float
    load_cycle_amplitude_pct: float
    load_cycle_phase: float
    residual_1x: float  # m/s^2: every real rotor has a little imbalance
    bearing_defect_hz: float
    sensor_id: str
    mount_position: str
    firmware: str


def _draw_profile(machine_id: str, rng: np.random.Generator) -> MachineProfile:
    return MachineProfile(
        machine_id=machine_id,
        rpm=float(rng.uniform(900.0, 2400.0)),
        temperature_c=float(rng.uniform(45.0, 60.0)),
        load_pct=float(rng.uniform(40.0, 80.0)),
        rated_power_kw=float(rng.uniform(5.0, 20.0)),
        load_cycle_s=float(rng.uniform(180.0, 600.0)),
        load_cycle_amplitude_pct=float(rng.uniform(5.0, 12.0)),
        load_cycle_phase=float(rng.uniform(0.0, TWO_PI)),
        residual_1x=float(rng.uniform(0.05, 0.15)),
        bearing_defect_hz=float(rng.uniform(160.0, 240.0)),
        sensor_id=f"ACC-{machine_id}-{int(rng.integers(1, 4))}",
        mount_position=_MOUNT_POSITIONS[int(rng.integers(len(_MOUNT_POSITIONS)))],
        firmware=f"2.{int(rng.integers(0, 5))}.{int(rng.integers(0, 10))}",
    )


class Fleet:
    """``n_machines`` simulated machines sharing one seed and one fault schedule."""

    def __init__(self, n_machines: int, seed: int, schedule: FaultSchedule | None = None) -> None:
        if n_machines < 1:
            raise ValueError(f"n_machines must be >= 1, got {n_machines}")
        self.n_machines = n_machines
        self.seed = seed
        self.schedule = schedule if schedule is not None else FaultSchedule.none()
        self.machine_ids = [machine_id_for(i, n_machines) for i in range(n_machines)]
        self._index = {machine_id: i for i, machine_id in enumerate(self.machine_ids)}
        self.profiles = [
            _draw_profile(mid, np.random.default_rng([seed, i, 0])) for i, mid in enumerate(self.machine_ids)
        ]
        self._telemetry_rng = [np.random.default_rng([seed, i, _STREAM_TELEMETRY]) for i in range(n_machines)]
        self._vibration_rng = [np.random.default_rng([seed, i, _STREAM_VIBRATION]) for i in range(n_machines)]
        self._telemetry_seq = [0] * n_machines
        self._vibration_seq = [0] * n_machines

    @classmethod
    def with_faults(
        cls, n_machines: int, seed: int, duration_s: float, fault_fraction: float = 0.3
    ) -> Fleet:
        """A fleet with a generated schedule (same seed for both)."""
        return cls(n_machines, seed, FaultSchedule.generate(n_machines, seed, duration_s, fault_fraction))

    def index_of(self, machine: int | str) -> int:
        """Machine index from an index or an id such as ``"M007"``."""
        if isinstance(machine, str):
            try:
                return self._index[machine]
            except KeyError:
                raise ValueError(f"unknown machine {machine!r}; fleet has {self.n_machines} machines") from None
        if not 0 <= machine < self.n_machines:
            raise ValueError(f"machine index {machine} out of range 0..{self.n_machines - 1}")
        return machine

    # ------------------------------------------------------------------ telemetry

    def telemetry(self, machine: int | str, t_s: float, ts_ns: int | None = None) -> TelemetryReading:
        """The next telemetry reading of a machine at simulated time ``t_s``."""
        i = self.index_of(machine)
        profile = self.profiles[i]
        n_load, n_rpm, n_temp, n_power = self._telemetry_rng[i].standard_normal(4).tolist()
        severity = self.schedule.severity(profile.machine_id, t_s)
        overheat = severity.get(FaultMode.OVERHEATING, 0.0)
        bearing = severity.get(FaultMode.BEARING_WEAR, 0.0)

        cycle = math.sin(TWO_PI * t_s / profile.load_cycle_s + profile.load_cycle_phase)
        load = profile.load_pct + profile.load_cycle_amplitude_pct * cycle + LOAD_NOISE_PCT * n_load
        load = min(100.0, max(0.0, load))
        # Temperature follows load a little, faults add their rise on top.
        temperature = (
            profile.temperature_c
            + 0.05 * (load - profile.load_pct)
            + OVERHEAT_TEMP_RISE_C * overheat
            + BEARING_TEMP_RISE_C * bearing
            + TEMP_NOISE_C * n_temp
        )
        power = profile.rated_power_kw * (
            (0.2 + 0.8 * load / 100.0) * (1.0 + OVERHEAT_POWER_GAIN * overheat) + POWER_NOISE_FRACTION * n_power
        )
        seq = self._telemetry_seq[i]
        self._telemetry_seq[i] = seq + 1
        return TelemetryReading(
            machine_id=profile.machine_id,
            seq=seq,
            ts_ns=time.time_ns() if ts_ns is None else ts_ns,
            temperature_c=temperature,
            rpm=profile.rpm + RPM_NOISE * n_rpm,
            load_pct=load,
            power_kw=max(0.0, power),
        )

    # ------------------------------------------------------------------ vibration

    def vibration(
        self,
        machine: int | str,
        t_s: float,
        n_samples: int = 256,
        sample_rate_hz: float = 1000.0,
        ts_ns: int | None = None,
    ) -> VibrationWindow:
        """The next vibration window of a machine, its samples starting at simulated ``t_s``.

        Signal model per axis: white noise, a once-per-revolution (1x) sine on
        the radial axes x/y (90 degrees apart; a little on z), gravity on z,
        plus a bearing-defect tone on all axes when the bearing wears.
        ``ts_ns`` (creation time) is the window's start stamp: the simulator
        synthesises the whole window at once.
        """
        if n_samples < 2:
            raise ValueError(f"n_samples must be >= 2, got {n_samples}")
        i = self.index_of(machine)
        profile = self.profiles[i]
        rng = self._vibration_rng[i]
        severity = self.schedule.severity(profile.machine_id, t_s)
        imbalance = severity.get(FaultMode.IMBALANCE, 0.0)
        bearing = severity.get(FaultMode.BEARING_WEAR, 0.0)

        rpm = profile.rpm + RPM_NOISE * float(rng.standard_normal())
        phase_1x, phase_bearing = rng.uniform(0.0, TWO_PI, size=2).tolist()
        t = np.arange(n_samples) / sample_rate_hz
        signals = VIBRATION_NOISE * rng.standard_normal((3, n_samples))

        angle_1x = TWO_PI * (rpm / 60.0) * t + phase_1x
        amplitude_1x = profile.residual_1x + IMBALANCE_1X_GAIN * imbalance
        signals[0] += amplitude_1x * np.sin(angle_1x)
        signals[1] += amplitude_1x * np.cos(angle_1x)
        signals[2] += 0.3 * amplitude_1x * np.sin(angle_1x) + GRAVITY
        if bearing > 0.0:
            signals += BEARING_TONE_AMPLITUDE * bearing * np.sin(
                TWO_PI * profile.bearing_defect_hz * t + phase_bearing
            )

        samples = signals.astype(np.float32)
        seq = self._vibration_seq[i]
        self._vibration_seq[i] = seq + 1
        return VibrationWindow(
            machine_id=profile.machine_id,
            seq=seq,
            ts_ns=time.time_ns() if ts_ns is None else ts_ns,
            sample_rate_hz=float(sample_rate_hz),
            axes=AccelAxes(samples[0], samples[1], samples[2]),
            metadata=VibrationMetadata(
                sensor_id=profile.sensor_id,
                mount_position=profile.mount_position,
                firmware=profile.firmware,
                rpm_at_capture=rpm,
            ),
        )
