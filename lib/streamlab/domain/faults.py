"""The seeded fault schedule: which machine degrades how, and when.

The schedule is the ground truth the processor's detections are scored against.
A fault's *severity* rises linearly from 0 at ``start_s`` to 1 at
``start_s + ramp_s`` (the fault is then fully developed) and stays at 1.
``failure_s`` is when the machine would break down; the simulation keeps it
running (we do not model the stop), but ``failure_s - first alert`` is the lead
time a predictive-maintenance system is judged by.

Times are simulated seconds since the start of the run, so the same schedule
drives a real-time generator (``t_s = now - start``) and a fast-forward test.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np


class FaultMode(enum.Enum):
    """How a machine degrades; each mode shows in different signals (see ``fleet``)."""

    BEARING_WEAR = "bearing_wear"
    """Energy in the bearing-defect band (tone near 150-250 Hz) grows; temperature rises a little."""
    OVERHEATING = "overheating"
    """Temperature ramps up by tens of degrees, power draw rises."""
    IMBALANCE = "imbalance"
    """A strong once-per-revolution (1x rpm) component in the radial vibration axes."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault of one machine (times in simulated seconds)."""

    machine_id: str
    mode: FaultMode
    start_s: float
    ramp_s: float
    failure_s: float

    def __post_init__(self) -> None:
        if self.ramp_s <= 0:
            raise ValueError(f"ramp_s must be > 0, got {self.ramp_s}")
        if self.failure_s < self.start_s + self.ramp_s:
            raise ValueError("failure_s must not come before the fault is fully developed")

    @property
    def developed_s(self) -> float:
        """When severity reaches 1 (end of the ramp)."""
        return self.start_s + self.ramp_s

    def severity(self, t_s: float) -> float:
        """0 before the onset, linear ramp to 1, then 1."""
        if t_s <= self.start_s:
            return 0.0
        return min(1.0, (t_s - self.start_s) / self.ramp_s)


def machine_id_for(index: int, n_machines: int) -> str:
    """``M007``-style ids, zero-padded to at least three digits so they sort naturally."""
    width = max(3, len(str(max(n_machines - 1, 0))))
    return f"M{index:0{width}d}"


class FaultSchedule:
    """All faults of a fleet, looked up by machine id.

    At most one fault per machine: that keeps the ground truth unambiguous
    (every positive has exactly one cause the report can name).
    """

    def __init__(self, faults: list[Fault]) -> None:
        self._by_machine: dict[str, Fault] = {}
        for fault in faults:
            if fault.machine_id in self._by_machine:
                raise ValueError(f"more than one fault for {fault.machine_id}")
            self._by_machine[fault.machine_id] = fault

    @classmethod
    def none(cls) -> FaultSchedule:
        """A healthy fleet."""
        return cls([])

    @classmethod
    def generate(
        cls, n_machines: int, seed: int, duration_s: float, fault_fraction: float = 0.3
    ) -> FaultSchedule:
        """A deterministic schedule: ``round(fault_fraction * n_machines)`` machines fail.

        Onsets fall in the first half of the run (10-50 % of ``duration_s``),
        ramps take 10-25 % of it, so every fault is fully developed before the
        end and both the healthy and the faulty phase of a machine are observed.
        """
        if not 0.0 <= fault_fraction <= 1.0:
            raise ValueError(f"fault_fraction must be within [0, 1], got {fault_fraction}")
        if duration_s <= 0:
            raise ValueError(f"duration_s must be > 0, got {duration_s}")
        rng = np.random.default_rng([seed, 0xFA017])
        n_faulty = round(fault_fraction * n_machines)
        chosen = np.sort(rng.choice(n_machines, size=n_faulty, replace=False))
        modes = list(FaultMode)
        faults = []
        for index in chosen.tolist():
            start_s = duration_s * rng.uniform(0.10, 0.50)
            ramp_s = duration_s * rng.uniform(0.10, 0.25)
            failure_s = start_s + ramp_s + duration_s * rng.uniform(0.05, 0.30)
            mode = modes[int(rng.integers(len(modes)))]
            faults.append(Fault(machine_id_for(index, n_machines), mode, start_s, ramp_s, failure_s))
        return cls(faults)

    @property
    def faults(self) -> list[Fault]:
        return list(self._by_machine.values())

    def fault_of(self, machine_id: str) -> Fault | None:
        return self._by_machine.get(machine_id)

    def severity(self, machine_id: str, t_s: float) -> dict[FaultMode, float]:
        """Severity in 0..1 per fault mode active on the machine (empty when healthy)."""
        fault = self._by_machine.get(machine_id)
        if fault is None:
            return {}
        level = fault.severity(t_s)
        return {fault.mode: level} if level > 0.0 else {}

    def is_faulty(self, machine_id: str, t_s: float) -> bool:
        """Ground truth: has a fault begun on this machine at ``t_s``?"""
        fault = self._by_machine.get(machine_id)
        return fault is not None and t_s > fault.start_s

    def is_developed(self, machine_id: str, t_s: float) -> bool:
        """Ground truth for scoring: is the fault past its ramp (severity 1) at ``t_s``?

        Scoring usually leaves out the ramp itself, where "should it alert yet?"
        has no crisp answer.
        """
        fault = self._by_machine.get(machine_id)
        return fault is not None and t_s >= fault.developed_s

    def __len__(self) -> int:
        return len(self._by_machine)

    def __repr__(self) -> str:
        return f"FaultSchedule({len(self)} faults)"
