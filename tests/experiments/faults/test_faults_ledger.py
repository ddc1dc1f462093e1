"""The fault ledger's counting rules, on hand-made stages (no broker)."""

from __future__ import annotations

import math

import pandas as pd

from streamlab.experiments.faults import ledger

KEY = ["machine_id", "seq"]


def _disk(rows):
    """rows: (machine, seq, arrival order, source ns, sink ns)"""
    return pd.DataFrame(rows, columns=["machine_id", "seq", "sink_received_ns", "source_ts_ns", "sink_ts_ns"])


def _held(pairs):
    return pd.DataFrame(pairs, columns=KEY)


def test_a_clean_run_counts_nothing_wrong():
    disk = _disk([("M0", s, s, s * 10, s * 10 + 5) for s in range(4)])
    count = ledger.count_stage(4, _held([("M0", s) for s in range(4)]), disk, KEY, "sink_received_ns", "seq", 20)
    assert (count.lost, count.duplicated, count.reordered, count.on_disk) == (0, 0, 0, 4)
    assert count.recovery_s == 5e-9   # the first record sent at/after the reference instant: 20 → on disk at 25


def test_lost_duplicated_and_reordered_are_told_apart():
    held = _held([("M0", s) for s in range(5)])
    disk = _disk([("M0", 0, 1, 0, 1), ("M0", 2, 2, 0, 1), ("M0", 1, 3, 0, 1), ("M0", 2, 4, 0, 1)])
    count = ledger.count_stage(5, held, disk, KEY, "sink_received_ns", "seq", None)
    assert count.lost == 2            # seq 3 and 4
    assert count.duplicated == 1      # the second seq 2
    assert count.reordered == 1       # seq 1 after 2 (the duplicate 2 is not behind a larger seq)
    assert math.isnan(count.recovery_s)


def test_what_the_broker_no_longer_holds_is_lost_unless_it_is_on_disk():
    held = _held([("M0", 0), ("M0", 1)])
    disk = _disk([("M0", 0, 0, 0, 1), ("M0", 1, 1, 0, 1)])
    count = ledger.count_stage(5, held, disk, KEY, "sink_received_ns", "seq", None)
    assert (count.lost, count.lost_by_broker) == (3, 3)
    # the broker lost 3 it had acknowledged, but the sink had written them before: gone from the broker, on disk
    disk = _disk([("M0", s, s, 0, 1) for s in range(5)])
    count = ledger.count_stage(5, held, disk, KEY, "sink_received_ns", "seq", None)
    assert (count.lost, count.lost_by_broker) == (0, 3)


def test_reordering_is_per_machine():
    disk = _disk([("A", 5, 0, 0, 0), ("B", 1, 1, 0, 0), ("A", 6, 2, 0, 0), ("B", 0, 3, 0, 0)])
    assert ledger.reordered_rows(disk, "sink_received_ns") == 1


def test_timeline_bins_the_delay_by_send_time():
    disk = _disk(
        [("M0", 0, 0, 0, int(1e9)), ("M0", 1, 1, int(0.2e9), int(0.4e9)), ("M0", 2, 2, int(1.1e9), int(4.1e9))]
    )
    timeline = ledger.durable_timeline(disk, 0, bin_s=0.5)
    assert timeline["sent_s"].tolist() == [0.0, 1.0]
    assert timeline["rows"].tolist() == [2, 1]
    assert timeline["max_delay_s"].tolist() == [1.0, 3.0]
