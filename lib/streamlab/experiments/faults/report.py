"""The scenario table, the figures' data and the facts chapter 06 states, from a list of results.

Facts, not sentences: numbers, names, "none"; the chapter's Markdown says them (issue 35)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import pandas as pd

from .scenarios import ScenarioResult

BROKER_LABEL = {"kafka": "Kafka", "rabbitmq": "RabbitMQ"}

#: the scenario table's columns, in reading order, with their headings
TABLE_COLUMNS = {
    "scenario_id": "scenario",
    "broker": "broker",
    "sink": "sink",
    "faults": "faults",
    "sent": "sent",
    "on_broker": "on broker",
    "on_disk": "on disk",
    "lost": "lost",
    "lost_by_broker": "gone (broker)",
    "duplicated": "dup.",
    "topic_duplicated": "dup. on topic",
    "reordered": "reord.",
    "recovery_s": "recov. (s)",
    "temp_files_left": "tmp files",
}


def tidy(results: Sequence[ScenarioResult]) -> pd.DataFrame:
    """One row per scenario × broker × sink, every ledger figure (what the chapter saves as CSV)."""
    frames = [r.rows.assign(wall_s=r.wall_s) for r in results]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(TABLE_COLUMNS))


def scenario_table(tidy_rows: pd.DataFrame) -> pd.DataFrame:
    """The table the chapter shows: scenario × broker × sink → sent, on disk, lost, duplicated, reordered, recovery."""
    table = tidy_rows[list(TABLE_COLUMNS)].copy()
    table["broker"] = table["broker"].map(BROKER_LABEL).fillna(table["broker"])
    table["recovery_s"] = table["recovery_s"].round(1)
    return table.rename(columns=TABLE_COLUMNS).set_index(["scenario", "broker", "sink"])


def timelines(results: Sequence[ScenarioResult]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The figures' data: per run, delay to disk by send time, and the run's events; labelled by scenario/broker."""
    lines, events = [], []
    for r in results:
        label = {"scenario": r.scenario.label, "broker": BROKER_LABEL.get(r.broker, r.broker)}
        lines.append(r.timeline.assign(**label))
        events.append(r.events.assign(**label))
    empty = pd.DataFrame(columns=["scenario", "broker", "t_s", "event"])
    return (pd.concat(lines, ignore_index=True) if lines else pd.DataFrame(),
            pd.concat(events, ignore_index=True) if events else empty)


def of_kind(results: Sequence[ScenarioResult], kinds: Sequence[str]) -> list[ScenarioResult]:
    return [r for r in results if r.scenario.kind in kinds]


def totals(tidy_rows: pd.DataFrame, kinds_ids: Sequence[str] | None = None) -> dict[str, int]:
    """Sums over the rows (optionally only the scenarios named): sent, on disk, lost, duplicated, reordered."""
    rows = tidy_rows if kinds_ids is None else tidy_rows[tidy_rows["scenario_id"].isin(kinds_ids)]
    return {k: int(rows[k].sum()) for k in ("sent", "on_disk", "lost", "duplicated", "reordered")}


def promise_facts(tidy_rows: pd.DataFrame) -> dict[str, object]:
    """The promise "each record exactly once on disk": the runs that make it, how many broke it (a record lost or
    duplicated on disk) and which ("none" when none did); the chapter says it in words."""
    promised = tidy_rows[tidy_rows["promise"] == "exactly once on disk"]
    broken = promised[(promised["lost"] > 0) | (promised["duplicated"] > 0)]
    names = sorted({run_name(r.scenario_id, r.broker) for r in broken.itertuples()})
    return {"runs": len(promised[["scenario_id", "broker"]].drop_duplicates()), "broken": len(names),
            "broken_runs": listed(names)}


def run_name(scenario_id: str, broker: str) -> str:
    """A run's short name, as the tables show it: scenario id and broker."""
    return f"{scenario_id} ({BROKER_LABEL.get(broker, broker)})"


def recovery(tidy_rows: pd.DataFrame, scenario_id: str, broker: str, sink: str = "Parquet") -> float:
    rows = tidy_rows[(tidy_rows["scenario_id"] == scenario_id) & (tidy_rows["broker"] == broker)
                     & (tidy_rows["sink"] == sink)]
    return float(rows["recovery_s"].iloc[0]) if len(rows) else math.nan


def listed(items: Sequence[str], none: str = "none") -> str:
    """Names or reasons joined for a glue (``none`` for an empty list): a list, not a sentence."""
    return "; ".join(items) if items else none


def scenario_legend(results: Sequence[ScenarioResult]) -> pd.DataFrame:
    """What each scenario id in the table does, and what it promises."""
    seen = {r.scenario.name: r.scenario for r in results}
    return pd.DataFrame([{"scenario": s.name, "fault": s.label, "promise": s.promise} for s in seen.values()]
                        ).set_index("scenario") if seen else pd.DataFrame(columns=["fault", "promise"])


