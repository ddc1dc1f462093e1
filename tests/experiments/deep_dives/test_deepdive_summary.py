"""The closing sentence of chapter 02 about the deep dives this build did not measure."""

from __future__ import annotations

import pandas as pd

from streamlab.experiments.deep_dives import summary


def _closing(numbers: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"deep dive": summary.DEEP_DIVES[: len(numbers)],
                         "the number that matters (this run)": numbers})


def test_every_deep_dive_measured_says_so_instead_of_an_empty_list() -> None:
    sentence = summary.missing_sentence(_closing(["3 lost", "2 idle"]))
    assert sentence == "All of them ran in this build."


def test_the_unmeasured_ones_are_named() -> None:
    sentence = summary.missing_sentence(_closing(["3 lost", summary.NOT_MEASURED, summary.NOT_MEASURED]))
    assert sentence == f"Not measured in this build: {summary.DEEP_DIVES[1]}, {summary.DEEP_DIVES[2]}."
