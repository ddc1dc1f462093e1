"""Exactly once, in order: the sequence numbers of every machine's readings, checked against what was sent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ...measure.order import descents_of


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
        rows.append({"machine_id": machine, "records": int(seqs.size), "inversions": descents_of(seqs)})
    return pd.DataFrame(rows, columns=["machine_id", "records", "inversions"])


def delivery_checks(once: pd.DataFrame, order: pd.DataFrame, sent: int, in_topic: int, malformed: int,
                    rows: int, skipped: int) -> pd.DataFrame:
    """The exactly-once evidence side by side: machines passing, counts at each end, duplicates, gaps, order."""
    return pd.DataFrame([
        {"check": "machines with every seq exactly once", "value": f"{int(once['exactly_once'].sum())} of {len(once)}"},
        {"check": "readings sent (generator counter)", "value": f"{sent:,}"},
        {"check": "records in the telemetry topic", "value": f"{in_topic:,} (incl. {malformed} malformed)"},
        {"check": "rows in Parquet", "value": f"{rows:,}"},
        {"check": "duplicate rows / missing seqs",
         "value": f"{int(once['duplicates'].sum())} / {int(once['missing'].sum())}"},
        {"check": "redelivered rows the sink skipped", "value": f"{skipped}"},
        {"check": "seq out of order at the processor (all machines)", "value": f"{int(order['inversions'].sum())}"},
    ]).set_index("check")  # fmt: skip
