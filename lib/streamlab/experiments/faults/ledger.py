"""The ledger: every (machine, seq) a stage should hold against what the next stage holds.

Pure functions over DataFrames (no broker, no file), so the counting rules are
unit-tested on their own:

- **lost**: acknowledged to the generator but absent on disk: what the broker
  holds and the sinks never wrote, plus what was acknowledged and is neither on
  the broker nor on disk.
- **gone from the broker** (`lost_by_broker`): acknowledged, and the broker no
  longer holds it (e.g. a topic with one replica whose disk was lost); lost for
  good if the sinks had not written it yet, and in any case no longer replayable.
- **duplicated**: rows on disk beyond the first of their key.
- **reordered**: rows of one machine that reached the sink after a row with a
  larger sequence number (a redelivery behind newer records, as RabbitMQ
  requeues); a disk file keeps arrival order, so this is what a reader replaying
  the files in order would see.
- **recovery time**: from the fault until the first record *sent after the fault*
  is on disk; with no fault, the same figure for the run's middle instant, so a
  reader sees the baseline the outage adds to.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import pandas as pd

from ...measure.order import late_rows


@dataclass
class StageCount:
    """One stage's ledger: the scenario table's numbers for one broker and one sink."""

    sent: int                  # acknowledged to the producer (generator or processor)
    on_broker: int             # distinct keys the broker still holds for that stream
    on_disk: int               # rows in the files
    lost: int                  # acknowledged, never on disk
    lost_by_broker: int        # acknowledged, no longer held by the broker (on disk or not)
    duplicated: int
    reordered: int
    recovery_s: float          # NaN: nothing sent after the fault reached disk

    def as_dict(self) -> dict:
        return asdict(self)


def distinct_keys(frame: pd.DataFrame, key: list[str]) -> set[tuple]:
    if frame.empty:
        return set()
    return set(frame[key].itertuples(index=False, name=None))


def duplicates(frame: pd.DataFrame, key: list[str]) -> int:
    """Rows beyond the first of their key (a topic read back, or the rows on disk)."""
    return len(frame) - len(distinct_keys(frame, key))


def reordered_rows(disk: pd.DataFrame, order_column: str, seq_column: str = "seq",
                   group_column: str = "machine_id") -> int:
    """Rows that arrived after a row of the same machine with a larger `seq_column` (file/arrival order)."""
    return late_rows(disk, order_column, seq_column, group_column)


def recovery_seconds(disk: pd.DataFrame, fault_ns: int | None) -> float:
    """Fault → the first record sent after it, durably on disk (`source_ts_ns`, `sink_ts_ns`)."""
    if fault_ns is None or disk.empty:
        return math.nan
    after = disk[disk["source_ts_ns"] >= fault_ns]
    if after.empty:
        return math.nan
    return float((after["sink_ts_ns"].min() - fault_ns) / 1e9)


def count_stage(sent: int, broker: pd.DataFrame, disk: pd.DataFrame, key: list[str], order_column: str,
                order_key: str, fault_ns: int | None) -> StageCount:
    """The ledger of one stream: `broker` holds the broker's copy (one row per record read back, keyed by
    `key`), `disk` the rows the sink wrote (in any order; `order_column` gives the arrival order, and
    `order_key` the per-machine number whose order is checked)."""
    held = distinct_keys(broker, key)
    written = distinct_keys(disk, key)
    lost_by_broker = max(0, sent - len(held))
    lost = len(held - written) + max(0, sent - len(held | written))
    return StageCount(sent=sent, on_broker=len(held), on_disk=len(disk),
                      lost=lost, lost_by_broker=lost_by_broker,
                      duplicated=duplicates(disk, key),
                      reordered=reordered_rows(disk, order_column, order_key),
                      recovery_s=recovery_seconds(disk, fault_ns))


def durable_timeline(disk: pd.DataFrame, start_ns: int, bin_s: float = 0.5) -> pd.DataFrame:
    """Per bin of send time: rows, and the worst send → on-disk delay (s): the figure's outage."""
    if disk.empty:
        return pd.DataFrame(columns=["sent_s", "rows", "max_delay_s", "median_delay_s"])
    delay = (disk["sink_ts_ns"] - disk["source_ts_ns"]) / 1e9
    sent_s = ((disk["source_ts_ns"] - start_ns) / 1e9 // bin_s) * bin_s
    frame = pd.DataFrame({"sent_s": sent_s, "delay": delay})
    out = frame.groupby("sent_s")["delay"].agg(rows="size", max_delay_s="max", median_delay_s="median")
    return out.reset_index()
