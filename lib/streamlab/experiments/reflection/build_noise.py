"""How much the book's headline figures moved across the builds on record: the noise of the measurement, measured.

Reads the results database the book build appends to (`measure.results_db`) and gives chapter 05
its table (per figure: builds, this build's value, min, median, max, coefficient of variation) and
the facts its prose says about it.
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


def history_facts(builds: pd.DataFrame, table: pd.DataFrame, within: float = HOLDS_WITHIN) -> dict[str, object]:
    """What the history shows, as facts chapter 05 says in words: builds of this profile on record, figures with
    two or more values, how many of them held within ``within`` of their median in every build, and the figure
    that moved most with its coefficient of variation in whole percent ("–" each while fewer than two builds are
    on record, so that the prose never shows "nan")."""
    held = holds(table, within).dropna() if len(builds) else pd.Series(dtype=float)
    moved = table.dropna(subset=["cv"]) if not table.empty else table
    worst = moved.sort_values("cv").iloc[-1] if len(builds) > 1 and len(moved) else None
    return {"builds": len(builds), "compared": len(held), "held": int(held.sum()),
            "most_moved": str(worst["figure"]) if worst is not None else "–",
            "most_moved_cv_pct": round(100 * float(worst["cv"])) if worst is not None else "–"}


__all__ = ["HOLDS_WITHIN", "history", "history_facts", "holds"]
