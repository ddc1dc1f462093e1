"""The chapter's closing table: each deep dive, the one number that matters from this run, the fleet's setting."""

from __future__ import annotations

import pandas as pd

NOT_MEASURED = "not measured in this build"

#: The nine deep dives in the assignment's order.
DEEP_DIVES = ("1 consumer groups", "2 limits of send/receive", "3 distribution of brokers and partitions",
              "4 replication factor and partitions", "5 offsets/reprocessing", "6 retention/compaction",
              "7 Kafka Streams", "8 retries", "9 keys")


#: Use cases each feature serves well beyond this fleet (the assignment's "effective use cases"): who needs it.
USE_CASES = {
    "1 consumer groups": "order processing or log shipping scaled out by adding instances; one group per "
                         "downstream system (search index, warehouse, cache) reading the same events",
    "2 limits of send/receive": "clickstream and IoT ingestion at 100,000s of small events/s, where batching "
                                "and compression decide the hardware bill",
    "3 distribution of brokers and partitions": "multi-tenant platforms that must spread leaders so no broker is "
                                                 "a hot spot; rack-aware placement for zone failures",
    "4 replication factor and partitions": "payments, orders, audit logs (RF 3, acks=all); metrics and "
                                           "telemetry that tolerate a gap (acks=1)",
    "5 offsets/reprocessing": "replaying a day of events after a bug fix; backfilling a new downstream store; "
                              "exactly-once sinks that commit after the write",
    "6 retention/compaction": "change-data-capture tables and user profiles (latest value per key); "
                              "event sourcing; config distribution",
    "7 Kafka Streams": "fraud scoring and windowed aggregates (per-card counts, per-store sums) with local "
                       "state restored from a changelog",
    "8 retries": "payment and ledger producers that must not write twice; calls to flaky external APIs via "
                 "retry topics",
    "9 keys": "per-account or per-device ordering (bank accounts, IoT devices, shopping carts); joins of "
              "streams keyed alike",
}


def missing(closing: pd.DataFrame) -> list[str]:
    """The deep dives of ``closing`` this build did not measure (the chapter names them, or says none)."""
    return closing.loc[closing["the number that matters (this run)"] == NOT_MEASURED, "deep dive"].tolist()


