"""Chapter 05's history of builds: the spread table and the sentence for one build, none, and many."""

from __future__ import annotations

import math

from streamlab.experiments.reflection import build_noise
from streamlab.measure.results_db import Build, Figure, ResultsDB


def _record(db: ResultsDB, commit: str, values: dict[str, float], profile: str = "quick") -> None:
    db.record(Build("2026-12-07T22:00:00+00:00", profile, commit, "2 cores", "warm"),
              [Figure(name, value, "×") for name, value in values.items()])


def test_no_build_on_record_says_so(tmp_path):
    builds, table = build_noise.history(ResultsDB(tmp_path / "r.sqlite"), "quick")
    assert build_noise.history_phrase(builds, table).startswith("no build of this profile is on record yet")


def test_one_build_says_the_spread_comes_with_the_second(tmp_path):
    db = ResultsDB(tmp_path / "r.sqlite")
    _record(db, "a", {"hop": 12.0})
    _record(db, "b", {"hop": 5.0}, profile="full")                  # another profile is not this one's history
    builds, table = build_noise.history(db, "quick")
    assert build_noise.history_phrase(builds, table).startswith("only one build of this profile is on record")
    assert math.isnan(build_noise.holds(table).iloc[0])


def test_many_builds_count_the_figures_that_held_and_name_the_one_that_moved_most(tmp_path):
    db = ResultsDB(tmp_path / "r.sqlite")
    _record(db, "a", {"hop p50": 12.0, "processor": 0.862})
    _record(db, "b", {"hop p50": 4.72, "processor": 0.873})
    _record(db, "c", {"hop p50": 6.0, "processor": 0.870})
    builds, table = build_noise.history(db, "quick")
    assert build_noise.holds(table).tolist() == [0.0, 1.0]
    phrase = build_noise.history_phrase(builds, table)
    assert phrase.startswith("3 builds of this profile are on record; 1 of the 2 figures")
    assert "the one that moved most is hop p50" in phrase
