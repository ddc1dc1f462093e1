"""The two ordering rules of streamlab.measure.order, and that they differ where they should."""

from __future__ import annotations

import pandas as pd

from streamlab.measure.order import descents, descents_of, late_arrivals, late_arrivals_one_key, late_rows


def test_in_order_and_ties_count_nothing():
    pairs = [("a", 0), ("b", 0), ("a", 1), ("a", 1), ("b", 1)]
    assert late_arrivals(pairs) == 0 and descents(pairs) == 0


def test_one_record_very_late_counts_once_late_but_once_as_a_descent_too():
    # 3 arrives first, then 0 1 2: each of them is behind 3 (late), but seq goes backwards only once
    assert late_arrivals_one_key([3, 0, 1, 2]) == 3
    assert descents_of([3, 0, 1, 2]) == 1
    assert descents((None, s) for s in [3, 0, 1, 2]) == 1


def test_keys_are_counted_apart():
    pairs = [("a", 5), ("b", 0), ("a", 6), ("b", 1), ("a", 4)]
    assert late_arrivals(pairs) == 1 and descents(pairs) == 1


def test_late_rows_is_late_arrivals_over_a_table():
    frame = pd.DataFrame({"machine_id": ["m", "m", "m", "n"], "seq": [2, 0, 1, 0], "arrived": [1, 2, 3, 4]})
    expected = late_arrivals(zip(frame["machine_id"], frame["seq"]))
    assert late_rows(frame, "arrived") == expected == 2
    assert late_rows(frame.iloc[0:0], "arrived") == 0
