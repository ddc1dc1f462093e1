"""Chapter 05's history of builds: the spread table and the facts for one build, none, and many."""

from __future__ import annotations

import math

from streamlab.experiments.reflection import build_noise
from streamlab.measure.results_db import Build, Figure, ResultsDB


def _record(db: ResultsDB, commit: str, values: dict[str, float], profile: str = "quick") -> None:
    db.record(Build("2026-12-07T22:00:00+00:00", profile, commit, "2 cores", "warm"),
              [Figure(name, value, "×") for name, value in values.items()])


def test_no_build_on_record_says_so(tmp_path):
    builds, table = build_noise.history(ResultsDB(tmp_path / "r.sqlite"), "quick")
    facts = build_noise.history_facts(builds, table)
    assert (facts["builds"], facts["compared"], facts["held"], facts["most_moved"]) == (0, 0, 0, "–")
    assert facts["most_moved_cv_pct"] == "–"


def test_one_build_says_the_spread_comes_with_the_second(tmp_path):
    db = ResultsDB(tmp_path / "r.sqlite")
    _record(db, "a", {"hop": 12.0})
    _record(db, "b", {"hop": 5.0}, profile="full")                  # another profile is not this one's history
    builds, table = build_noise.history(db, "quick")
    facts = build_noise.history_facts(builds, table)
    assert (facts["builds"], facts["compared"], facts["most_moved"]) == (1, 0, "–")
    assert math.isnan(build_noise.holds(table).iloc[0])


def test_many_builds_count_the_figures_that_held_and_name_the_one_that_moved_most(tmp_path):
    db = ResultsDB(tmp_path / "r.sqlite")
    _record(db, "a", {"hop p50": 12.0, "processor": 0.862})
    _record(db, "b", {"hop p50": 4.72, "processor": 0.873})
    _record(db, "c", {"hop p50": 6.0, "processor": 0.870})
    builds, table = build_noise.history(db, "quick")
    assert build_noise.holds(table).tolist() == [0.0, 1.0]
    facts = build_noise.history_facts(builds, table)
    assert (facts["builds"], facts["compared"], facts["held"], facts["most_moved"]) == (3, 2, 1, "hop p50")
    assert facts["most_moved_cv_pct"] == round(100 * table.set_index("figure").loc["hop p50", "cv"]) > 30
