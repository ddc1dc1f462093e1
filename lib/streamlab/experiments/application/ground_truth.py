"""The injected faults of a run (``ground_truth.json``) and the run's time axis.

Every frame of the analysis that has a time column calls it ``t_s``: seconds
since ``epoch_ns``, the wall clock at which the generators started. Generator
metrics, consumer lag, latencies and fault onsets share that one axis (the
simulated time of the fault schedule is the same clock).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

NS = 1_000_000_000


@dataclass(frozen=True)
class GroundTruth:
    epoch_ns: int
    machines: list[str]
    faults: pd.DataFrame  # machine_id, mode, start_s, ramp_s, developed_s, failure_s


def load_ground_truth(path: str | Path) -> GroundTruth:
    """``ground_truth.json`` as written by the telemetry generator."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return ground_truth_from_dict(data)


def ground_truth_from_dict(data: Mapping[str, Any]) -> GroundTruth:
    faults = pd.DataFrame(list(data["faults"]), columns=["machine_id", "mode", "start_s", "ramp_s", "failure_s"])
    faults["developed_s"] = faults["start_s"] + faults["ramp_s"]
    faults = faults[["machine_id", "mode", "start_s", "ramp_s", "developed_s", "failure_s"]]
    return GroundTruth(int(data["epoch_ns"]), list(data["machines"]), faults)
