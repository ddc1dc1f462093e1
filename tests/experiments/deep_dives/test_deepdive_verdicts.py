"""The deep dives' verdict sentences, which the chapter's prose quotes as they are."""

import pandas as pd

from streamlab.experiments.deep_dives import common, offsets, retries


def test_two_sided_leaves_out_an_empty_side():
    assert common.two_sided("bad", ["a", "b"], "good", []) == "bad: a, b"
    assert common.two_sided("bad", [], "good", ["c"]) == "good: c"
    assert common.two_sided("bad", ["a"], "good", ["c"], items="; ", sides=" — ") == "bad: a — good: c"


def test_crash_verdict_names_the_modes_that_lost():
    frame = pd.DataFrame({"mode": list(offsets.MODES), "lost": [3] + [0] * (len(offsets.MODES) - 1)})
    assert offsets.crash_verdict(frame).startswith(f"lost records: {offsets.MODES[0]}; lost none:")


def test_producer_verdict_separates_harmed_settings():
    frame = pd.DataFrame({"setting": ["a", "b", "c"], "duplicates": [1, 0, 0], "reordered": [0, 0, 2]})
    assert retries.producer_verdict(frame) == ("duplicated or reordered records: a; c"
                                               " — neither duplicated nor reordered: b")