def summary_table(durability: pd.DataFrame, groups: pd.DataFrame, order: pd.DataFrame,
                  hot: pd.DataFrame, *, crashes: pd.DataFrame | None = None, rebuilt: pd.DataFrame | None = None,
                  producer_retries: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per deep dive; the numbers come from the frames of this run, the rest says it was not measured."""
    by = durability.set_index(["replication", "acks"])
    largest = groups.iloc[-1]
    inv = order.groupby("design")["inversions"].sum()
    rows = {
        "1 consumer groups": (f"{int(largest['idle_members'])} of {int(largest['consumers'])} members idle on 6 "
                              "partitions", "partitions = the most instances of a service ever run (6)"),
        "4 replication factor and partitions": (
            f"acknowledged-then-lost after a broker died with its disk: RF 1: "
            f"{int(by.loc[(1, '1'), 'lost_acknowledged'])}, RF 3 acks=1: "
            f"{int(by.loc[(3, '1'), 'lost_acknowledged'])}, RF 3 acks=all: "
            f"{int(by.loc[(3, 'all'), 'lost_acknowledged'])}",
            "RF 3, acks=all, min.insync.replicas=2, idempotent producer"),
        "9 keys": (f"per-machine inversions: {int(inv['keyed by machine'])} keyed vs {int(inv['no key']):,} "
                   f"unkeyed; hot-key skew {hot.iloc[0]['skew_max_over_mean']:.1f}× → "
                   f"{hot.iloc[1]['skew_max_over_mean']:.1f}× salted",
                   "key = machine id, partitioner=murmur2_random; salt only a known hot key"),
    }
    rows.update(_offsets_retention_retries(crashes, rebuilt, producer_retries))
    return pd.DataFrame([{"deep dive": name, "the number that matters (this run)": rows.get(name, (NOT_MEASURED,))[0],
                          "setting for the fleet": rows.get(name, (None, "—"))[1],
                          "effective use cases": USE_CASES[name]} for name in DEEP_DIVES])


def _offsets_retention_retries(crashes: pd.DataFrame | None, rebuilt: pd.DataFrame | None,
                               producer: pd.DataFrame | None) -> dict[str, tuple[str, str]]:
    """The rows of deep dives 5, 6 and 8, for those measured in this run."""
    rows: dict[str, tuple[str, str]] = {}
    if crashes is not None:
        by_mode = crashes.groupby("mode")[["lost", "duplicates"]].max()
        rows["5 offsets/reprocessing"] = (
            f"consumer SIGKILLed at its worst moment: auto-commit lost {int(by_mode.loc['auto-commit', 'lost'])}, "
            f"commit-after-write lost {int(by_mode.loc['commit-after-write', 'lost'])} (and wrote "
            f"{int(by_mode.loc['commit-after-write', 'duplicates'])} twice)",
            "enable.auto.commit=false, commit after the write is durable; sinks drop duplicates by seq")
    if rebuilt is not None:
        first = rebuilt.iloc[0]
        rows["6 retention/compaction"] = (
            f"{int(first['records_written']):,} updates compacted to {int(first['records_read'])} records; "
            f"latest state rebuilt identically: {bool(rebuilt['state_identical'].all())}",
            "machine-health-latest compacted (dirty ratio 0.1); raw streams time-retained")
    if producer is not None:
        by = producer.set_index("setting")
        rows["8 retries"] = (
            f"leader frozen: {int(by.loc['retries, in-flight 5', 'duplicates']):,} duplicates without "
            f"idempotence, {int(by.loc['idempotent, in-flight 5', 'duplicates'])} with it",
            "enable.idempotence=true, in-flight 5, delivery.timeout.ms above the longest outage; retry topics + DLQ")
    return rows


# --------------------------------------------------------------------------- ch02b: deep dives 1 (rebalance), 3


def rebalance_entry(pause: pd.DataFrame, failure: pd.DataFrame) -> tuple[str, str]:
    """Deep dive 1's rebalance figures: longest pause of kept partitions per protocol, kill vs graceful leave."""
    gaps = ", ".join(f"{r.protocol} {r.kept_longest_gap_s:.1f} s" for r in pause.itertuples())
    ends = failure.set_index("ending")["seconds_until_served"]
    leave = ", ".join(f"{ending} {seconds:.1f} s" for ending, seconds in ends.items())
    return (f"longest pause of kept partitions when a member joins: {gaps}; a departed member's partitions "
            f"served again after: {leave}",
            "cooperative-sticky (or group.protocol=consumer), close() on shutdown, a short session timeout")


def distribution_entry(skew: pd.DataFrame, move: dict) -> tuple[str, str]:
    """Deep dive 3: the leader skew after a broker's return and after the election; the move under load."""
    by = skew.set_index("phase")["leader_skew_max_over_mean"]
    back = next(p for p in by.index if p.endswith(" back"))
    return (f"leader skew (max/mean) {by[back]:.1f}× after a restart → {by['preferred-leader election']:.1f}× "
            f"after a preferred election; a reassignment took {move['move_s']:.1f} s with "
            f"{move['errors']} producer errors",
            "auto.leader.rebalance.enable=true (or elect after each rolling restart); reassign with a throttle")


def with_entries(table: pd.DataFrame, entries: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """The closing table with these deep dives' rows filled in (appended to a row already measured)."""
    table = table.copy()
    number, setting = "the number that matters (this run)", "setting for the fleet"
    for name, (value, advice) in entries.items():
        row = table["deep dive"] == name
        current = table.loc[row, number].iloc[0]
        table.loc[row, number] = value if current == NOT_MEASURED else f"{current}; {value}"
        table.loc[row, setting] = advice if table.loc[row, setting].iloc[0] == "—" else \
            f"{table.loc[row, setting].iloc[0]}; {advice}"
    return table
