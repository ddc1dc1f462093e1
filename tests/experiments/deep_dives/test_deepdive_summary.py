"""Chapter 02's closing table: one row per figure (a number, a yes/no) with its unit, and the deep dives not
measured named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from streamlab.experiments.deep_dives import summary


def test_facts_keep_the_assignment_s_order_and_each_value_s_kind() -> None:
    closing = summary.facts(dd9=[("inversions", np.int64(3), "inversions")],
                            dd4=[("lost", np.int64(96), "records"), ("ratio", np.float64(1.87), "×")],
                            dd6=[("rebuilt", np.bool_(True), "")])
    assert list(closing.columns) == list(summary.FACT_COLUMNS)
    assert closing["deep dive"].tolist() == [summary.DEEP_DIVES[3]] * 2 + [summary.DEEP_DIVES[5], summary.DEEP_DIVES[8]]
    assert [type(v) for v in closing["value"]] == [int, float, bool, int]   # a count is not shown as 96.00


def test_an_unknown_deep_dive_is_refused() -> None:
    with pytest.raises(ValueError, match="dd10"):
        summary.facts(dd10=[("x", 1, "")])


def test_every_deep_dive_measured_leaves_none_missing() -> None:
    closing = summary.facts(**{f"dd{n}": [("x", 1, "")] for n in range(1, 10)})
    assert summary.missing(closing) == []


def test_the_unmeasured_ones_are_named() -> None:
    closing = summary.facts(dd1=[("x", 1, "")], dd4=[("y", 2, "")])
    assert summary.missing(closing) == [name for n, name in enumerate(summary.DEEP_DIVES, 1) if n not in (1, 4)]


def test_the_deep_dives_read_their_figures_from_the_run_s_tables() -> None:
    durability = pd.DataFrame({"setting": ["RF 1", "RF 3, acks=all"], "lost_acknowledged": [96, 0]})
    assert summary.replication_facts(durability) == [("acknowledged records lost, RF 1", 96, "records"),
                                                     ("acknowledged records lost, RF 3, acks=all", 0, "records")]
    crashes = pd.DataFrame({"mode": ["auto-commit", "auto-commit", "commit-after-write"], "lost": [200, 0, 0],
                            "duplicates": [0, 600, 200]})
    assert summary.offsets_facts(crashes) == [("records lost, auto-commit", 200, "records"),
                                              ("records written twice, auto-commit", 600, "records"),
                                              ("records lost, commit-after-write", 0, "records"),
                                              ("records written twice, commit-after-write", 200, "records")]
    skew = pd.DataFrame({"phase": ["created", "broker 2 back", "preferred-leader election"],
                         "leader_skew_max_over_mean": [1.0, 2.0, 1.0]})
    assert [value for _, value, _ in summary.distribution_facts(skew, {"move_s": 0.6, "errors": 0})] == [
        2.0, 1.0, 0.6, 0]
