"""The project's own record, read for the reflection chapter: git history and the test suite's size.

The reflection answers "what went well, what took longer" with examples; where
an example is a number (how often a module or a chapter changed, how many
tests guard a layer), it is computed here from the repository the book is built from, so
the chapter states what the record shows rather than what we remember.
Every function returns an empty table when there is no git history (a source
tarball), and the chapter says so.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pandas as pd

COMMIT_COLUMNS = ["commit", "date", "subject", "files", "insertions", "deletions", "merge"]
FILE_COLUMNS = ["commit", "date", "path", "insertions", "deletions"]
_MARK = "\x1e"  # starts each commit's header line in the `git log` output below (%x1e)


def _git(repo: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def file_changes(repo: Path) -> pd.DataFrame:
    """One row per file a non-merge commit changed (lines added and removed; binary files count 0)."""
    out = _git(repo, "log", "--no-merges", "--numstat", "--format=%x1e%H%x09%aI")
    rows: list[dict] = []
    commit = date = ""
    for line in (out or "").split("\n"):  # not splitlines(): it splits at the separator too
        if line.startswith(_MARK):
            commit, date = line[1:].split("\t", 1)
        elif line.strip():
            added, removed, path = line.split("\t", 2)
            rows.append({"commit": commit, "date": date, "path": path,
                         "insertions": int(added) if added.isdigit() else 0,
                         "deletions": int(removed) if removed.isdigit() else 0})  # fmt: skip
    frame = pd.DataFrame(rows, columns=FILE_COLUMNS)
    frame["date"] = pd.to_datetime(frame["date"], utc=True)
    return frame


def commits(repo: Path, changes: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per commit: date, subject, files and lines changed, whether it merges branches.

    ``changes`` is ``file_changes(repo)`` when the caller has it already (it reads the whole log)."""
    out = _git(repo, "log", "--format=%H%x09%aI%x09%P%x09%s")
    header = [line.split("\t", 3) for line in (out or "").splitlines() if line.count("\t") >= 3]
    changes = (file_changes(repo) if changes is None else changes).groupby("commit").agg(
        files=("path", "size"), insertions=("insertions", "sum"), deletions=("deletions", "sum"))
    rows = [{"commit": sha, "date": date, "subject": subject, "merge": len(parents.split()) > 1}
            for sha, date, parents, subject in header]
    frame = pd.DataFrame(rows, columns=["commit", "date", "subject", "merge"])
    frame = frame.join(changes, on="commit").fillna({"files": 0, "insertions": 0, "deletions": 0})
    frame["date"] = pd.to_datetime(frame["date"], utc=True)
    for column in ("files", "insertions", "deletions"):
        frame[column] = frame[column].astype(int)
    return frame[COMMIT_COLUMNS]


def churn(changes: pd.DataFrame, prefix: str = "lib/streamlab/", suffix: str = ".py",
          top: int = 10) -> pd.DataFrame:
    """The ``top`` files under ``prefix`` ending in ``suffix`` changed by the most commits, with lines added
    and removed.

    A module or chapter changed by many commits is one the work kept coming
    back to: the reflection's example of where the plan met the problem.
    """
    picked = changes[changes["path"].str.startswith(prefix) & changes["path"].str.endswith(suffix)]
    table = picked.groupby("path").agg(commits=("commit", "nunique"), insertions=("insertions", "sum"),
                                       deletions=("deletions", "sum"))
    table.index = table.index.str.removeprefix(prefix)
    return table.sort_values(["commits", "insertions"], ascending=False).head(top).rename_axis("file")


def tests_defined(tests_dir: Path) -> pd.DataFrame:
    """Test functions per top folder of the suite, counted from the source (parametrised cases count once)."""
    counts: dict[str, int] = {}
    for path in sorted(tests_dir.rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        n = sum(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_")
                for node in ast.walk(tree))
        parts = path.relative_to(tests_dir).parts
        folder = parts[0] if len(parts) > 1 else "."
        counts[folder] = counts.get(folder, 0) + n
    return pd.DataFrame(sorted(counts.items()), columns=["folder", "tests"])


def commits_about(repo: Path, topics: dict[str, str]) -> pd.DataFrame:
    """For each topic, the earliest non-merge commit whose message matches its regular expression
    (case-insensitive): its date, subject and the first paragraph of its body.

    The reflection's examples are then quoted from the record as it was written at the time, with the
    numbers the commit's author measured, instead of retold from memory.
    """
    import re

    out = _git(repo, "log", "--no-merges", "--reverse", "--format=%x1e%h%x09%aI%x09%s%x1f%b")
    entries = [entry.split("\x1f", 1) for entry in (out or "").split(_MARK) if entry.strip()]
    rows = []
    for topic, pattern in topics.items():
        regex = re.compile(pattern, re.IGNORECASE)
        for head, body in entries:
            commit, date, subject = head.split("\t", 2)
            if regex.search(subject) or regex.search(body):
                detail = " ".join(body.strip().split("\n\n", 1)[0].split())
                rows.append({"topic": topic, "commit": commit, "date": date[:10], "subject": subject.strip(),
                             "detail": detail})
                break
    return pd.DataFrame(rows, columns=["topic", "commit", "date", "subject", "detail"])
