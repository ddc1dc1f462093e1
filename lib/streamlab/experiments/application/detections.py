"""The processor's alerts scored against the injected faults: detections, delays, lead times, false alarms."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .ground_truth import NS, GroundTruth

ALERTING_STATES = ("warning", "critical")


def score_detections(alerts: pd.DataFrame, truth: GroundTruth, health: pd.DataFrame | None = None,
                     end_s: float | None = None) -> pd.DataFrame:
    """One row per machine: its fault (if any), when the processor first alerted on it, and how often it was wrong.

    An alert's time is the send time of the reading that triggered it
    (``source_ts_ns``), in seconds since the run's epoch. For a faulty machine
    the *detection* is the first alert into ``warning``/``critical`` at or
    after the fault's onset (or the onset itself if the machine was already
    alerting then); ``delay_s`` is detection - onset and ``lead_s`` is failure
    - detection, the time maintenance has to act. Alerts into warning/critical
    on a healthy machine, or before the onset, are ``false_alarms``.

    ``outcome`` at machine level: TP (faulty, detected), FN (faulty, never
    detected), FP (healthy, alerted at least once), TN.

    With ``health`` (the Parquet records), each machine also gets
    reading-level scores of its health state: ``precision`` = share of its
    non-ok readings sent after the onset, ``recall`` = share of its readings
    after the fault was fully developed (end of the ramp) that were non-ok.
    ``end_s`` cuts recall at the end of the observed run.
    """
    alerts = alerts.copy()
    alerts["t_s"] = (alerts["source_ts_ns"].astype(np.int64) - truth.epoch_ns) / NS
    alerts = alerts.sort_values(["t_s", "seq"], kind="stable")
    faults = truth.faults.set_index("machine_id")
    machines = sorted(set(truth.machines) | set(alerts["machine_id"]))
    reading_scores = _reading_scores(health, truth, end_s) if health is not None else None
    rows = []
    for machine in machines:
        mine = alerts[alerts["machine_id"] == machine]
        raising = mine[mine["state"].isin(ALERTING_STATES) & ~mine["previous_state"].isin(ALERTING_STATES)]
        into_bad = mine[mine["state"].isin(ALERTING_STATES)]
        row: dict[str, Any] = {"machine_id": machine, "fault": "none", "start_s": math.nan, "failure_s": math.nan,
                               "alerts": int(len(mine))}
        if machine in faults.index:
            fault = faults.loc[machine]
            start, failure = float(fault["start_s"]), float(fault["failure_s"])
            row.update(fault=str(fault["mode"]), start_s=start, failure_s=failure)
            before = mine[mine["t_s"] < start]
            already = len(before) > 0 and before.iloc[-1]["state"] in ALERTING_STATES
            after = into_bad[into_bad["t_s"] >= start]
            detected_s = start if already else (float(after.iloc[0]["t_s"]) if len(after) else math.nan)
            false_alarms = int((raising["t_s"] < start).sum())
            row.update(
                detected_s=detected_s,
                detected_state=("(already alerting)" if already else (after.iloc[0]["state"] if len(after) else "")),
                delay_s=detected_s - start, lead_s=failure - detected_s,
                false_alarms=false_alarms, outcome="TP" if not math.isnan(detected_s) else "FN",
            )  # fmt: skip
        else:
            false_alarms = int(len(raising))
            row.update(detected_s=math.nan, detected_state="", delay_s=math.nan, lead_s=math.nan,
                       false_alarms=false_alarms, outcome="FP" if false_alarms else "TN")
        if reading_scores is not None:
            row.update(reading_scores.get(machine, {"precision": math.nan, "recall": math.nan}))
        rows.append(row)
    columns = ["machine_id", "fault", "start_s", "failure_s", "alerts", "detected_s", "detected_state", "delay_s",
               "lead_s", "false_alarms", "outcome"]
    if reading_scores is not None:
        columns += ["precision", "recall"]
    return pd.DataFrame(rows, columns=columns)


def _reading_scores(health: pd.DataFrame, truth: GroundTruth, end_s: float | None) -> dict[str, dict[str, float]]:
    faults = truth.faults.set_index("machine_id")
    t_s = (health["source_ts_ns"].to_numpy(dtype=np.int64) - truth.epoch_ns) / NS
    flagged = health["state"].isin(ALERTING_STATES).to_numpy()
    machine = health["machine_id"].to_numpy()
    scores: dict[str, dict[str, float]] = {}
    for name in np.unique(machine):
        mine = machine == name
        start = float(faults.loc[name, "start_s"]) if name in faults.index else math.inf
        developed = float(faults.loc[name, "developed_s"]) if name in faults.index else math.inf
        positive = mine & flagged
        true_positive = positive & (t_s >= start)
        precision = true_positive.sum() / positive.sum() if positive.sum() else math.nan
        should = mine & (t_s >= developed) & (t_s <= (end_s if end_s is not None else math.inf))
        recall = (should & flagged).sum() / should.sum() if should.sum() else math.nan
        scores[str(name)] = {"precision": float(precision), "recall": float(recall)}
    return scores


def fleet_scores(per_machine: pd.DataFrame) -> dict[str, float]:
    """Machine-level precision and recall, and the detection delay and lead time over detected faults."""
    counts = per_machine["outcome"].value_counts()
    tp, fp, fn = (int(counts.get(k, 0)) for k in ("TP", "FP", "FN"))
    detected = per_machine[per_machine["outcome"] == "TP"]
    return {
        "faulty": tp + fn, "healthy": int(len(per_machine) - tp - fn), "TP": tp, "FP": fp, "FN": fn,
        "TN": int(counts.get("TN", 0)),
        "precision": tp / (tp + fp) if tp + fp else math.nan,
        "recall": tp / (tp + fn) if tp + fn else math.nan,
        "false_alarms": int(per_machine["false_alarms"].sum()),
        "median_delay_s": float(detected["delay_s"].median()) if len(detected) else math.nan,
        "median_lead_s": float(detected["lead_s"].median()) if len(detected) else math.nan,
        "min_lead_s": float(detected["lead_s"].min()) if len(detected) else math.nan,
    }  # fmt: skip


def alert_timeline(alerts: pd.DataFrame, truth: GroundTruth) -> pd.DataFrame:
    """Alerts on the run's time axis for plotting: ``machine_id``, ``t_s``, ``state``, ``during_fault``."""
    frame = alerts[["machine_id", "state", "previous_state", "reason", "source_ts_ns"]].copy()
    frame["t_s"] = (frame["source_ts_ns"].astype(np.int64) - truth.epoch_ns) / NS
    starts = truth.faults.set_index("machine_id")["start_s"]
    frame["during_fault"] = frame["t_s"] >= frame["machine_id"].map(starts).fillna(math.inf)
    return frame.drop(columns="source_ts_ns").sort_values("t_s", ignore_index=True)


