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

from ...bench.run import measurement_markers
from ...measure import rules
from ...measure.noise import NoiseMeter
from ..application.sink_output import load_health
from ..profiling.hops import hop_latencies
from ..profiling.runs import METRICS_INTERVAL_S
from .scenarios import ScenarioResult, environment

MODES = {"at-least-once": {}, "exactly-once": {"STREAMLAB_PROCESSOR_TRANSACTIONS": "1"}}
#: the fault-free run of each mode whose hop latencies are compared
BASELINES = {"at-least-once": "baseline", "exactly-once": "baseline-eos"}
LATENCY_METRICS = ("p50_ms", "p99_ms")


#: What one throughput run must meet: 10 of the processor's 0.25-s metrics ticks, 2.5 s and 10,000 records
#: (issue 30: 2,000 readings went through in one tick and gave "0.0 / 0.0 records/s (nan %)").
RUN_RULES = rules.RunRules(min_seconds=2.5, min_records=10_000, tick_s=METRICS_INTERVAL_S)


def throughput(messages: int, rounds: int = 1, machines: int = 20) -> pd.DataFrame:
    """Processor records/s over `messages` preloaded readings, per mode, the modes alternating `rounds` times.

    Each row carries the seconds and records its rate was measured over, for `cost_validity`'s rules.
    """
    from ..profiling.runs import processor_rate

    rows = []
    for round_ in range(rounds):
        for mode, env in MODES.items():
            with environment(env), NoiseMeter(measurement_markers()) as meter:
                rate = processor_rate("confluent", messages, "batch", machines=machines)
            rows.append({"mode": mode, "round": round_, "records_per_s": rate["records_per_s"],
                         "seconds": rate["seconds"], "messages": rate["messages"],
                         "cpu_us_per_record": rate["cpu_us_per_record"], **meter.state.row()})
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
    """One row per mode: records/s (mean and sd of the rounds, their count) and each hop's p50/p99, side by side."""
    grouped = rates.groupby("mode")["records_per_s"]
    table = pd.DataFrame({"records_per_s": grouped.mean().round(0), "records/s sd": grouped.std(ddof=1).round(0),
                          "rounds": grouped.count()})
    if "machine_busy" in rates:         # rounds measured while other work took the machine (`measure.noise`)
        table["rounds on a busy machine"] = rates.groupby("mode")["machine_busy"].apply(
            lambda busy: int(busy.fillna(False).astype(bool).sum()))
    if not latency.empty:
        wide = latency.pivot_table(index="mode", columns=["hop", "metric"], values="value")
        wide.columns = [f"{hop} {metric.removesuffix('_ms')} (ms)" for hop, metric in wide.columns]
        table = table.join(wide.round(1), how="outer")
    return table.reindex(list(MODES)).dropna(how="all")


def cost_validity(rates: pd.DataFrame, run_rules: rules.RunRules = RUN_RULES) -> rules.Validity:
    """The rules the throughput comparison broke: each run long enough, ≥ 3 rounds per mode."""
    validity = rules.Validity()
    if rates.empty or not set(MODES) <= set(rates["mode"]):
        return validity.add("the throughput of both modes was not measured")
    for row in rates.itertuples():
        seconds = float(getattr(row, "seconds", math.nan))
        validity.extend([f"{row.mode}, round {row.round}: {f}"
                         for f in run_rules.failures(seconds if math.isfinite(seconds) else 0.0,
                                                     float(getattr(row, "messages", 0)))])
    by_mode = {mode: rates.loc[rates["mode"] == mode, "records_per_s"].tolist() for mode in MODES}
    return validity.add(rules.Comparison.of(by_mode["exactly-once"], by_mode["at-least-once"]).failure())


COST_FACTS = ("verdict", "eos_rate", "eos_sd", "alo_rate", "alo_sd", "ratio", "rounds",
              "eos_p50", "eos_p99", "alo_p50", "alo_p99")


def cost_facts(table: pd.DataFrame, rates: pd.DataFrame | None = None, hop: str = "processor → sink") -> dict:
    """The cost read from `cost_table`: each mode's records/s (mean, sd), their ratio, the rounds, the ``hop``'s
    p50/p99 (ms) per mode, and a short verdict: "not measured", "no conclusion: <rule>" (the throughput runs broke
    `cost_validity`'s rules), "within noise" (the mean ± sd intervals overlap) or "apart". Numbers are NaN where
    a mode was not measured.

    ``rates``: `throughput`'s rows, which the rules are checked on (runs long enough, ≥ 3 rounds a mode).
    """
    facts: dict[str, object] = {key: math.nan for key in COST_FACTS}
    if not set(MODES) <= set(table.index):
        return {**facts, "verdict": "not measured"}
    alo, eos = table.loc["at-least-once"], table.loc["exactly-once"]
    facts.update(eos_rate=float(eos["records_per_s"]), eos_sd=float(eos["records/s sd"]),
                 alo_rate=float(alo["records_per_s"]), alo_sd=float(alo["records/s sd"]),
                 ratio=float(eos["records_per_s"] / alo["records_per_s"]), rounds=int(eos["rounds"]))
    for mode, row in (("eos", eos), ("alo", alo)):
        for metric in ("p50", "p99"):
            column = f"{hop} {metric} (ms)"
            facts[f"{mode}_{metric}"] = float(row[column]) if column in table.columns else math.nan
    if rates is None:
        facts["verdict"] = "no conclusion: the rounds were not given"
        return facts
    validity = cost_validity(rates)
    if not validity.ok:
        facts["verdict"] = validity.verdict("")
        return facts
    comparison = rules.Comparison.of(rates.loc[rates["mode"] == "exactly-once", "records_per_s"].tolist(),
                                     rates.loc[rates["mode"] == "at-least-once", "records_per_s"].tolist())
    facts["verdict"] = "within noise" if comparison.overlap else "apart"
    return facts


def duplicate_facts(tidy_rows: pd.DataFrame) -> dict[str, dict[str, object]]:
    """Per mode ("at-least-once", "exactly-once"), over the Kafka runs that kill the processor (`processor-*`, and
    `services-*`, which kills it after publishing too): duplicates on the output topics, duplicates on disk,
    readings lost; "–" for a mode whose crash did not run."""
    crashed = tidy_rows[tidy_rows["scenario_id"].str.startswith(("processor-", "services-"))
                        & (tidy_rows["broker"] == "kafka")]
    keys = ("topic_duplicated", "duplicated", "lost")
    facts: dict[str, dict[str, object]] = {}
    for mode in MODES:
        mine = crashed[crashed["scenario_id"].str.endswith("-eos") == (mode == "exactly-once")]
        facts[mode] = {key: "–" if mine.empty else int(mine[key].sum()) for key in keys}
    return facts
