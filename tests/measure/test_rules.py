"""Each validity rule turns a run below its minimum into "no conclusion: <the rule>" (issue 30)."""

from __future__ import annotations

import math

import pytest

from streamlab.measure import rules
from streamlab.measure.rules import Comparison, RunRules, Spread, Stopwatch, Validity


def test_a_run_that_meets_every_minimum_qualifies():
    assert RunRules(min_seconds=5, min_records=1000, tick_s=0.25).failures(6.0, 50_000) == []


@pytest.mark.parametrize(("seconds", "records", "needle"), [
    (2.1, 50_000, "lasted 2.10 s, under its minimum of 5 s"),
    (6.0, 900, "counted 900 records, under its minimum of 1,000"),
    (0.0, 50_000, "no measured duration"),
])
def test_each_run_minimum_is_named(seconds, records, needle):
    failures = RunRules(min_seconds=5, min_records=1000).failures(seconds, records)
    assert any(needle in f for f in failures), failures
    assert Validity().extend(failures).verdict("it scaled") .startswith("no conclusion: ")


def test_a_run_lasts_ten_of_its_coarsest_ticks():
    # a perf tool's 5-s window: 30 s is not 10 windows, whatever the stated minimum
    failures = RunRules(min_seconds=1, min_records=1, tick_s=5.0).failures(30.0, 10)
    assert failures == ["the run lasted 30.00 s, under 10× its 5-s tick"]
    assert RunRules(min_seconds=1, min_records=1, tick_s=5.0).failures(50.0, 10) == []


def test_a_fixed_rate_run_more_than_ten_percent_off_is_flagged():
    assert rules.rate_failure(23_809, 29_156) is not None            # chapter 02's "50 %" point: 22 % over
    assert "22% off" in rules.rate_failure(23_809, 29_156)
    assert rules.rate_failure(23_809, 24_500) is None
    assert rules.rate_failure(None, 29_156) is None                  # a max-rate run has no target
    assert "no achieved rate" in rules.rate_failure(1000, math.nan)
    assert rules.rate_miss(1000, 900) == pytest.approx(0.1)


def test_a_curve_needs_five_points():
    assert rules.curve_failure(2) == "the curve has 2 points, under the minimum of 5"
    assert rules.curve_failure(1) == "the curve has 1 point, under the minimum of 5"
    assert rules.curve_failure(5) is None


def test_a_comparison_needs_three_repetitions_a_side():
    few = Comparison.of([1.0, 1.1], [2.0, 2.1, 2.2])
    assert few.failure() == "the comparison has 2 repetitions on one side, under the minimum of 3"
    assert Validity().add(few.failure()).verdict("b is faster").startswith("no conclusion: the comparison has 2")
    enough = Comparison.of([1.0, 1.1, 0.9], [2.0, 2.1, 2.2])
    assert enough.failure() is None and not enough.overlap
    assert Validity().add(enough.failure()).verdict("b is faster") == "b is faster"


def test_overlap_is_read_from_mean_plus_minus_sd():
    assert Comparison.of([10, 12, 14], [13, 15, 17]).overlap            # 12 ± 2 and 15 ± 2 touch
    assert not Comparison.of([10, 10.5, 11], [20, 20.5, 21]).overlap
    assert Comparison.of([10], [20]).overlap                           # no spread: nothing separates them


def test_spread_ignores_missing_values_and_gives_mean_sd_cv():
    spread = Spread.of([10.0, math.nan, 12.0, 14.0])
    assert spread.n == 3 and spread.mean == pytest.approx(12.0) and spread.sd == pytest.approx(2.0)
    assert spread.cv == pytest.approx(2.0 / 12.0)
    assert spread.label() == "12 ± 2 (n=3)"
    assert math.isnan(Spread.of([5.0]).cv) and Spread.of([]).n == 0


def test_failures_are_named_once_each_and_joined():
    validity = Validity().add("a").add(None).add("b").add("a")
    assert not validity.ok and validity.reason() == "a; b"
    assert validity.verdict("x") == "no conclusion: a; b"
    assert rules.is_no_conclusion(validity.verdict("x")) and not rules.is_no_conclusion("x")


def test_stopwatch_and_rate_do_not_divide_by_a_rounded_zero():
    watch = Stopwatch()
    first = watch.stop()
    assert first >= 0 and watch.stop() == first                  # a stopped watch keeps its reading
    assert math.isnan(rules.rate(100, 0.0))
    assert rules.rate(100_000, 2.0625) == pytest.approx(48_484.848, rel=1e-6)


def test_the_knee_is_the_first_load_whose_p50_exceeds_three_times_the_lowest_loads():
    loads = [0.2, 0.4, 0.6, 0.8, 1.0]
    assert rules.knee_index(loads, [15.0, 16.0, 44.0, 46.0, 582.0]) == 3         # 46 > 3 × 15
    assert rules.knee_index(loads, [15.0, 16.0, 20.0, 30.0, 40.0]) is None
    # unsorted input and a missing p50: the floor is still the lowest load's
    assert rules.knee_index([1.0, 0.2, 0.6], [582.0, 15.0, math.nan]) == 0
    assert rules.knee_index([0.5], [10.0]) is None
