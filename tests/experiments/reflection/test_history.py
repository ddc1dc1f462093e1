"""The reflection's record: commits, files changed and tests counted from a small repository of the test's own."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from streamlab.experiments.reflection import repo_history as history


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
                   check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    module = tmp_path / "lib/streamlab/a.py"
    module.parent.mkdir(parents=True)
    module.write_text("x = 1\n")
    (tmp_path / "README.md").write_text("hello\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "First: a module and a README")
    module.write_text("x = 2\ny = 3\n")
    (tmp_path / "lib/streamlab/b.py").write_text("z = 1\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "Second\ttab: a changed, b added")
    git(tmp_path, "checkout", "-q", "-b", "side")
    module.write_text("x = 2\ny = 4\n")
    git(tmp_path, "commit", "-q", "-am", "On a branch")
    git(tmp_path, "checkout", "-q", "main")
    git(tmp_path, "merge", "-q", "--no-ff", "-m", "Merge side", "side")
    return tmp_path


def test_commits_count_files_and_lines_and_mark_merges(repo):
    table = history.commits(repo)
    assert list(table.columns) == history.COMMIT_COLUMNS
    by_subject = table.set_index("subject")  # commits of one second have no defined order: look them up
    assert sorted(by_subject.index) == ["First: a module and a README", "Merge side", "On a branch",
                                        "Second\ttab: a changed, b added"]
    assert by_subject["merge"].to_dict()["Merge side"] and by_subject["merge"].sum() == 1
    first = by_subject.loc["First: a module and a README"]
    assert (first["files"], first["insertions"], first["deletions"]) == (2, 2, 0)
    second = by_subject.loc["Second\ttab: a changed, b added"]
    assert (second["files"], second["insertions"], second["deletions"]) == (2, 3, 1)
    assert str(table["date"].dt.tz) == "UTC"
    assert history.commits(repo, history.file_changes(repo)).equals(table)  # the caller's changes, same table


def test_churn_ranks_modules_by_commits(repo):
    table = history.churn(history.file_changes(repo))
    assert list(table.index) == ["a.py", "b.py"]
    assert list(table["commits"]) == [3, 1]
    assert history.churn(history.file_changes(repo), prefix="", suffix=".md").index.tolist() == ["README.md"]


def test_outside_a_repository_every_table_is_empty(tmp_path):
    assert history.commits(tmp_path).empty and list(history.commits(tmp_path).columns) == history.COMMIT_COLUMNS
    assert history.file_changes(tmp_path).empty
    assert history.churn(history.file_changes(tmp_path)).empty


def test_tests_are_counted_per_folder_from_the_source(tmp_path):
    (tmp_path / "unit").mkdir()
    (tmp_path / "unit/test_a.py").write_text("def test_one(): pass\ndef helper(): pass\nasync def test_two(): pass\n")
    (tmp_path / "test_top.py").write_text("class TestX:\n    def test_method(self): pass\n")
    table = history.tests_defined(tmp_path)
    assert table.set_index("folder")["tests"].to_dict() == {".": 1, "unit": 2}


def test_commits_about_quotes_the_first_commit_on_each_topic(repo):
    (repo / "c.py").write_text("c = 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Sink: exact seqs\n\nThe mark dropped 5 of 1,440\nrows.\n\nMore detail.")
    found = history.commits_about(repo, {"sink": "dropped \\d+ of", "branch": "on a BRANCH", "none": "zzz"})
    assert list(found["topic"]) == ["sink", "branch"], "a topic no commit mentions is left out"
    sink = found.set_index("topic").loc["sink"]
    assert sink["subject"] == "Sink: exact seqs" and sink["detail"] == "The mark dropped 5 of 1,440 rows."
    assert found.set_index("topic").loc["branch", "subject"] == "On a branch"
    assert history.commits_about(repo / "not-a-repo", {"sink": "x"}).empty