def false_alarms(timeline: pd.DataFrame) -> pd.DataFrame:
    """The alerts of an `alert_timeline` into warning or critical outside any fault."""
    return timeline[~timeline["during_fault"] & timeline["state"].isin(ALERTING_STATES)]


def detections_table(scores: pd.DataFrame) -> pd.DataFrame:
    """`score_detections` for reading: machines that are not quiet healthy ones. A value that does not apply
    (no fault, not detected) stays missing: the book shows it as "–" and says why."""
    shown = scores[scores["outcome"] != "TN"].set_index("machine_id")
    columns = ["fault", "start_s", "detected_s", "delay_s", "lead_s", "false_alarms", "outcome"]
    columns += [c for c in ("precision", "recall") if c in shown]
    return shown[columns].rename(columns={
        "start_s": "onset (s)", "detected_s": "detected (s)", "delay_s": "delay (s)", "lead_s": "lead (s)",
        "false_alarms": "false alarms"}).round(2)


def detected_during_ramp(scores: pd.DataFrame, truth: GroundTruth) -> int:
    """How many detections came while the fault was still ramping up (before it was fully developed)."""
    detected = scores[scores["outcome"] == "TP"].merge(truth.faults[["machine_id", "developed_s"]], on="machine_id")
    return int((detected["detected_s"] < detected["developed_s"]).sum())
