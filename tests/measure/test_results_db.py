"""The results database keeps each build's figures once, and gives the spread of each figure across builds."""

from __future__ import annotations

import math
import sqlite3

import pytest

from streamlab.measure.results_db import Build, Figure, ResultsDB, spread


def _build(commit: str = "abc123", profile: str = "quick", warm: str = "warm: plateau at 47,000 records/s") -> Build:
    return Build("2026-12-07T22:00:00+00:00", profile, commit, "2 cores, 23.5 GiB, test cpu", warm)


def test_an_empty_database_has_no_builds_and_no_spread(tmp_path):
    db = ResultsDB(tmp_path / "results.sqlite")
    assert db.builds().empty and db.figures().empty and spread(db.figures()).empty
    assert not (tmp_path / "results.sqlite").exists()                  # reading creates nothing


def test_builds_are_appended_with_their_conditions(tmp_path):
    db = ResultsDB(tmp_path / "data" / "results.sqlite")
    first = db.record(_build(), [Figure("hop p50 ÷ tool", 12.0, "×"), Figure("processor", 22_000.0, "records/s")])
    second = db.record(_build(commit="def456", warm="brokers not warm: no plateau in 92 s"),
                       [Figure("hop p50 ÷ tool", 4.72, "×"), Figure("processor", 22_500.0, "records/s")])
    assert first == 1 and second == 2
    builds = db.builds()
    assert builds["commit_id"].tolist() == ["abc123", "def456"]
    assert builds["warm_up"].iloc[1].startswith("brokers not warm")
    figures = db.figures()
    assert len(figures) == 4 and set(figures["machine"]) == {"2 cores, 23.5 GiB, test cpu"}
    # the file is a real SQLite database another tool can read
    with sqlite3.connect(tmp_path / "data" / "results.sqlite") as connection:
        assert connection.execute("SELECT COUNT(*) FROM figures").fetchone() == (4,)


def test_the_same_figures_are_not_recorded_twice(tmp_path):
    db = ResultsDB(tmp_path / "results.sqlite")
    figures = [Figure("hop p50 ÷ tool", 12.0, "×")]
    assert db.record(_build(), figures) == 1
    assert db.record(_build(), figures) is None                       # a rebuild that measured nothing new
    assert len(db.builds()) == 1
    assert db.record(_build(), [Figure("hop p50 ÷ tool", 12.5, "×")]) == 2


def test_the_spread_gives_min_median_max_and_cv_per_figure(tmp_path):
    db = ResultsDB(tmp_path / "results.sqlite")
    for commit, value in (("a", 12.0), ("b", 4.72), ("c", 6.0)):
        db.record(_build(commit=commit), [Figure("hop p50 ÷ tool", value, "×"), Figure("nan one", math.nan)])
    table = spread(db.figures()).set_index("figure")
    row = table.loc["hop p50 ÷ tool"]
    assert row["builds"] == 3 and row["this build"] == 6.0
    assert (row["min"], row["median"], row["max"]) == (4.72, 6.0, 12.0)
    values = [12.0, 4.72, 6.0]
    mean = sum(values) / 3
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / 2)
    assert row["cv"] == pytest.approx(sd / mean)
    assert table.loc["nan one", "builds"] == 0 and math.isnan(table.loc["nan one", "cv"])


def test_one_build_has_no_cv_yet_and_profiles_are_kept_apart(tmp_path):
    db = ResultsDB(tmp_path / "results.sqlite")
    db.record(_build(), [Figure("x", 1.0)])
    db.record(_build(profile="full"), [Figure("x", 3.0)])
    quick = spread(db.figures("quick")).set_index("figure")
    assert quick.loc["x", "builds"] == 1 and math.isnan(quick.loc["x", "cv"])
    assert len(db.builds("full")) == 1 and db.figures("full")["value"].tolist() == [3.0]


def test_the_database_path_can_be_moved_by_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMLAB_RESULTS_DB", str(tmp_path / "elsewhere.sqlite"))
    db = ResultsDB()
    db.record(_build(), [Figure("processor", 22_000.0, "records/s")])
    assert db.path == tmp_path / "elsewhere.sqlite" and db.path.exists()
    monkeypatch.delenv("STREAMLAB_RESULTS_DB")
    assert ResultsDB().path.name == "results.sqlite" and ResultsDB().path.parent.name == "data"
