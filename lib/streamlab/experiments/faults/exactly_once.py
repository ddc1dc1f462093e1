"""What Kafka transactions cost the processor, beside at-least-once in the same session (chapter 06).

Two figures, each for both modes: the processor's throughput over a preloaded
topic (`profiling.runs.processor_rate`, the processor started with and without
`STREAMLAB_PROCESSOR_TRANSACTIONS=1`, the modes alternating), and the hop
latencies of a fault-free scenario run of the whole application in each mode
(`baseline` and `baseline-eos`, from the Parquet rows' clocks): a read_committed
sink sees a record only once its transaction commits, so transactions show up in
the processor → sink hop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from ..application.sink_output import load_health
from ..profiling.hops import hop_latencies
from .scenarios import ScenarioResult, environment

MODES = {"at-least-once": {}, "exactly-once": {"STREAMLAB_PROCESSOR_TRANSACTIONS": "1"}}
#: the fault-free run of each mode whose hop latencies are compared
BASELINES = {"at-least-once": "baseline", "exactly-once": "baseline-eos"}
LATENCY_METRICS = ("p50_ms", "p99_ms")


def throughput(messages: int, rounds: int = 1, machines: int = 20) -> pd.DataFrame:
    """Processor records/s over `messages` preloaded readings, per mode, the modes alternating `rounds` times."""
    from ..profiling.runs import processor_rate

    rows = []
    for round_ in range(rounds):
        for mode, env in MODES.items():
            with environment(env):
                rate = processor_rate("confluent", messages, "batch", machines=machines)
            rows.append({"mode": mode, "round": round_, "records_per_s": rate["records_per_s"],
                         "cpu_us_per_record": rate["cpu_us_per_record"]})
    return pd.DataFrame(rows)


def hop_latency(results: Sequence[ScenarioResult]) -> pd.DataFrame:
    """p50/p99 per hop (ms) of each mode's fault-free Kafka run; modes whose run is missing are left out."""
    frames = []
    for mode, name in BASELINES.items():
        run = next((r for r in results if r.scenario.name == name and r.broker == "kafka"), None)
        if run is None or run.data_dir is None:
            continue
        latency = hop_latencies(load_health(run.data_dir / "health"), mode)
        frames.append(latency[latency["metric"].isin(LATENCY_METRICS)].rename(columns={"setting": "mode"}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["mode", "hop", "metric", "value", "records"])


def cost_table(rates: pd.DataFrame, latency: pd.DataFrame) -> pd.DataFrame:
    """One row per mode: records/s (median of rounds) and each hop's p50/p99, side by side."""
    table = rates.groupby("mode")[["records_per_s"]].median().round(0)
    if not latency.empty:
        wide = latency.pivot_table(index="mode", columns=["hop", "metric"], values="value")
        wide.columns = [f"{hop} {metric.removesuffix('_ms')} (ms)" for hop, metric in wide.columns]
        table = table.join(wide.round(1), how="outer")
    return table.rename(columns={"records_per_s": "records/s"}).reindex(list(MODES)).dropna(how="all")


def cost_verdict(table: pd.DataFrame, hop: str = "processor → sink") -> str:
    """The cost in one sentence, read from `cost_table`: throughput ratio and the hop's p50/p99 in both modes."""
    if not set(MODES) <= set(table.index):
        return "The cost of transactions was not measured in this build."
    alo, eos = table.loc["at-least-once"], table.loc["exactly-once"]
    if not float(alo["records/s"]) > 0 or math.isnan(float(eos["records/s"])):  # a book once read "0 / 0 (nan %)"
        return ("The cost of transactions was not measured in this build: the timed rounds processed no records "
                "at least once, so there is no rate to compare with.")
    parts = [f"in transactions the processor handled {eos['records/s']:,.0f} records/s against "
             f"{alo['records/s']:,.0f} at least once ({eos['records/s'] / alo['records/s']:.0%})"]
    p50, p99 = f"{hop} p50 (ms)", f"{hop} p99 (ms)"
    if p50 in table.columns and not math.isnan(eos[p50]) and not math.isnan(alo[p50]):
        parts.append(f"the {hop} hop took {eos[p50]:.0f} ms at p50 and {eos[p99]:.0f} ms at p99, against "
                     f"{alo[p50]:.0f} and {alo[p99]:.0f} ms")
    return "Measured in this build: " + "; ".join(parts) + "."


def exactly_once_verdict(tidy_rows: pd.DataFrame) -> str:
    """Duplicates on the processor's output topics and on disk, transactional runs against at-least-once ones."""
    crashed = tidy_rows[tidy_rows["scenario_id"].str.startswith("processor-") & (tidy_rows["broker"] == "kafka")]
    if crashed.empty:
        return "No processor crash ran on Kafka in this build."
    sentences = []
    for scenario_id, rows in crashed.groupby("scenario_id", sort=False):
        mode = "in transactions" if scenario_id.endswith("-eos") else "at least once"
        sentences.append(f"`{scenario_id}` ({mode}): {int(rows['topic_duplicated'].sum())} duplicate(s) on the "
                         f"output topics, {int(rows['duplicated'].sum())} on disk, {int(rows['lost'].sum())} lost.")
    return " ".join(sentences)
