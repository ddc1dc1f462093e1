"""Latency of a reading, stage by stage, from the four timestamps every health record carries.

All timestamps are the same machine's wall clock (``time.time_ns()`` in each
process), so differences between processes are meaningful.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .ground_truth import NS

#: Latency stages of one health record, in pipeline order: (name, from column, to column).
STAGES: tuple[tuple[str, str, str], ...] = (
    ("generator → processor", "source_ts_ns", "ts_ns"),
    ("processor → sink", "ts_ns", "sink_received_ns"),
    ("sink buffer → durable write", "sink_received_ns", "sink_ts_ns"),
    ("end to end (send → durable)", "source_ts_ns", "sink_ts_ns"),
)
STAGE_NAMES: tuple[str, ...] = tuple(name for name, _, _ in STAGES)

#: Percentiles the book reports (100 = the maximum).
REPORTED_PERCENTILES: tuple[float, ...] = (50.0, 90.0, 99.0, 99.9, 100.0)


def latency_stages(health: pd.DataFrame, epoch_ns: int | None = None) -> pd.DataFrame:
    """One row per (health record, stage): ``machine_id``, ``seq``, ``t_s`` (send time), ``stage``, ``latency_ms``.

    All timestamps are the same machine's wall clock (``time.time_ns()`` in
    each process), so differences between processes are meaningful here.
    """
    origin = epoch_ns if epoch_ns is not None else (int(health["source_ts_ns"].min()) if len(health) else 0)
    t_s = (health["source_ts_ns"].to_numpy(dtype=np.int64) - origin) / NS
    parts = []
    for name, start, end in STAGES:
        latency = (health[end].to_numpy(dtype=np.int64) - health[start].to_numpy(dtype=np.int64)) / 1e6
        parts.append(pd.DataFrame({"machine_id": health["machine_id"].to_numpy(), "seq": health["seq"].to_numpy(),
                                   "t_s": t_s, "stage": name, "latency_ms": latency}))
    frame = pd.concat(parts, ignore_index=True)
    frame["stage"] = pd.Categorical(frame["stage"], categories=list(STAGE_NAMES), ordered=True)
    return frame


def latency_summary(stages: pd.DataFrame, after_s: float | None = None) -> pd.DataFrame:
    """Per stage: count, p50, p90, p99, p99.9 and max in ms (exact percentiles of every record).

    ``after_s`` keeps only records sent at or after that time (``t_s``), to
    separate the steady state from the start-up transient.
    """
    data = stages if after_s is None else stages[stages["t_s"] >= after_s]
    rows = []
    for stage in STAGE_NAMES:
        values = data.loc[data["stage"] == stage, "latency_ms"].to_numpy()
        row: dict[str, Any] = {"stage": stage, "records": int(values.size)}
        for p in REPORTED_PERCENTILES:
            row[_percentile_column(p)] = float(np.percentile(values, p)) if values.size else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _percentile_column(p: float) -> str:
    return "max_ms" if p >= 100 else f"p{p:g}_ms".replace(".", "")


def latency_percentile_curve(stages: pd.DataFrame, percentiles: Sequence[float] = (
        0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100), after_s: float | None = None) -> pd.DataFrame:
    """Tidy ``stage``, ``percentile``, ``latency_ms`` for :func:`streamlab.plots.latency_percentiles`."""
    data = stages if after_s is None else stages[stages["t_s"] >= after_s]
    rows = []
    for stage in STAGE_NAMES:
        values = data.loc[data["stage"] == stage, "latency_ms"].to_numpy()
        if values.size:
            rows.extend({"stage": stage, "percentile": float(p), "latency_ms": float(np.percentile(values, p))}
                        for p in percentiles)
    return pd.DataFrame(rows, columns=["stage", "percentile", "latency_ms"])


def latency_over_time(stages: pd.DataFrame, bin_s: float = 1.0,
                      stage_names: Sequence[str] = STAGE_NAMES) -> pd.DataFrame:
    """p50 and p99 per stage and time bin of the send time.

    Columns: ``t_s`` (bin start), ``stage``, ``statistic`` (p50 | p99), ``latency_ms``.
    """
    if bin_s <= 0:
        raise ValueError(f"bin_s must be > 0, got {bin_s}")
    data = stages[stages["stage"].isin(list(stage_names))].copy()
    data["t_bin"] = np.floor(data["t_s"] / bin_s) * bin_s
    grouped = data.groupby(["t_bin", "stage"], observed=True)["latency_ms"]
    frame = pd.concat({"p50": grouped.quantile(0.5), "p99": grouped.quantile(0.99)}, names=["statistic"])
    frame = frame.rename("latency_ms").reset_index().rename(columns={"t_bin": "t_s"})
    frame["stage"] = frame["stage"].astype(str)
    return frame[["t_s", "stage", "statistic", "latency_ms"]].sort_values(["stage", "statistic", "t_s"],
                                                                            ignore_index=True)


def largest_stage(summary: pd.DataFrame, statistic: str = "p50_ms") -> tuple[str, float]:
    """The stage (end to end left out) with the largest ``statistic`` in a `latency_summary`, and its value."""
    per_stage = summary.set_index("stage").loc[list(STAGE_NAMES[:-1]), statistic]
    stage = str(per_stage.idxmax())
    return stage, float(per_stage[stage])
