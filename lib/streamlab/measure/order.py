"""Order broken, counted: records of one key (a machine) that arrive after a later one, or seq going backwards.

Two rules, each once, because the book uses both and they differ when a record comes very late:

* `late_arrivals` — a record counts when a record of its key with a larger sequence number arrived
  before it (against the running maximum). One record delivered behind many newer ones is 1; what
  a reader replaying the log or file in order sees as "out of order". `late_rows` is the same rule
  over a DataFrame.
* `descents` — a record counts when its sequence number is below the previous record of its key
  (against the last one). A late record counts once, and so does the record after it only if it
  is lower again; what "seq went backwards" means in a per-key stream.

Ties are never counted: a redelivered duplicate is not a reordering.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

import numpy as np
import pandas as pd


def late_arrivals(records: Iterable[tuple[Hashable, int]]) -> int:
    """(key, seq) pairs in arrival order -> how many arrived after a larger seq of their key."""
    highest: dict[Hashable, int] = {}
    count = 0
    for key, seq in records:
        top = highest.get(key)
        if top is not None and seq < top:
            count += 1
        highest[key] = seq if top is None else max(top, seq)
    return count


def late_arrivals_one_key(sequence: Iterable[int]) -> int:
    """`late_arrivals` of one key's sequence numbers, in arrival order."""
    return late_arrivals((None, seq) for seq in sequence)


def descents(records: Iterable[tuple[Hashable, int]]) -> int:
    """(key, seq) pairs in arrival order -> how often seq went below the previous seq of its key."""
    last: dict[Hashable, int] = {}
    count = 0
    for key, seq in records:
        if key in last and seq < last[key]:
            count += 1
        last[key] = seq
    return count


def descents_of(sequence: np.ndarray | list[int]) -> int:
    """`descents` of one key's sequence numbers, in arrival order (vectorised)."""
    seqs = np.asarray(sequence)
    return int((np.diff(seqs) < 0).sum()) if seqs.size > 1 else 0


def late_rows(frame: pd.DataFrame, order_column: str, seq_column: str = "seq", group_column: str = "machine_id") -> int:
    """`late_arrivals` over a table: rows that came (by ``order_column``) after a row of their group with a
    larger ``seq_column``."""
    if frame.empty:
        return 0
    ordered = frame.sort_values([group_column, order_column], kind="stable")
    running_max = ordered.groupby(group_column)[seq_column].cummax()
    previous_max = running_max.groupby(ordered[group_column]).shift(1)
    return int((ordered[seq_column] < previous_max).sum())
