"""The services' metrics lines (``metrics/<service>.jsonl``): counters, rates and gauges, tidy."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ...pipeline.runner import instance_service
from .ground_truth import NS


def load_metrics(metrics_dir: str | Path, epoch_ns: int | None = None) -> pd.DataFrame:
    """Every numeric value of every service's metrics lines, tidy.

    Columns: ``service``, ``instance`` (``health-processor-2`` of service
    ``health-processor``: each processor instance writes its own file), ``ts``
    (wall clock, s), ``t_s`` (seconds since ``epoch_ns``, or since the first
    line when it is None), ``metric``, ``value``. Non-numeric values (the encoded histograms a sink writes at
    shutdown) are left out; a truncated last line (a killed service) is skipped.
    """
    rows: list[dict[str, Any]] = []
    for path in sorted(Path(metrics_dir).glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            instance = str(record.get("service", path.stem))
            service = instance_service(instance)
            ts = float(record["ts"])
            for key, value in record.items():
                if key in ("service", "ts") or isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                rows.append({"service": service, "instance": instance, "ts": ts, "metric": key,
                             "value": float(value)})
    frame = pd.DataFrame(rows, columns=["service", "instance", "ts", "metric", "value"])
    origin = epoch_ns / NS if epoch_ns is not None else (frame["ts"].min() if len(frame) else 0.0)
    frame.insert(3, "t_s", frame["ts"] - origin)
    return frame


def final_counters(metrics: pd.DataFrame) -> pd.DataFrame:
    """The last value of every cumulative counter per service (rates, gauges and latencies left out).

    One row per service, one column per counter (``sent``, ``acked``,
    ``processed``, ``written``, ...), summed over the service's instances (each
    instance's last value: a killed instance counts what it last reported); a
    service that never counted something has 0 there.
    """
    gauges = ("_per_s", "_ms", "behind", "buffered", "unacked", "uptime_s")
    counters = metrics[~metrics["metric"].str.contains("|".join(gauges))]
    last = counters.sort_values("ts").groupby(["service", "instance", "metric"])["value"].last()
    return last.groupby(["service", "metric"]).sum().unstack("metric").fillna(0).astype(int)


def _summed_over_instances(rows: pd.DataFrame) -> pd.DataFrame:
    """One rate series of a service's instances added up: at each line's time, every instance's latest rate
    (an instance counts from its first line to its last, not after it died). Columns ``t_s``, ``value``."""
    if rows["instance"].nunique() <= 1:
        return rows[["t_s", "value"]]
    wide = rows.pivot_table(index="t_s", columns="instance", values="value", aggfunc="last").sort_index()
    alive = wide.notna().cumsum().gt(0) & wide[::-1].notna().cumsum()[::-1].gt(0)
    summed = wide.ffill().where(alive).sum(axis=1, min_count=1)
    return pd.DataFrame({"t_s": summed.index.to_numpy(), "value": summed.to_numpy()})


def service_rates(metrics: pd.DataFrame, series: Mapping[str, tuple[str, str]] | None = None) -> pd.DataFrame:
    """Messages per second over time for the main counter of each service.

    ``series`` maps a display name to (service, rate metric); the default is
    what the pipeline's services report. A service's instances are added up
    (`_summed_over_instances`). Columns: ``t_s``, ``series``, ``rate``.
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
        rows = _summed_over_instances(metrics[(metrics["service"] == service) & (metrics["metric"] == metric)])
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
