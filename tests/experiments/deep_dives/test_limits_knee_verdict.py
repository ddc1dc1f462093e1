"""Deep dive 2's knee verdict follows the library's knee and says "no conclusion" for a curve that does not qualify."""

from __future__ import annotations

import pandas as pd

from streamlab.experiments.deep_dives import limits
from streamlab.measure.rules import is_no_conclusion


def curve(p50s: list[float], *, fractions: list[float] | None = None, sent: list[float] | None = None,
          seconds: float = 5.0, records: int = 10_000, max_rate: float = 50_000.0) -> pd.DataFrame:
    fractions = fractions or [0.2, 0.4, 0.6, 0.8, 1.0][: len(p50s)]
    targets = [f * max_rate for f in fractions]
    return pd.DataFrame({"fraction": fractions, "target_per_s": targets, "sent_per_s": sent or targets,
                         "measured_s": seconds, "measured_records": records, "e2e_p50_ms": p50s,
                         "e2e_p99_ms": [p * 2 for p in p50s], "error": ""})


def test_a_qualifying_curve_names_its_knee_from_p50():
    frame = curve([15.0, 16.0, 18.0, 60.0, 582.0])
    assert limits.knee_at(frame) == 0.8
    assert limits.knee_verdict(frame) == "80%"


def test_a_flat_curve_says_no_knee():
    verdict = limits.knee_verdict(curve([15.0, 15.0, 16.0, 17.0, 20.0]))
    assert verdict == "none up to 100%" and not is_no_conclusion(verdict)


def test_two_points_are_no_curve():
    # chapter 02's quick build: two points, p50 15 → 582 ms, and the verdict said "no knee"
    verdict = limits.knee_verdict(curve([15.0, 582.0], fractions=[0.5, 1.0]))
    assert verdict == "no conclusion: the curve has 2 points, under the minimum of 5"


def test_a_point_too_short_is_no_conclusion():
    verdict = limits.knee_verdict(curve([15.0, 16.0, 18.0, 60.0, 582.0], seconds=0.5))
    assert is_no_conclusion(verdict) and "lasted 0.50 s, under its minimum of 2 s" in verdict


def test_a_point_with_too_few_records_is_no_conclusion():
    verdict = limits.knee_verdict(curve([15.0, 16.0, 18.0, 60.0, 582.0], records=400))
    assert is_no_conclusion(verdict) and "counted 400 records" in verdict


def test_a_point_below_the_knee_that_missed_its_rate_is_no_conclusion():
    sent = [10_000.0, 24_500.0, 30_000.0, 40_000.0, 30_000.0]        # 22 % over at 40 %; short at the knee is fine
    verdict = limits.knee_verdict(curve([15.0, 16.0, 18.0, 20.0, 582.0], sent=sent))
    assert verdict.startswith("no conclusion: at 40%: the run achieved 24,500/s against a target of 20,000/s")
    sent[1] = 20_000.0
    assert not is_no_conclusion(limits.knee_verdict(curve([15.0, 16.0, 18.0, 20.0, 582.0], sent=sent)))


def _grid(rates: dict[tuple[str, float], list[float]]) -> pd.DataFrame:
    """The send grid at 100 B for confluent-kafka: each (acks, linger) point with its runs' records/s."""
    rows = [{"point": f"100 B, acks={acks}, linger {linger:g} ms", "message_size": 100, "acks": acks,
             "linger_ms": linger, "driver": "confluent-kafka", "records_per_s": rate, "error": ""}
            for (acks, linger), runs in rates.items() for rate in runs]
    return pd.DataFrame(rows)


def test_the_grid_s_one_run_per_point_draws_no_conclusion_on_its_factors():
    effects = limits.factor_effects(_grid({("all", 5.0): [20_000.0], ("1", 5.0): [26_000.0]}))
    assert effects.to_dict("records") == [{"changed": "acks=1", "ratio": 1.3, "runs": 1, "overlap": True}]
    assert limits.effects_verdict(effects) == ("no conclusion: the comparison has 1 repetition on one side, "
                                               "under the minimum of 3")


def test_the_largest_effect_outside_the_spread_is_named_with_its_ratio():
    grid = _grid({("all", 5.0): [20_000.0, 20_100.0, 19_900.0], ("1", 5.0): [26_000.0, 26_100.0, 25_900.0],
                  ("all", 0.0): [10_000.0, 10_100.0, 9_900.0], ("all", 50.0): [40_000.0, 10_000.0, 25_000.0]})
    effects = limits.factor_effects(grid)
    assert effects["changed"].tolist() == ["acks=1", "linger 0 ms", "linger 50 ms"]
    assert effects["overlap"].tolist() == [False, False, True]       # linger 50's runs spread over the centre
    assert limits.effects_verdict(effects) == "linger 0 ms, 0.50×"   # halving beats 1.30×; the overlap is left out
    assert limits.effects_verdict(effects.iloc[:1]) == "acks=1, 1.30×"
    assert limits.effects_verdict(effects.iloc[2:]) == "none beyond the runs' spread"


def test_a_grid_of_one_point_varies_nothing():
    effects = limits.factor_effects(_grid({("all", 5.0): [20_000.0]}))
    assert effects.empty and limits.effects_verdict(effects) == "none varied"
