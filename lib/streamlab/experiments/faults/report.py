"""The scenario table, the figures' data and the verdicts chapter 06 quotes, from a list of results."""

from __future__ import annotations

import math
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


def promise_verdict(tidy_rows: pd.DataFrame) -> str:
    """One sentence on the promise "each record exactly once on disk", read from the rows."""
    promised = tidy_rows[tidy_rows["promise"] == "exactly once on disk"]
    if promised.empty:
        return "No scenario that promises exactly once on disk ran in this profile."
    broken = promised[(promised["lost"] > 0) | (promised["duplicated"] > 0)]
    runs = promised[["scenario_id", "broker"]].drop_duplicates()
    if broken.empty:
        return (f"The promise held in every one of the {len(runs)} runs that make it: "
                "no record lost and none duplicated on disk.")
    names = ", ".join(sorted({f"{r.scenario} on {BROKER_LABEL.get(r.broker, r.broker)}" for r in broken.itertuples()}))
    return f"**The promise broke** in {len(broken[['scenario_id', 'broker']].drop_duplicates())} run(s): {names}."


def recovery(tidy_rows: pd.DataFrame, scenario_id: str, broker: str, sink: str = "Parquet") -> float:
    rows = tidy_rows[(tidy_rows["scenario_id"] == scenario_id) & (tidy_rows["broker"] == broker)
                     & (tidy_rows["sink"] == sink)]
    return float(rows["recovery_s"].iloc[0]) if len(rows) else math.nan


def skipped_phrase(skipped: Sequence[str]) -> str:
    """The scenarios this build left out and why, as one sentence (empty when none was)."""
    if not skipped:
        return ""
    return "Not measured in this build: " + "; ".join(skipped) + "."


def not_measured(what: str, skipped: Sequence[str]) -> str:
    """The one sentence that stands in for a table whose scenarios did not run, with the reason."""
    reasons = list(skipped) or ["not selected in this profile (see book/profiles.yaml)"]
    return f"{what[:1].upper() + what[1:]} was not measured in this build: {'; '.join(reasons)}."


def scenario_legend(results: Sequence[ScenarioResult]) -> pd.DataFrame:
    """What each scenario id in the table does, and what it promises."""
    seen = {r.scenario.name: r.scenario for r in results}
    return pd.DataFrame([{"scenario": s.name, "fault": s.label, "promise": s.promise} for s in seen.values()]
                        ).set_index("scenario") if seen else pd.DataFrame(columns=["fault", "promise"])


def disk_full_verdict(tidy_rows: pd.DataFrame, events: pd.DataFrame) -> str:
    """What the full disk did, read from the rows and the events: the sink's error, losses, partial files."""
    rows = tidy_rows[(tidy_rows["scenario_id"] == "parquet-disk-full") & (tidy_rows["sink"] == "Parquet")]
    if rows.empty:
        return "The full-disk scenario did not run in this build."
    parts = []
    for row in rows.itertuples():
        broker = BROKER_LABEL.get(row.broker, row.broker)
        failed = events[(events["broker"] == broker) & events["event"].str.endswith("failed")]
        how = (f"the sink stopped with `{failed['detail'].iloc[0]}`" if len(failed)
               else "the sink did not stop")
        temp = (f"**{row.temp_files_left} partial temp file(s) left behind** in the Parquet folder"
                if row.temp_files_left else "no partial file left behind")
        parts.append(f"On {broker} {how}; after space returned, {row.lost} readings were lost and "
                     f"{row.duplicated} duplicated, {row.reordered} reached disk out of order, and {temp}.")
    return " ".join(parts)


def broker_verdict(tidy_rows: pd.DataFrame) -> str:
    """One sentence per broker-fault run (Parquet stream): lost, gone from the broker, recovery; empty if none ran."""
    rows = tidy_rows[
        tidy_rows["scenario_id"].str.contains("broker|leader|disk-lost") & (tidy_rows["sink"] == "Parquet")
    ]
    sentences = []
    for row in rows.itertuples():
        recovery = "never within the run" if math.isnan(row.recovery_s) else f"{row.recovery_s:.1f} s"
        flag = "**" if row.lost else ""
        sentences.append(f"{row.scenario} ({BROKER_LABEL.get(row.broker, row.broker)}): {flag}{row.lost} of "
                         f"{row.sent} readings lost{flag}, {row.lost_by_broker} gone from the broker, "
                         f"recovery {recovery}.")
    return " ".join(sentences) or "no broker fault ran in this build."


def partition_verdict(
    tidy_rows: pd.DataFrame, events: pd.DataFrame, scenario_id: str = "kafka-broker-partitioned"
) -> str:
    """What the cut-off leader run showed, read from its events (the majority's view) and its Parquet row."""
    rows = tidy_rows[(tidy_rows["scenario_id"] == scenario_id) & (tidy_rows["sink"] == "Parquet")]
    if rows.empty:
        return "The partition scenario did not run in this build."
    row = rows.iloc[0]
    mine = events[events["scenario"] == row["scenario"]]
    cut = mine[mine["event"].str.endswith("cut off from its peers")]
    if cut.empty:
        return "The cut was not made in this run."
    node, cut_s = cut["event"].iloc[0].split()[1], float(cut["t_s"].iloc[0])
    views = mine[mine["event"] == "telemetry/0 as the majority sees it"]
    moved = views[~views["detail"].str.startswith(f"leader {node},") & ~views["detail"].str.contains("Error")]
    if moved.empty:
        leadership = f"broker {node} still led `telemetry` partition 0 as the majority saw it when the cut was healed"
    else:
        leadership = (f"{float(moved['t_s'].iloc[0]) - cut_s:.1f} s after the cut the majority showed "
                      f"{moved['detail'].iloc[0]} for `telemetry` partition 0 (broker {node} fenced and "
                      "dropped from the ISR)")
    failed = mine[mine["event"].str.endswith(" failed")]
    failures = ("; meanwhile " + ", ".join(f"{e.event} ({e.detail})" for e in failed.itertuples()) +
                ", each restarted") if len(failed) else "; no service failed"
    recovery = "never within the run" if math.isnan(row["recovery_s"]) else f"{row['recovery_s']:.1f} s"
    flag = "**" if row["lost"] or row["duplicated"] else ""
    return (f"With broker {node} cut off: {leadership}{failures}. {flag}{row['lost']} of {row['sent']} readings "
            f"lost and {row['duplicated']} duplicated on disk{flag}; the first reading sent after the cut was on "
            f"disk {recovery} later.")



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