def disk_full_facts(tidy_rows: pd.DataFrame, events: pd.DataFrame) -> dict[str, dict[str, object]]:
    """Per broker, what the full disk did to the Parquet sink: its OS error ("none" if it did not stop), readings
    lost, duplicated and reordered after space returned, partial temp files left; "–" where it did not run."""
    rows = tidy_rows[(tidy_rows["scenario_id"] == "parquet-disk-full") & (tidy_rows["sink"] == "Parquet")]
    facts: dict[str, dict[str, object]] = {}
    for broker, label in BROKER_LABEL.items():
        mine = rows[rows["broker"] == broker]
        if mine.empty:
            facts[broker] = dict.fromkeys(("error", "lost", "duplicated", "reordered", "temp_files"), "–")
            continue
        row = mine.iloc[0]
        failed = events[(events["broker"] == label) & events["event"].str.endswith("failed")]
        facts[broker] = {"error": os_error(str(failed["detail"].iloc[0])) if len(failed) else "none",
                         "lost": int(row["lost"]), "duplicated": int(row["duplicated"]),
                         "reordered": int(row["reordered"]), "temp_files": int(row["temp_files_left"])}
    return facts


def os_error(detail: str) -> str:
    """The OS error in a service's exit detail ("[Errno 28] No space left on device"), without the log line's
    time and logger around it; the whole detail where it names none."""
    found = re.search(r"\[Errno \d+\][^;\n]*", detail)
    return found.group(0).strip() if found else detail


def broker_fault_rows(tidy_rows: pd.DataFrame) -> pd.DataFrame:
    """The Parquet rows of the broker-fault runs (killed, paused, disk lost, cut off)."""
    return tidy_rows[tidy_rows["scenario_id"].str.contains("broker|leader|disk-lost")
                     & (tidy_rows["sink"] == "Parquet")]


def broker_facts(tidy_rows: pd.DataFrame) -> dict[str, object]:
    """Over the broker-fault runs: how many ran, readings lost and gone from the broker (summed), the runs that
    lost any ("none"), and the longest recovery (s; NaN where none recovered within its run or none ran)."""
    rows = broker_fault_rows(tidy_rows)
    losing = sorted({run_name(r.scenario_id, r.broker) for r in rows.itertuples() if r.lost})
    return {"runs": len(rows), "lost": int(rows["lost"].sum()), "gone": int(rows["lost_by_broker"].sum()),
            "losing_runs": listed(losing),
            "worst_recovery_s": float(rows["recovery_s"].max()) if len(rows) else math.nan}


PARTITION_FACTS = ("node", "moved_after_s", "majority_view", "failed", "sent", "lost", "duplicated", "recovery_s")


def partition_facts(
    tidy_rows: pd.DataFrame, events: pd.DataFrame, scenario_id: str = "kafka-broker-partitioned"
) -> dict[str, object]:
    """The cut-off leader run, from its events (the majority's view) and its Parquet row: the node cut off, the
    seconds until the majority showed another leader ("never" within the run), that view, the services that
    failed meanwhile, readings sent, lost and duplicated, recovery (s). Every key is present ("–" each) when the run
    or its cut did not happen, so that the chapter's glue keys exist; the chapter lists what did not run."""
    missing: dict[str, object] = dict.fromkeys(PARTITION_FACTS, "–")
    rows = tidy_rows[(tidy_rows["scenario_id"] == scenario_id) & (tidy_rows["sink"] == "Parquet")]
    if rows.empty:
        return missing
    row = rows.iloc[0]
    mine = events[events["scenario"] == row["scenario"]]
    cut = mine[mine["event"].str.endswith("cut off from its peers")]
    if cut.empty:
        return missing
    node, cut_s = cut["event"].iloc[0].split()[1], float(cut["t_s"].iloc[0])
    views = mine[mine["event"] == "telemetry/0 as the majority sees it"]
    moved = views[~views["detail"].str.startswith(f"leader {node},") & ~views["detail"].str.contains("Error")]
    failed = mine[mine["event"].str.endswith(" failed")]
    return {"node": node,
            "moved_after_s": round(float(moved["t_s"].iloc[0]) - cut_s, 1) if len(moved) else "never",
            "majority_view": str(moved["detail"].iloc[0]) if len(moved) else "–",
            "failed": listed([f"{e.event} ({e.detail})" for e in failed.itertuples()]),
            "sent": int(row["sent"]), "lost": int(row["lost"]), "duplicated": int(row["duplicated"]),
            "recovery_s": float(row["recovery_s"])}


def moves_table(results: Sequence[ScenarioResult]) -> pd.DataFrame:
    """One row per "moves" run: moves made, exits of the consuming services, their commits retried (the
    coordinator moved) or refused (a rebalance), and the ledger summed over both streams."""
    rows = []
    for r in results:
        ledger = r.rows[["sent", "on_disk", "lost", "duplicated"]].sum()
        rows.append({"broker": BROKER_LABEL.get(r.broker, r.broker), "moves": int(r.rows["faults"].iloc[0]),
                     "service exits": r.services.exits, "commits retried": r.services.commit_retries,
                     "commits refused": r.services.commits_refused, "sent": int(ledger["sent"]),
                     "on disk": int(ledger["on_disk"]), "lost": int(ledger["lost"]),
                     "dup.": int(ledger["duplicated"])})
    return pd.DataFrame(rows).set_index("broker")


def move_facts(results: Sequence[ScenarioResult]) -> dict[str, dict[str, object]]:
    """`moves_table`'s figures per broker, both brokers always present so that the prose's glue keys
    exist; "–" for a broker whose run did not happen (the chapter says why)."""
    table = moves_table(results) if results else pd.DataFrame()
    keys = {"moves": "moves", "exits": "service exits", "retried": "commits retried", "lost": "lost",
            "duplicated": "dup."}
    return {broker: {key: int(table.loc[label, column]) if label in table.index else "–"
                     for key, column in keys.items()}
            for broker, label in BROKER_LABEL.items()}
