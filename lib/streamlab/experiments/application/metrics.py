"""The services' metrics lines (``metrics/<service>.jsonl``): counters, rates and gauges, tidy."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .ground_truth import NS


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


#: Series of `service_rates` that carry a stream through the pipeline: series → (stream, stage).
STREAM_STAGES: dict[str, tuple[str, str]] = {
    "telemetry generator: sent": ("telemetry → health records", "generator (sent)"),
    "processor: health records out": ("telemetry → health records", "processor (out)"),
    "Parquet sink: rows written": ("telemetry → health records", "sink (written)"),
    "vibration generator: sent": ("vibration windows", "generator (sent)"),
    "processor: vibration windows in": ("vibration windows", "processor (in)"),
}
STAGE_ORDER = ("generator (sent)", "processor (in)", "processor (out)", "sink (written)")


def stage_flow(rates: pd.DataFrame) -> pd.DataFrame:
    """The rates of `service_rates` that follow a stream, with ``stream`` and ``stage`` columns for plotting."""
    flow = rates[rates["series"].isin(list(STREAM_STAGES))].copy()
    flow["stream"] = flow["series"].map(lambda name: STREAM_STAGES[name][0])
    flow["stage"] = flow["series"].map(lambda name: STREAM_STAGES[name][1])
    return flow


def per_machine_rate_hz(health: pd.DataFrame) -> pd.Series:
    """Each machine's readings per second, measured from the send timestamps of its health records."""
    return health.groupby("machine_id")["source_ts_ns"].agg(lambda ts: (len(ts) - 1) / ((ts.max() - ts.min()) / NS))


def generator_lateness(metrics: pd.DataFrame) -> pd.Series:
    """How late the generators' loops ran behind their timetable (``behind_ms``), every metrics line."""
    rows = metrics[(metrics["metric"] == "behind_ms") & metrics["service"].str.endswith("generator")]
    return rows["value"]


def generator_table(counters: pd.DataFrame, steady: pd.Series, machines: int) -> pd.DataFrame:
    """Sent, acknowledged and the steady rate (fleet and per machine) of both generators."""
    names = {"telemetry generator": "telemetry generator: sent", "vibration generator": "vibration generator: sent"}
    return pd.DataFrame({
        "messages sent": [int(counters.loc[g.replace(" ", "-"), "sent"]) for g in names],
        "acknowledged by Kafka": [int(counters.loc[g.replace(" ", "-"), "acked"]) for g in names],
        "steady rate (msg/s)": [float(steady[s]) for s in names.values()],
        "per machine (Hz)": [float(steady[s]) / machines for s in names.values()],
    }, index=list(names)).round(2)  # fmt: skip
