"""The targets the project set itself, against what this build measured: one table for the reflection.

The performance targets live in chapters 03 (the RabbitMQ path beside
PerfTest) and 04 (the processor's throughput, each hop beside Kafka's own
EndToEndLatency). Each chapter saves its verdict as a CSV next to its
executed notebook; this module reads those files back, so the reflection
quotes the same build's figures and not what we remember of an earlier one.
A chapter whose file is missing (run alone, or failed) is listed as such.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

SCORECARD_COLUMNS = ["chapter", "figure", "measured", "target", "met"]

#: Where each verdict is saved, relative to the executed chapters' folder.
SOURCES = {
    "rabbitmq": ("03-communication-patterns", "rabbitmq-speed.csv"),
    "throughput": ("04-profiling", "throughput-targets.csv"),
    "hops": ("04-profiling", "hop-targets.csv"),
}


def _read(folder: Path, chapter: str, name: str) -> pd.DataFrame | None:
    path = folder / f"{chapter}_files" / name
    return pd.read_csv(path) if path.exists() else None


def _met(value: object) -> bool | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value).strip().lower() == "true"


def rabbitmq_rows(table: pd.DataFrame) -> list[dict]:
    """pika ÷ PerfTest ratios (and the app's hops ÷ raw pika) with their targets."""
    return [{"chapter": "03", "figure": f"{row.figure} ({row.setting}), pika ÷ reference",
             "measured": "–" if math.isnan(row.ratio) else f"{row.ratio:.2f}×", "target": row.target,
             "met": _met(row.met), "value": float(row.ratio), "unit": "×"}
            for row in table.itertuples()]


def throughput_rows(table: pd.DataFrame) -> list[dict]:
    """The processor's fast-path records/s per client against its target."""
    return [{"chapter": "04", "figure": f"processor records/s (wall clock), {row['client']}",
             "measured": f"{row['records_per_s batch']:,.0f}", "target": f"≥ {row['target']:,.0f}",
             "met": _met(row["met (wall clock)"]), "value": float(row["records_per_s batch"]),
             "unit": "records/s"}
            for _, row in table.iterrows()]


def hop_rows(table: pd.DataFrame, setting: str = "after") -> list[dict]:
    """Each hop's p50 and p99 as multiples of Kafka's EndToEndLatency, with the application's defaults."""
    rows = []
    for row in table[table["setting"] == setting].itertuples():
        rows.append({"chapter": "04", "figure": f"hop {row.hop}, p50 ÷ Kafka's tool",
                     "measured": f"{row.p50_vs_kafka:.2f}×", "target": "≤ 2×",
                     "met": bool(row.p50_vs_kafka <= 2.0), "value": float(row.p50_vs_kafka), "unit": "×"})
        rows.append({"chapter": "04", "figure": f"hop {row.hop}, p99 ÷ Kafka's tool",
                     "measured": f"{row.p99_vs_kafka:.2f}×", "target": "≤ 3×",
                     "met": bool(row.p99_vs_kafka <= 3.0), "value": float(row.p99_vs_kafka), "unit": "×"})
    return rows


def targets_scorecard(folder: Path | str = ".") -> pd.DataFrame:
    """Every target with this build's figure and whether it was met, from the executed chapters in ``folder``."""
    return _scorecard_rows(folder)[SCORECARD_COLUMNS]


#: Summary figures beside the scorecard's: (chapter, file, what it gives) — chapter 01's hop latencies
#: after its warm-up and chapter 02's producer ratio at the send grid's centre point.
SUMMARY_SOURCES = {
    "latency": ("01-application", "latency-summary.csv"),
    "send": ("02-kafka-deep-dives", "dd2-send-limits.csv"),
}


def summary_rows(folder: Path | str = ".") -> list[dict]:
    """The summaries' headline numbers (figure, value, unit), from the chapters' saved tables; none if missing."""
    folder = Path(folder)
    rows: list[dict] = []
    latency = _read(folder, *SUMMARY_SOURCES["latency"])
    if latency is not None and {"records sent", "stage", "p50_ms", "p99_ms"} <= set(latency.columns):
        steady = latency[latency["records sent"] != "whole run"]
        for row in steady.itertuples():
            for metric in ("p50_ms", "p99_ms"):
                rows.append({"figure": f"ch01 {row.stage} {metric.removesuffix('_ms')} (after warm-up)",
                             "value": float(getattr(row, metric)), "unit": "ms"})
    send = _read(folder, *SUMMARY_SOURCES["send"])
    if send is not None and {"point", "driver", "ratio_to_java"} <= set(send.columns) and not send.empty:
        centre = send[(send["point"] == send["point"].iloc[0]) & (send["driver"] == "confluent-kafka")]
        if not centre.empty:
            rows.append({"figure": f"ch02 confluent-kafka ÷ kafka-producer-perf-test ({centre['point'].iloc[0]})",
                         "value": float(centre["ratio_to_java"].iloc[0]), "unit": "×"})
    return rows


def headline_figures(folder: Path | str = ".") -> pd.DataFrame:
    """The build's headline figures as numbers (figure, value, unit): what the results database records.

    The scorecard's figures are the ones the book's conclusions rest on, and the summaries' (chapter 01's
    hop latencies, chapter 02's producer ratio) the ones a reader quotes, so they are the ones whose
    movement from build to build chapter 05 measures.
    """
    rows = _scorecard_rows(folder)
    card = rows.loc[rows["value"].notna(), ["figure", "value", "unit"]]
    extra = pd.DataFrame(summary_rows(folder), columns=["figure", "value", "unit"])
    return pd.concat([card, extra], ignore_index=True) if not extra.empty else card.reset_index(drop=True)


def _scorecard_rows(folder: Path | str) -> pd.DataFrame:
    folder = Path(folder)
    build = {"rabbitmq": rabbitmq_rows, "throughput": throughput_rows, "hops": hop_rows}
    rows: list[dict] = []
    for key, (chapter, name) in SOURCES.items():
        table = _read(folder, chapter, name)
        if table is None:
            rows.append({"chapter": chapter[:2], "figure": f"{name} (not in this build)", "measured": "–",
                         "target": "–", "met": None, "value": math.nan, "unit": ""})
        else:
            rows += build[key](table)
    return pd.DataFrame(rows, columns=[*SCORECARD_COLUMNS, "value", "unit"])
