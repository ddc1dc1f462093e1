"""The book build appends its headline figures to the results database, once per measured build."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd

from streamlab.book import history, runner
from streamlab.book.execute import ChapterResult, Prepared
from streamlab.book.layout import Chapter, Layout
from streamlab.experiments.profiling import against_targets
from streamlab.measure.results_db import ResultsDB

REPO = Path(__file__).resolve().parents[2]
CH04 = Chapter(Path("book/chapters/04-profiling.md"))
CH05 = Chapter(Path("book/chapters/05-reflection.md"))


def _executed_chapter_04(folder: Path, rate: float) -> None:
    files = folder / "04-profiling_files"
    files.mkdir(parents=True, exist_ok=True)
    ratios = pd.DataFrame({"client": ["confluent"], "records_per_s batch": [rate],
                           "per_core_records_per_s batch": [rate]})
    against_targets(ratios).to_csv(files / "throughput-targets.csv", index=False)


def test_a_build_records_its_figures_with_profile_commit_machine_and_warm_up(tmp_path):
    db = ResultsDB(tmp_path / "results.sqlite")
    _executed_chapter_04(tmp_path / "chapters", 22_000.0)
    assert history.record_build(tmp_path / "chapters", "quick", REPO, db) == 1
    build = db.builds().iloc[0]
    assert build["profile"] == "quick" and build["commit_id"] != "" and "cores" in build["machine"]
    assert build["warm_up"] != ""
    assert db.figures()["value"].tolist() == [22_000.0]
    assert history.record_build(tmp_path / "chapters", "quick", REPO, db) is None     # same figures: once


def test_a_folder_without_figures_records_nothing(tmp_path):
    db = ResultsDB(tmp_path / "results.sqlite")
    assert history.record_build(tmp_path, "quick", REPO, db) is None
    assert not db.path.exists()


def test_commit_of_a_folder_without_git_is_unknown(tmp_path):
    assert history.commit_of(tmp_path) == "unknown"


def test_the_runner_records_only_after_a_measuring_chapter_ran(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(history, "record_build", lambda folder, profile, root: calls.append((folder, profile)) or 1)
    layout = Layout(tmp_path, tmp_path / "_build")
    item = Prepared(CH05, nbformat.v4.new_notebook(), {"profile": "quick"}, set())
    runner._record_history(layout, item, {CH05: ChapterResult(CH05, "executed")})
    assert calls == []                                     # the reflection alone measured nothing
    runner._record_history(layout, item, {CH04: ChapterResult(CH04, "kept")})
    assert calls == []
    runner._record_history(layout, item, {CH04: ChapterResult(CH04, "executed")})
    assert calls == [(layout.executed(CH04).parent, "quick")]
    facts = Chapter(Path("book/appendix/run-facts.md"))   # a reader in another folder: the figures are the chapters'
    runner._record_history(layout, Prepared(facts, nbformat.v4.new_notebook(), {"profile": "quick"}, set()),
                           {CH04: ChapterResult(CH04, "executed"), facts: ChapterResult(facts, "executed")})
    assert calls[-1] == (layout.executed(CH04).parent, "quick")
