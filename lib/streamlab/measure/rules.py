"""The validity rules of a measurement, declared once and checked once (shared/DESIGN.md, "Measurement rules").

A figure means something only if the next build on the same kind of machine gives about the same
(issue 30). Two quick builds of one tree moved most ratios by more than a quarter, and single builds
concluded from runs of 0.1 s, from two-point "curves", from one repetition of a comparison and from
"fixed-rate" runs that sent 22 % more than their target. So every experiment declares what a run of
its must meet (`RunRules`), the checks here say which rule a run failed, and a verdict helper that
is handed a run which does not qualify returns ``no conclusion: <the rule>`` instead of a finding:
the chapter's Markdown quotes that fact as it quotes a finding, and no sentence concludes from a run
that does not qualify.

Timings that feed a rate come from `Stopwatch` (``time.perf_counter_ns``): a duration rounded to a
coarse tick before it divides a record count makes rates such as 47,619.05 records/s out of 100,000
records in "2.1 s".
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

#: What a verdict on a run that does not qualify begins with; chapters and tests read it.
NO_CONCLUSION = "no conclusion"
#: A run lasts at least this many of its coarsest clock's ticks.
TICKS_PER_RUN = 10
#: A curve has at least this many points.
MIN_CURVE_POINTS = 5
#: A comparison the text concludes from has at least this many repetitions per side.
MIN_REPETITIONS = 3
#: A fixed-rate run that misses its target by more than this fraction is flagged.
RATE_TOLERANCE = 0.10


class Stopwatch:
    """Elapsed time from ``time.perf_counter_ns``: the one clock rates are computed with.

    Nanoseconds, monotonic and not rounded: a rate divides by this, never by a duration someone
    rounded for printing.
    """

    def __init__(self) -> None:
        self.start_ns = time.perf_counter_ns()
        self.stop_ns: int | None = None

    def stop(self) -> float:
        """Stop the watch (once; later calls keep the first stop) and return the seconds elapsed."""
        if self.stop_ns is None:
            self.stop_ns = time.perf_counter_ns()
        return self.seconds

    @property
    def seconds(self) -> float:
        end = self.stop_ns if self.stop_ns is not None else time.perf_counter_ns()
        return (end - self.start_ns) / 1e9


def rate(count: float, seconds: float) -> float:
    """``count`` per second, NaN for a run of no measurable length (never a division by a rounded zero)."""
    return count / seconds if seconds > 0 else math.nan


def no_conclusion(reason: str) -> str:
    """The verdict of a run that does not qualify: ``no conclusion: <reason>``."""
    return f"{NO_CONCLUSION}: {reason}"


def is_no_conclusion(verdict: str) -> bool:
    return verdict.startswith(NO_CONCLUSION)


@dataclass(frozen=True)
class RunRules:
    """What one run of an experiment must meet before anything is concluded from it.

    ``tick_s`` is the coarsest clock or reporting tick the run is measured with (a perf tool's
    5-s window, a sampler's 0.25-s period, a timeline's 0.1-s bucket): the run lasts at least
    `TICKS_PER_RUN` of them, and at least ``min_seconds`` and ``min_records`` whatever its tick.
    """

    min_seconds: float
    min_records: int
    tick_s: float = 0.0

    def failures(self, seconds: float, records: float) -> list[str]:
        """The rules a run of ``seconds`` and ``records`` breaks, as short facts (empty: it qualifies)."""
        out = []
        if not seconds > 0:
            out.append("the run has no measured duration")
            return out
        if seconds < self.min_seconds:
            out.append(f"the run lasted {seconds:.2f} s, under its minimum of {self.min_seconds:g} s")
        if self.tick_s > 0 and seconds < TICKS_PER_RUN * self.tick_s:
            out.append(f"the run lasted {seconds:.2f} s, under {TICKS_PER_RUN}× its {self.tick_s:g}-s tick")
        if records < self.min_records:
            out.append(f"the run counted {records:,.0f} records, under its minimum of {self.min_records:,}")
        return out


def rate_miss(target: float | None, achieved: float) -> float:
    """How far the achieved rate is from the target, as a fraction of the target (NaN without a target)."""
    if target is None or not target > 0 or not math.isfinite(achieved):
        return math.nan
    return abs(achieved - target) / target


def rate_failure(target: float | None, achieved: float, tolerance: float = RATE_TOLERANCE) -> str | None:
    """The fact that a fixed-rate run missed its target by more than ``tolerance``, or None."""
    miss = rate_miss(target, achieved)
    if target is None:
        return None
    if math.isnan(miss):
        return f"the run reported no achieved rate against its target of {target:,.0f}/s"
    if miss > tolerance:
        return (f"the run achieved {achieved:,.0f}/s against a target of {target:,.0f}/s "
                f"({miss:.0%} off, more than {tolerance:.0%})")
    return None


def curve_failure(points: int, minimum: int = MIN_CURVE_POINTS) -> str | None:
    """The fact that a curve has too few points to show a shape, or None."""
    if points < minimum:
        return f"the curve has {points} point{'s' if points != 1 else ''}, under the minimum of {minimum}"
    return None


@dataclass(frozen=True)
class Spread:
    """Repetitions of one figure: their count, mean and sample standard deviation."""

    n: int
    mean: float
    sd: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
        if not finite:
            return cls(0, math.nan, math.nan)
        sd = statistics.stdev(finite) if len(finite) > 1 else math.nan
        return cls(len(finite), statistics.fmean(finite), sd)

    @property
    def low(self) -> float:
        return self.mean - self.sd

    @property
    def high(self) -> float:
        return self.mean + self.sd

    @property
    def cv(self) -> float:
        """Coefficient of variation (sd ÷ mean), NaN with fewer than two values or a zero mean."""
        return self.sd / abs(self.mean) if self.n > 1 and self.mean else math.nan

    def label(self, digits: int = 0) -> str:
        """``mean ± sd`` as a table shows it."""
        if self.n < 2:
            return f"{self.mean:,.{digits}f} (n={self.n})"
        return f"{self.mean:,.{digits}f} ± {self.sd:,.{digits}f} (n={self.n})"


@dataclass(frozen=True)
class Comparison:
    """Two sides of a comparison the text draws a conclusion from, with their repetitions.

    ``overlap`` is whether the mean ± sd intervals overlap: where they do, the difference is
    within the run-to-run noise and the text says so rather than naming a winner.
    """

    a: Spread
    b: Spread
    min_repetitions: int = MIN_REPETITIONS

    @classmethod
    def of(cls, a: Sequence[float], b: Sequence[float], min_repetitions: int = MIN_REPETITIONS) -> Comparison:
        return cls(Spread.of(a), Spread.of(b), min_repetitions)

    @property
    def overlap(self) -> bool:
        if self.a.n < 2 or self.b.n < 2:
            return True          # without a spread, nothing separates the two
        return self.a.low <= self.b.high and self.b.low <= self.a.high

    @property
    def ratio(self) -> float:
        return self.a.mean / self.b.mean if self.b.mean else math.nan

    def failure(self) -> str | None:
        fewest = min(self.a.n, self.b.n)
        if fewest < self.min_repetitions:
            return (f"the comparison has {fewest} repetition{'s' if fewest != 1 else ''} on one side, "
                    f"under the minimum of {self.min_repetitions}")
        return None


#: The knee: the first load point whose p50 exceeds this many times the lowest load's p50.
KNEE_FACTOR = 3.0


def knee_index(loads: Sequence[float], p50s: Sequence[float], factor: float = KNEE_FACTOR) -> int | None:
    """The index of the knee of a latency curve, or None when no point rose that far.

    The one definition the book uses: points sorted by load, the lowest load's p50 is the floor,
    and the knee is the first point whose p50 exceeds ``factor`` × that floor. A verdict built on
    it cannot say "no knee" beside a p50 that rose 39× (chapter 02 did, from p99 and two points).
    """
    order = [i for i in sorted(range(len(loads)), key=lambda i: float(loads[i])) if math.isfinite(float(p50s[i]))]
    if len(order) < 2:
        return None
    floor = float(p50s[order[0]])
    for i in order[1:]:
        if float(p50s[i]) > factor * floor:
            return i
    return None


@dataclass
class Validity:
    """The rules a measurement broke, collected from the checks above; a verdict reads it."""

    failures: list[str] = field(default_factory=list)

    def add(self, failure: str | None) -> Validity:
        if failure:
            self.failures.append(failure)
        return self

    def extend(self, failures: Sequence[str]) -> Validity:
        self.failures.extend(failures)
        return self

    @property
    def ok(self) -> bool:
        return not self.failures

    def reason(self) -> str:
        """The failed rules, joined, as the ``no conclusion`` verdict names them."""
        return "; ".join(dict.fromkeys(self.failures))

    def verdict(self, conclusion: str) -> str:
        """``conclusion`` if the measurement qualifies, else ``no conclusion: <the rules it broke>``."""
        return conclusion if self.ok else no_conclusion(self.reason())


__all__ = ["NO_CONCLUSION", "TICKS_PER_RUN", "MIN_CURVE_POINTS", "MIN_REPETITIONS", "RATE_TOLERANCE", "Stopwatch",
           "rate", "no_conclusion", "is_no_conclusion", "RunRules", "rate_miss", "rate_failure", "curve_failure",
           "Spread", "Comparison", "Validity", "KNEE_FACTOR", "knee_index"]
