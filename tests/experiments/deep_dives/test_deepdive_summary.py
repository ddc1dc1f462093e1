"""Chapter 02 names the deep dives this build did not measure (or says none)."""

from __future__ import annotations

import pandas as pd

from streamlab.experiments.deep_dives import summary


def _closing(numbers: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"deep dive": summary.DEEP_DIVES[: len(numbers)],
                         "the number that matters (this run)": numbers})


def test_every_deep_dive_measured_leaves_none_missing() -> None:
    assert summary.missing(_closing(["3 lost", "2 idle"])) == []


def test_the_unmeasured_ones_are_named() -> None:
    closing = _closing(["3 lost", summary.NOT_MEASURED, summary.NOT_MEASURED])
    assert summary.missing(closing) == [summary.DEEP_DIVES[1], summary.DEEP_DIVES[2]]
