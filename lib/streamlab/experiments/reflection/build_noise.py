"""How much the book's headline figures moved across the builds on record: the noise of the measurement, measured.

Reads the results database the book build appends to (`measure.results_db`) and gives chapter 05
its table (per figure: builds, this build's value, min, median, max, coefficient of variation) and
the one fact its prose quotes about it.
"""

from __future__ import annotations

import math

import pandas as pd

from ...measure.results_db import ResultsDB, spread

#: A figure "holds" when every build on record lies within this share of its median (issue 30's ±25 %).
HOLDS_WITHIN = 0.25


def history(db: ResultsDB, profile: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the builds of ``profile`` on record, the spread of each headline figure across them)."""
    return db.builds(profile), spread(db.figures(profile))


def holds(table: pd.DataFrame, within: float = HOLDS_WITHIN) -> pd.Series:
    """Per figure: every build's value within ``within`` of the median (NaN with fewer than two builds)."""
    def one(row: pd.Series) -> float:
        if row["builds"] < 2 or not row["median"]:
            return math.nan
        furthest = max(abs(row["max"] - row["median"]), abs(row["min"] - row["median"]))
        return float(furthest <= within * abs(row["median"]))

    return table.apply(one, axis=1) if not table.empty else pd.Series(dtype=float)


def history_phrase(builds: pd.DataFrame, table: pd.DataFrame, within: float = HOLDS_WITHIN) -> str:
    """What the history shows, in the words chapter 05 quotes (one build: that nothing can be said yet)."""
    n = len(builds)
    if n == 0 or table.empty:
        return ("no build of this profile is on record yet (this chapter ran outside the book's build, or no "
                "measuring chapter ran in it), so the spread across builds cannot be shown")
    if n == 1:
        return ("only one build of this profile is on record, this one: how much the figures move between builds "
                "is measured from the second build on")
    held = holds(table, within).dropna()
    worst = table.dropna(subset=["cv"]).sort_values("cv").iloc[-1] if table["cv"].notna().any() else None
    text = (f"{n} builds of this profile are on record; {int(held.sum())} of the {len(held)} figures with two or "
            f"more values stayed within ±{within:.0%} of their median in every build")
    if worst is not None:
        text += f", and the one that moved most is {worst['figure']} (coefficient of variation {worst['cv']:.0%})"
    return text


__all__ = ["HOLDS_WITHIN", "history", "history_phrase", "holds"]
