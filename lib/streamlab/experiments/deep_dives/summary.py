"""The chapter's closing table: per deep dive, the figures of this run that its fleet setting stands on.

Facts only, one row per figure (`FACT_COLUMNS`: deep dive, figure, value, unit): the chapter's Markdown
names each feature's setting for the fleet and the use cases it serves, and says what the figures mean.
A deep dive this build did not run has no row (`missing` names it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from .limits import JAVA_READ

#: The nine deep dives in the assignment's order.
DEEP_DIVES = ("1 consumer groups", "2 limits of send/receive", "3 distribution of brokers and partitions",
              "4 replication factor and partitions", "5 offsets/reprocessing", "6 retention/compaction",
              "7 Kafka Streams", "8 retries", "9 keys")

#: The closing table's columns: the deep dive, a short name of the figure, its value and its unit.
FACT_COLUMNS = ("deep dive", "figure", "value", "unit")

#: One figure: its short name, its value (a count is an int, a measurement a float, a yes/no a bool), its unit.
Fact = tuple[str, int | float | bool, str]


def facts(**measured: Iterable[Fact]) -> pd.DataFrame:
    """The closing table from each deep dive's facts, keyed by the deep dive's number (``dd4=...``), in
    `DEEP_DIVES` order; a deep dive not passed has no row."""
    unknown = set(measured) - {f"dd{number}" for number in range(1, len(DEEP_DIVES) + 1)}
    if unknown:
        raise ValueError(f"no deep dive {', '.join(sorted(unknown))}: the keys are dd1 … dd{len(DEEP_DIVES)}")
    rows = []
    for number, name in enumerate(DEEP_DIVES, start=1):
        rows += [(name, figure, _plain(value), unit) for figure, value, unit in measured.get(f"dd{number}", ())]
    frame = pd.DataFrame(rows, columns=list(FACT_COLUMNS))
    frame["value"] = pd.Series([row[2] for row in rows], dtype=object)   # counts stay ints beside floats
    return frame


def _plain(value: Any) -> int | float | bool:
    """A NumPy or pandas scalar as the Python bool, int or float it is (a count stays a whole number)."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    return float(value)


def missing(closing: pd.DataFrame) -> list[str]:
    """The deep dives with no figure in ``closing`` (this build did not measure them), in the assignment's order."""
    present = set(closing["deep dive"])
    return [name for name in DEEP_DIVES if name not in present]


def groups_facts(groups: pd.DataFrame, pause: pd.DataFrame, failure: pd.DataFrame) -> list[Fact]:
    """Deep dive 1: idle members of the largest group; the longest pause of kept partitions per protocol when
    a member joins; seconds until a departed member's partitions are served again, per way of leaving."""
    largest = groups.iloc[-1]
    rows: list[Fact] = [(f"idle members, {int(largest['consumers'])} consumers", int(largest["idle_members"]),
                         "members")]
    rows += [(f"pause of kept partitions, {r.protocol}", r.kept_longest_gap_s, "s") for r in pause.itertuples()]
    rows += [(f"partitions served again, {ending}", seconds, "s")
             for ending, seconds in failure.set_index("ending")["seconds_until_served"].items()]
    return rows


def limits_facts(send: pd.DataFrame, reads: pd.DataFrame) -> list[Fact]:
    """Deep dive 2: the Python producer's rate at the grid's centre and two read paths' rates, each over
    Kafka's Java tool's."""
    centre = send[send["point"] == send["point"].iloc[0]].set_index("driver")
    by_path = reads.set_index("path")["ratio_to_java"]
    rows = [("confluent-kafka producer / kafka-producer-perf-test", centre.loc["confluent-kafka", "ratio_to_java"],
             "×")]
    rows += [(f"{path} / {JAVA_READ}", by_path[path], "×")
             for path in ("consume(1000) batches", "library consumer (Record)") if path in by_path]
    return rows


def distribution_facts(skew: pd.DataFrame, move: dict) -> list[Fact]:
    """Deep dive 3: the leader skew after a broker's return and after a preferred election; a reassignment
    under load, its seconds and producer errors."""
    by = skew.set_index("phase")["leader_skew_max_over_mean"]
    back = next(p for p in by.index if p.endswith(" back"))
    return [("leader skew after a restart", by[back], "× mean"),
            ("leader skew after a preferred election", by["preferred-leader election"], "× mean"),
            ("reassignment under load", move["move_s"], "s"),
            ("producer errors during the reassignment", int(move["errors"]), "errors")]


def replication_facts(durability: pd.DataFrame) -> list[Fact]:
    """Deep dive 4: acknowledged records lost when a broker died with its disk, per setting."""
    return [(f"acknowledged records lost, {r.setting}", int(r.lost_acknowledged), "records")
            for r in durability.itertuples()]


def offsets_facts(crashes: pd.DataFrame) -> list[Fact]:
    """Deep dive 5: the most records lost and written twice per commit mode over the crash points."""
    by_mode = crashes.groupby("mode", sort=False)[["lost", "duplicates"]].max()
    return [(f"records {what}, {mode}", int(row[column]), "records")
            for mode, row in by_mode.iterrows() for column, what in (("lost", "lost"), ("duplicates", "written twice"))]


def retention_facts(rebuilt: pd.DataFrame) -> list[Fact]:
    """Deep dive 6: updates written, records left after compaction, and whether the latest state was rebuilt
    identically."""
    first = rebuilt.iloc[0]
    return [("updates written to the compacted topic", int(first["records_written"]), "records"),
            ("records read back after compaction", int(first["records_read"]), "records"),
            ("latest state rebuilt identically", bool(rebuilt["state_identical"].all()), "")]


def streams_facts(check: pd.DataFrame, restarted: pd.DataFrame) -> list[Fact]:
    """Deep dive 7: records/s per implementation; windows wrong (differing or missing) after a kill and a
    restart on an empty disk."""
    rows = [(f"records/s, {r.implementation}", r.records_per_s, "records/s") for r in check.itertuples()]
    rows += [(f"windows wrong after a restart, {r.implementation}", int(r.differing + r.missing), "windows")
             for r in restarted.itertuples()]
    return rows


def retries_facts(producer: pd.DataFrame) -> list[Fact]:
    """Deep dive 8: records written twice while a leader was frozen, per producer setting."""
    return [(f"duplicates, {r.setting}", int(r.duplicates), "records") for r in producer.itertuples()]


def keys_facts(order: pd.DataFrame, hot: pd.DataFrame) -> list[Fact]:
    """Deep dive 9: per-machine order inversions per design; the busiest partition with a hot key, per design
    (plain and salted)."""
    inversions = order.groupby("design", sort=False)["inversions"].sum()
    rows: list[Fact] = [(f"per-machine inversions, {design}", int(count), "inversions")
                        for design, count in inversions.items()]
    rows += [(f"busiest partition, {r.design}", r.skew_max_over_mean, "× mean") for r in hot.itertuples()]
    return rows
