"""Analysis of one bounded run of the application (chapter 01): what the services and the files say.

A run of :class:`streamlab.pipeline.runner.AppRun` leaves, under its data directory,

* ``metrics/<service>.jsonl`` -- one JSON line per service every couple of
  seconds: cumulative counters, their rates (``*_per_s``) and gauges;
* ``health/date=…/hour=…/part-*.parquet`` -- one row per telemetry reading,
  with the timestamps of every stage: ``source_ts_ns`` (the generator made and
  sent the reading), ``ts_ns`` (the processor scored it), ``sink_received_ns``
  (the sink polled it) and ``sink_ts_ns`` (the sink's file write was durable);
* ``alerts/alerts.csv`` -- the state changes, with the same timestamps;
* ``ground_truth.json`` -- the injected faults in simulated seconds since
  ``epoch_ns`` (the wall clock at which the generators started).

The functions here turn those into tidy DataFrames for the book: rates, latency
per stage, an exactly-once check by sequence numbers and the detections scored
against the faults. They are pure (files in, frames out) and unit-tested on
small synthetic data. :class:`RunSampler` and the ``Kafka*`` helpers are the
only parts that talk to processes or brokers while a run is going on.

Time axis: every frame that has a time column calls it ``t_s``, seconds since
``epoch_ns``, so generator metrics, consumer lag, latencies and fault onsets
share one axis (the simulated time of the fault schedule is that same clock).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

NS = 1_000_000_000

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

ALERTING_STATES = ("warning", "critical")


# --------------------------------------------------------------------------- metrics JSONL


def load_metrics(metrics_dir: str | Path, epoch_ns: int | None = None) -> pd.DataFrame:
    """Every numeric value of every service's metrics lines, tidy.

    Columns: ``service``, ``ts`` (wall clock, s), ``t_s`` (seconds since
    ``epoch_ns``, or since the first line when it is None), ``metric``,
    ``value``. Non-numeric values (the encoded histograms a sink writes at
    shutdown) are left out; a truncated last line (a killed service) is skipped.
    """
    rows: list[dict[str, Any]] = []
    for path in sorted(Path(metrics_dir).glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            service = str(record.get("service", path.stem))
            ts = float(record["ts"])
            for key, value in record.items():
                if key in ("service", "ts") or isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                rows.append({"service": service, "ts": ts, "metric": key, "value": float(value)})
    frame = pd.DataFrame(rows, columns=["service", "ts", "metric", "value"])
    origin = epoch_ns / NS if epoch_ns is not None else (frame["ts"].min() if len(frame) else 0.0)
    frame.insert(2, "t_s", frame["ts"] - origin)
    return frame


def final_counters(metrics: pd.DataFrame) -> pd.DataFrame:
    """The last value of every cumulative counter per service (rates, gauges and latencies left out).

    One row per service, one column per counter (``sent``, ``acked``,
    ``processed``, ``written``, ...); a service that never counted something
    has 0 there.
    """
    gauges = ("_per_s", "_ms", "behind", "buffered", "unacked", "uptime_s")
    counters = metrics[~metrics["metric"].str.contains("|".join(gauges))]
    last = counters.sort_values("ts").groupby(["service", "metric"])["value"].last()
    return last.unstack("metric").fillna(0).astype(int)


def service_rates(metrics: pd.DataFrame, series: Mapping[str, tuple[str, str]] | None = None) -> pd.DataFrame:
    """Messages per second over time for the main counter of each service.

    ``series`` maps a display name to (service, rate metric); the default is
    what the pipeline's services report. Columns: ``t_s``, ``series``, ``rate``.
    """
    series = series or {
        "telemetry generator: sent": ("telemetry-generator", "sent_per_s"),
        "vibration generator: sent": ("vibration-generator", "sent_per_s"),
        "processor: health records out": ("health-processor", "processed_per_s"),
        "processor: vibration windows in": ("health-processor", "vibration_per_s"),
        "Parquet sink: rows written": ("health-parquet-sink", "written_per_s"),
        "CSV sink: alerts written": ("alert-csv-sink", "written_per_s"),
    }
    parts = []
    for name, (service, metric) in series.items():
        rows = metrics[(metrics["service"] == service) & (metrics["metric"] == metric)]
        parts.append(pd.DataFrame({"t_s": rows["t_s"].to_numpy(), "series": name, "rate": rows["value"].to_numpy()}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["t_s", "series", "rate"])


def steady_rate(rates: pd.DataFrame, start_s: float, end_s: float) -> pd.Series:
    """Mean rate per series between ``start_s`` and ``end_s`` (leaves out start-up and drain)."""
    window = rates[(rates["t_s"] >= start_s) & (rates["t_s"] <= end_s)]
    return window.groupby("series", sort=False)["rate"].mean()


# --------------------------------------------------------------------------- Parquet health records


def load_health(health_dir: str | Path) -> pd.DataFrame:
    """All health records of a run, file by file, with the union of the files' columns.

    Not ``pd.read_parquet(folder)``: pyarrow takes the schema of the first file
    it finds, and the sink's files differ in columns (records scored before the
    rolling window filled have no telemetry features), so reading the folder as
    one dataset silently drops the ``f_temp_*`` columns. Rows are sorted by
    ``source_ts_ns``; ``file`` names the part file each row came from.
    """
    paths = sorted(Path(health_dir).rglob("*.parquet"))
    frames = []
    for path in paths:
        frame = pd.read_parquet(path)
        frame["file"] = path.relative_to(health_dir).as_posix()
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["machine_id", "seq", "ts_ns", "source_ts_ns", "sink_received_ns", "sink_ts_ns"])
    health = pd.concat(frames, ignore_index=True, sort=False)
    return health.sort_values(["source_ts_ns", "machine_id"], kind="stable").reset_index(drop=True)


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


# --------------------------------------------------------------------------- exactly once


def expected_per_machine(sent_total: int, machine_ids: Sequence[str]) -> dict[str, int]:
    """Readings each machine must have: the generator sends one per machine per tick, so ``sent / machines``."""
    machines = len(machine_ids)
    if machines == 0:
        raise ValueError("no machines")
    ticks, rest = divmod(int(sent_total), machines)
    if rest:
        raise ValueError(f"{sent_total} readings do not split evenly over {machines} machines: a tick was cut short")
    return dict.fromkeys(machine_ids, ticks)


def exactly_once(records: pd.DataFrame, expected: Mapping[str, int]) -> pd.DataFrame:
    """Per machine: did sequence numbers 0 … n-1 each arrive exactly once?

    ``records`` needs ``machine_id`` and ``seq``; ``expected`` maps every
    machine that sent something to how many readings it sent. Columns:
    ``expected``, ``rows``, ``distinct``, ``duplicates`` (rows beyond the
    first of a seq), ``missing`` (seqs in 0 … n-1 not present), ``unexpected``
    (seqs outside that range, or machines nobody expected) and
    ``exactly_once``.
    """
    rows = []
    by_machine = {machine: group["seq"].to_numpy() for machine, group in records.groupby("machine_id")}
    for machine in sorted(set(expected) | set(by_machine)):
        seqs = by_machine.get(machine, np.array([], dtype=np.int64))
        n = int(expected.get(machine, 0))
        distinct = np.unique(seqs)
        in_range = distinct[(distinct >= 0) & (distinct < n)]
        row = {
            "machine_id": machine, "expected": n, "rows": int(seqs.size), "distinct": int(distinct.size),
            "duplicates": int(seqs.size - distinct.size), "missing": int(n - in_range.size),
            "unexpected": int(distinct.size - in_range.size),
        }  # fmt: skip
        row["exactly_once"] = row["duplicates"] == 0 and row["missing"] == 0 and row["unexpected"] == 0
        rows.append(row)
    return pd.DataFrame(rows, columns=["machine_id", "expected", "rows", "distinct", "duplicates", "missing",
                                       "unexpected", "exactly_once"])


def order_violations(records: pd.DataFrame, by: str) -> pd.DataFrame:
    """Per machine: how often ``seq`` went backwards when the records are put in the order of column ``by``.

    With ``by="ts_ns"`` (when the processor scored a reading) this tests the
    per-key ordering Kafka promises within a partition: 0 inversions means the
    processor saw every machine's readings in the order they were sent.
    """
    rows = []
    for machine, group in records.groupby("machine_id"):
        seqs = group.sort_values([by, "seq"], kind="stable")["seq"].to_numpy()
        rows.append({"machine_id": machine, "records": int(seqs.size),
                     "inversions": int((np.diff(seqs) < 0).sum()) if seqs.size > 1 else 0})
    return pd.DataFrame(rows, columns=["machine_id", "records", "inversions"])


# --------------------------------------------------------------------------- detections vs. ground truth


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


# --------------------------------------------------------------------------- files on disk


def sink_files(data_dir: str | Path, folders: Sequence[str] = ("health", "alerts")) -> pd.DataFrame:
    """Every file under the sinks' folders: ``path`` (relative), ``kind``, ``bytes``, ``rows``.

    Rows come from the Parquet footer (no data read) or the CSV's lines minus
    the header. Temp files of an interrupted write (``.*.tmp``) are listed as
    kind ``temp`` -- after a clean run there must be none.
    """
    import pyarrow.parquet as pq

    root = Path(data_dir)
    rows = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*")):
            if not path.is_file():
                continue
            name = path.name
            if name.startswith(".") and name.endswith(".tmp"):
                kind, count = "temp", math.nan
            elif path.suffix == ".parquet":
                kind, count = "parquet", pq.ParquetFile(path).metadata.num_rows
            elif path.suffix == ".csv":
                with open(path, "rb") as handle:
                    count = max(sum(1 for _ in handle) - 1, 0)
                kind = "csv"
            else:
                kind, count = path.suffix.lstrip(".") or "other", math.nan
            rows.append({"path": path.relative_to(root).as_posix(), "kind": kind, "bytes": path.stat().st_size,
                         "rows": count})
    return pd.DataFrame(rows, columns=["path", "kind", "bytes", "rows"])


def files_summary(files: pd.DataFrame) -> pd.DataFrame:
    """Per folder (first path component) and kind: files, rows, bytes, and rows and bytes per file."""
    if files.empty:
        return pd.DataFrame(columns=["folder", "kind", "files", "rows", "bytes", "rows_per_file", "bytes_per_row"])
    frame = files.assign(folder=files["path"].str.split("/").str[0])
    summary = frame.groupby(["folder", "kind"], sort=False).agg(files=("path", "size"), rows=("rows", "sum"),
                                                                bytes=("bytes", "sum")).reset_index()
    summary["rows"] = summary["rows"].astype(int)
    summary["rows_per_file"] = (summary["rows"] / summary["files"]).round(1)
    summary["bytes_per_row"] = (summary["bytes"] / summary["rows"].where(summary["rows"] > 0)).round(1)
    return summary


# --------------------------------------------------------------------------- dead letters


def publish_malformed(publisher: Any, topic: str, count: int, keys: Sequence[str]) -> int:
    """Publish ``count`` payloads no codec accepts (empty, binary junk, wrong fields), for the dead-letter path.

    ``publisher`` is a :class:`streamlab.transport.Publisher`; returns how
    many are still unacknowledged after a flush (0 when all arrived).
    """
    variants = (b"", b"\xff\xfe not a message", b'{"machine_id": 7}', b"[1, 2, 3]", b'{"seq": "x"}')
    headers = {"codec": b"orjson", "type": b"telemetry"}
    for i in range(count):
        publisher.publish(topic, keys[i % len(keys)], variants[i % len(variants)], headers)
    return publisher.flush(30)


def dead_letter_table(messages: Iterable[Any]) -> pd.DataFrame:
    """Dead letters (objects with ``key``, ``value``, ``headers``, ``offset``) as a readable table."""
    rows = []
    for msg in messages:
        headers = {k: (v.decode(errors="replace") if isinstance(v, bytes) else str(v))
                   for k, v in (msg.headers or {}).items()}
        value = msg.value or b""
        rows.append({
            "offset": msg.offset,
            "key": msg.key.decode(errors="replace") if isinstance(msg.key, bytes) else msg.key,
            "payload": value[:24].decode("utf-8", errors="backslashreplace") if value else "(empty)",
            "failed_by": headers.get("failed_by", ""),
            "source": f"{headers.get('source_topic', '?')}[{headers.get('source_partition', '?')}]"
                      f"@{headers.get('source_offset', '?')}",
            "error": headers.get("error", ""),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["offset", "key", "payload", "failed_by", "source", "error"])


# --------------------------------------------------------------------------- sampling a live run


class RunSampler:
    """Samples consumer lag and each service's CPU and memory in a background thread while a run goes on.

    ``pids`` maps service name → process id (``AppRun.services``); ``lag`` is
    a callable returning {group: lag or None} (e.g. :class:`KafkaLagProbe`),
    or None. Use as a context manager; :meth:`frames` returns the tidy
    ``lag`` (``t_s``, ``group``, ``lag``) and ``resources`` (``t_s``,
    ``service``, ``cpu_pct``, ``rss_mib``) frames, with ``t_s`` relative to
    ``epoch_ns`` (or to the first sample). CPU is in percent of one core, so a
    busy two-core machine reaches 200; the row ``MACHINE`` is the whole
    machine (all processes, memory in use), the context every other number
    needs on a shared machine.
    """

    MACHINE = "(whole machine)"

    def __init__(self, pids: Mapping[str, int], lag: Callable[[], Mapping[str, int | None]] | None = None,
                 interval_s: float = 1.0, epoch_ns: int | None = None) -> None:
        self.pids = dict(pids)
        self.lag = lag
        self.interval_s = interval_s
        self.epoch_ns = epoch_ns
        self.lag_rows: list[dict[str, Any]] = []
        self.resource_rows: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_cpu: dict[str, tuple[float, float]] = {}
        self._machine_started = False

    def __enter__(self) -> RunSampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="run-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                self.sample()
                self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))
        finally:
            close = getattr(self.lag, "close", None)
            if close is not None:  # the probe's clients were made on this thread: they end on it
                close()

    def sample(self) -> None:
        """Take one sample now (also what the thread does every interval)."""
        import psutil

        now = time.time()
        machine_pct = psutil.cpu_percent(interval=None)  # since the previous call; the first call is a baseline
        if self._machine_started:
            self.resource_rows.append({"ts": now, "service": self.MACHINE,
                                       "cpu_pct": machine_pct * (psutil.cpu_count() or 1),
                                       "rss_mib": psutil.virtual_memory().used / 2**20})
        self._machine_started = True
        for service, pid in self.pids.items():
            try:
                proc = psutil.Process(pid)
                with proc.oneshot():
                    times = proc.cpu_times()
                    rss = proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
            cpu = times.user + times.system
            previous = self._last_cpu.get(service)
            self._last_cpu[service] = (now, cpu)
            if previous is None:
                continue  # the first sample only sets the baseline
            wall = now - previous[0]
            cpu_pct = 100.0 * (cpu - previous[1]) / wall if wall > 0 else math.nan
            self.resource_rows.append({"ts": now, "service": service, "cpu_pct": cpu_pct, "rss_mib": rss / 2**20})
        if self.lag is not None:
            try:
                lags = self.lag()
            except Exception as exc:  # a slow or failing broker must not kill the sampler
                if len(self.errors) < 5:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                return
            self.lag_rows.extend({"ts": now, "group": group, "lag": lag} for group, lag in lags.items())

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        lag = pd.DataFrame(self.lag_rows, columns=["ts", "group", "lag"])
        resources = pd.DataFrame(self.resource_rows, columns=["ts", "service", "cpu_pct", "rss_mib"])
        firsts = [frame["ts"].min() for frame in (lag, resources) if len(frame)]
        origin = self.epoch_ns / NS if self.epoch_ns is not None else (min(firsts) if firsts else 0.0)
        for frame in (lag, resources):
            frame.insert(0, "t_s", frame.pop("ts") - origin)
        return lag, resources


def resource_summary(resources: pd.DataFrame) -> pd.DataFrame:
    """Per service: mean and peak CPU (% of one core) and peak resident memory (MiB)."""
    grouped = resources.groupby("service", sort=False)
    return pd.DataFrame({
        "mean CPU (% of a core)": grouped["cpu_pct"].mean().round(1),
        "peak CPU (% of a core)": grouped["cpu_pct"].max().round(1),
        "peak memory (MiB)": grouped["rss_mib"].max().round(1),
        "samples": grouped.size(),
    })  # fmt: skip


class KafkaLagProbe:
    """Consumer lag of a few groups, cheaply: committed offsets of the given topics vs. their end offsets.

    ``groups`` maps a group id to the topics it consumes. Lag of a partition
    is end − committed, or end − earliest when the group has committed
    nothing there yet (as `kafka-consumer-groups` shows it).

    Its Kafka clients belong to the thread that first calls it (a
    :class:`RunSampler`'s thread): made there, used there only, closed there by
    :meth:`close`, which the sampler calls when its loop ends. Committed offsets
    come from one offsets reader per group, not from the AdminClient, whose
    ``list_consumer_group_offsets`` kills the process when a group coordinator
    moves (issue 20; the rules are in :mod:`streamlab.transport.kafka_admin`).
    """

    def __init__(self, bootstrap: str, groups: Mapping[str, Sequence[str]], timeout_s: float = 5.0) -> None:
        self.bootstrap = bootstrap
        self.groups = {group: list(topics) for group, topics in groups.items()}
        self.timeout_s = timeout_s
        self._partitions: dict[str, list[int]] = {}
        self._owner: int | None = None
        self._admin: Any = None
        self._readers: dict[str, Any] = {}
        self._closed = False

    def _check_owner(self) -> None:
        if self._closed:
            raise RuntimeError("this KafkaLagProbe is closed")
        me = threading.get_ident()
        if self._owner is None:
            self._owner = me
        elif self._owner != me:
            raise RuntimeError("a KafkaLagProbe is used only by the thread that first called it")

    def _partitions_of(self, topic: str) -> list[int]:
        if topic not in self._partitions:
            metadata = self._admin.list_topics(topic, timeout=self.timeout_s)
            self._partitions[topic] = sorted(metadata.topics[topic].partitions)
        return self._partitions[topic]

    def __call__(self) -> dict[str, int | None]:
        from confluent_kafka import TopicPartition
        from confluent_kafka.admin import OffsetSpec

        from ..transport.kafka_admin import admin_client, committed_offsets, offsets_consumer

        self._check_owner()
        if self._admin is None:
            self._admin = admin_client(self.bootstrap)
        try:
            topics = sorted({t for ts in self.groups.values() for t in ts})
            parts = [TopicPartition(t, p) for t in topics for p in self._partitions_of(t)]
            ends = self._offsets(parts, OffsetSpec.latest())
            starts = self._offsets(parts, OffsetSpec.earliest())
            result: dict[str, int | None] = {}
            for group, group_topics in self.groups.items():
                if group not in self._readers:
                    self._readers[group] = offsets_consumer(self.bootstrap, group)
                reader = self._readers[group]
                wanted = [(t, p) for t in group_topics for p in self._partitions_of(t)]
                try:
                    committed = committed_offsets(reader, wanted, self.timeout_s)
                finally:
                    reader.poll(0)  # serve its queued log lines here, on the owner thread
                result[group] = sum(ends[key] - (committed[key] if committed.get(key, -1) >= 0 else starts[key])
                                    for key in wanted)
            return result
        finally:
            self._admin.poll(0)  # the same for the admin client, whose calls never poll

    def _offsets(self, parts: list[Any], spec: Any) -> dict[tuple[str, int], int]:
        futures = self._admin.list_offsets({tp: spec for tp in parts}, request_timeout=self.timeout_s)
        return {(tp.topic, tp.partition): fut.result().offset for tp, fut in futures.items()}

    def close(self) -> None:
        """Close the clients, on the owner thread, once; later calls do nothing."""
        if self._closed:
            return
        if self._owner is not None and self._owner != threading.get_ident():
            raise RuntimeError("a KafkaLagProbe is closed by the thread that used it")
        self._closed = True
        readers, self._readers = self._readers, {}
        for reader in readers.values():
            reader.close()
        self._admin = None  # no future of it is pending: every call above waited for its own


# --------------------------------------------------------------------------- the cluster's view


def cluster_topics(bootstrap: str, names: Sequence[str]) -> pd.DataFrame:
    """What the cluster reports for ``names``: partitions, replication, ISR, leaders, messages and topic configs."""
    from confluent_kafka.admin import AdminClient, ConfigResource

    from ..stack.explorer import describe_topics
    from ..transport.kafka_admin import quiet_logger

    parts = describe_topics(bootstrap)
    parts = parts[parts["topic"].isin(list(names))]
    admin = AdminClient({"bootstrap.servers": bootstrap, "logger": quiet_logger()})
    resources = [ConfigResource("topic", name) for name in names]
    configs = {res.name: fut.result(timeout=10) for res, fut in admin.describe_configs(resources).items()}
    rows = []
    for name in names:
        mine = parts[parts["topic"] == name]
        config = configs.get(name, {})

        def value(key: str) -> str:
            entry = config.get(key)
            return str(entry.value) if entry is not None else ""

        rows.append({
            "topic": name,
            "partitions": int(len(mine)),
            "replication": int(mine["replicas"].map(len).max()) if len(mine) else 0,
            "min ISR size seen": int(mine["isr"].map(len).min()) if len(mine) else 0,
            "leaders on brokers": ", ".join(str(b) for b in sorted(set(mine["leader"]))),
            "messages": int(mine["messages"].sum()) if "messages" in mine else 0,
            "min.insync.replicas": value("min.insync.replicas"),
            "retention.ms": value("retention.ms"),
            "cleanup.policy": value("cleanup.policy"),
        })  # fmt: skip
    return pd.DataFrame(rows)


def count_records(bootstrap: str, topic: str, timeout_s: float = 30.0) -> tuple[int, int]:
    """Records a reader from the beginning really gets from ``topic`` now, and how many distinct keys they have.

    For a compacted topic the first number shrinks towards the second once the
    log cleaner has run; the offset range (what ``describe_topics`` counts)
    does not, because compaction leaves holes in the offsets.
    """
    from confluent_kafka import Consumer, TopicPartition

    from ..transport.kafka_admin import quiet_logger

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "streamlab-count", "enable.auto.commit": False,
                         "enable.partition.eof": True, "logger": quiet_logger()})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {}
        assignment = []
        for pid in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, pid), timeout=10)
            if high > low:
                ends[pid] = high
                assignment.append(TopicPartition(topic, pid, low))
        consumer.assign(assignment)
        records, keys = 0, set()
        open_parts = set(ends)
        deadline = time.monotonic() + timeout_s
        while open_parts and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=10_000, timeout=0.5):
                if msg.error():
                    if msg.error().code() == -191:  # _PARTITION_EOF
                        open_parts.discard(msg.partition())
                    continue
                records += 1
                keys.add(msg.key())
                if msg.offset() + 1 >= ends[msg.partition()]:
                    open_parts.discard(msg.partition())
        return records, len(keys)
    finally:
        consumer.close()


def delete_namespace(bootstrap: str, topics: Sequence[str], groups: Sequence[str]) -> None:
    """Remove a run's topics and consumer groups from the cluster (best effort)."""
    from confluent_kafka.admin import AdminClient

    from ..transport.kafka_admin import quiet_logger

    admin = AdminClient({"bootstrap.servers": bootstrap, "logger": quiet_logger()})
    for futures in (admin.delete_consumer_groups(list(groups), request_timeout=10) if groups else {},
                    admin.delete_topics(list(topics), request_timeout=30) if topics else {}):
        for future in futures.values():
            try:
                future.result(timeout=30)
            except Exception:
                pass  # already gone, or a group with members left: nothing to do for a report
