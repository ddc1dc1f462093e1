"""The book's own results database: every build's headline figures, so the book can measure its own noise.

Two quick builds of one tree moved most headline ratios by more than a quarter (issue 30); one build
cannot tell a reader how far to trust its figures, a history of builds can. Each book build appends
its headline figures (the reflection's scorecard) with the machine, profile, commit and the brokers'
warm-up result; chapter 05 shows, per figure, the minimum, median, maximum and coefficient of
variation over the builds on record.

Why SQLite and not DuckDB: the history is a few rows per build, appended once per build and read
once per build; SQLite is in Python's standard library (nothing to install on a fresh machine, no
version of a file format to migrate), its file is safe against a build that dies mid-write (one
transaction per build), and two builds on one machine that finish together serialize on its lock.
DuckDB's column store pays off for scans of millions of rows, which this table will never hold; the
spread is computed with pandas after reading it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..paths import DATA_DIR

#: Where the book build keeps its history (under data/, which git ignores).
DEFAULT_PATH = DATA_DIR / "results.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS builds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded_at TEXT NOT NULL,
    profile TEXT NOT NULL,
    commit_id TEXT NOT NULL,
    machine TEXT NOT NULL,
    warm_up TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS figures (
    build_id INTEGER NOT NULL REFERENCES builds(id),
    figure TEXT NOT NULL,
    value REAL,
    unit TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (build_id, figure)
);
"""

SPREAD_COLUMNS = ["figure", "unit", "builds", "this build", "min", "median", "max", "cv"]


@dataclass(frozen=True)
class Build:
    """One book build: what it ran on and under which conditions."""

    recorded_at: str        # ISO 8601, UTC
    profile: str
    commit_id: str
    machine: str            # e.g. "2 cores, 23.5 GiB, <cpu model>"
    warm_up: str            # the brokers' warm-up result (`bench.broker_warmup.warm_state`)


@dataclass(frozen=True)
class Figure:
    """One headline figure of a build."""

    figure: str
    value: float
    unit: str = ""


def fingerprint(build: Build, figures: Sequence[Figure]) -> str:
    """The same figures of the same profile and commit are one build, however often they are recorded.

    A rebuild that re-executed no measuring chapter hands the database the figures it holds already;
    recording them again would make the spread look tighter than the measurement is.
    """
    payload = json.dumps([build.profile, build.commit_id,
                          sorted((f.figure, None if math.isnan(f.value) else f.value, f.unit) for f in figures)])
    return hashlib.sha256(payload.encode()).hexdigest()


def default_path() -> Path:
    """DEFAULT_PATH, or $STREAMLAB_RESULTS_DB: the test suite's book build records into its own file, so a
    test run never enters the checkout's history of builds (the spread the reflection reports)."""
    return Path(os.environ.get("STREAMLAB_RESULTS_DB") or DEFAULT_PATH)


class ResultsDB:
    """The history of builds in one SQLite file."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path else default_path()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=30)
        connection.executescript(SCHEMA)
        return connection

    def record(self, build: Build, figures: Sequence[Figure]) -> int | None:
        """Append one build and its figures in one transaction; its id, or None if it was on record already."""
        key = fingerprint(build, figures)
        connection = self._connect()
        try:
            with connection:
                if connection.execute("SELECT 1 FROM builds WHERE fingerprint = ?", (key,)).fetchone():
                    return None
                cursor = connection.execute(
                    "INSERT INTO builds (recorded_at, profile, commit_id, machine, warm_up, fingerprint) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (build.recorded_at, build.profile, build.commit_id, build.machine, build.warm_up, key))
                build_id = cursor.lastrowid
                connection.executemany(
                    "INSERT OR REPLACE INTO figures (build_id, figure, value, unit) VALUES (?, ?, ?, ?)",
                    [(build_id, f.figure, None if math.isnan(f.value) else f.value, f.unit) for f in figures])
            return build_id
        finally:
            connection.close()

    def builds(self, profile: str | None = None) -> pd.DataFrame:
        """The builds on record (oldest first), of one profile if given."""
        columns = ["id", "recorded_at", "profile", "commit_id", "machine", "warm_up"]
        return self._read(f"SELECT {', '.join(columns)} FROM builds", "profile", "id", columns, profile)

    def figures(self, profile: str | None = None) -> pd.DataFrame:
        """One row per build × figure, with the build's conditions."""
        columns = ["build_id", "recorded_at", "profile", "commit_id", "machine", "warm_up", "figure", "value", "unit"]
        query = ("SELECT f.build_id, b.recorded_at, b.profile, b.commit_id, b.machine, b.warm_up, f.figure, "
                 "f.value, f.unit FROM figures f JOIN builds b ON b.id = f.build_id")
        return self._read(query, "b.profile", "f.build_id, f.figure", columns, profile)

    def _read(self, select: str, profile_column: str, order_by: str, columns: list[str],
              profile: str | None) -> pd.DataFrame:
        """``select`` (of one profile if given) as a frame; an empty one with ``columns`` before any build."""
        if not self.path.exists():
            return pd.DataFrame(columns=columns)
        query, params = (select, ()) if profile is None else (f"{select} WHERE {profile_column} = ?", (profile,))
        connection = self._connect()
        try:
            return pd.read_sql_query(f"{query} ORDER BY {order_by}", connection, params=params)
        finally:
            connection.close()

def spread(figures: pd.DataFrame) -> pd.DataFrame:
    """Per figure: builds with a value, the latest build's value, min, median, max and coefficient of variation.

    The coefficient of variation (sample sd ÷ |mean|) is the noise of the measurement across builds;
    NaN with fewer than two builds, where there is nothing to compare yet.
    """
    if figures.empty:
        return pd.DataFrame(columns=SPREAD_COLUMNS)
    latest = figures["build_id"].max()
    rows = []
    for (figure, unit), group in figures.groupby(["figure", "unit"], sort=False):
        values = group["value"].dropna().astype(float)
        now = group.loc[group["build_id"] == latest, "value"]
        sd = float(values.std(ddof=1)) if len(values) > 1 else math.nan
        mean = float(values.mean()) if len(values) else math.nan
        rows.append({"figure": figure, "unit": unit, "builds": int(len(values)),
                     "this build": float(now.iloc[0]) if len(now) and pd.notna(now.iloc[0]) else math.nan,
                     "min": float(values.min()) if len(values) else math.nan,
                     "median": float(values.median()) if len(values) else math.nan,
                     "max": float(values.max()) if len(values) else math.nan,
                     "cv": sd / abs(mean) if len(values) > 1 and mean else math.nan})
    return pd.DataFrame(rows, columns=SPREAD_COLUMNS)


__all__ = ["Build", "DEFAULT_PATH", "default_path", "Figure", "ResultsDB", "SPREAD_COLUMNS", "fingerprint", "spread"]
