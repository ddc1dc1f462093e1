"""The result-dependent facts chapter 01 words: each decided here from what the run measured.

The chapter's prose is Markdown; where its wording depends on a result (did every machine reach the rate, did
every group's lag drain, were the false alarms the start-up weakness, is the application light), it glues one of
these facts (a number, a yes/no, a list of names) and says the rest itself. Every function is pure.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

#: The rate per machine the assignment asks of one generator (Hz).
REQUIRED_HZ = 10.0
#: How far below a target rate a measured rate may fall and still count as reaching it (timer and clock noise).
RATE_TOLERANCE = 0.02
#: What "light" means for the application's services together: at most one core and 1 GiB.
LIGHT_CPU_PCT = 100.0
LIGHT_RSS_MIB = 1024.0


def hz_range(per_machine_hz: pd.Series) -> str:
    """The measured per-machine rates as a label: ``10.00`` or ``9.98–10.01``."""
    low, high = f"{per_machine_hz.min():.2f}", f"{per_machine_hz.max():.2f}"
    return low if low == high else f"{low}–{high}"


def rate_met(rates_hz: pd.Series | float, target_hz: float, tolerance: float = RATE_TOLERANCE) -> bool:
    """Whether every rate (one per machine, or one steady rate) reached ``target_hz`` within ``tolerance``."""
    slowest = float(pd.Series(rates_hz, dtype=float).min())
    return slowest >= target_hz * (1 - tolerance)


def early_median_ms(early_ms: pd.Series) -> float | None:
    """The start-up transient: median end-to-end latency of the readings sent first; None when none was."""
    return None if early_ms.empty else float(early_ms.median())


def undrained_groups(lag: pd.DataFrame) -> list[str] | None:
    """The groups whose last sampled lag was not zero (columns ``t_s``, ``group``, ``lag``; an unknown lag
    counts as not drained); None when no lag was sampled."""
    if lag.empty:
        return None
    last = lag.sort_values("t_s").groupby("group")["lag"].last()
    return sorted(str(group) for group in last[last.fillna(1) > 0].index)


def alarm_indicators(alarms: pd.DataFrame) -> list[str]:
    """The indicators an alert's ``reason`` names (``temp_slope=…`` → ``temp_slope``)."""
    return sorted(alarms["reason"].str.extract(r"(\w+)=")[0].dropna().unique())


def false_alarms_at_start_up(false_alarms: pd.DataFrame, warmup_s: float,
                             start_up_indicators: Sequence[str] = ("temp_slope",)) -> bool | None:
    """Whether every false alarm (columns ``t_s``, ``reason``) is the start-up weakness of the slope estimate:
    raised before ``warmup_s`` and naming only ``start_up_indicators``; None when there was none."""
    if false_alarms.empty:
        return None
    return bool(false_alarms["t_s"].max() < warmup_s
                and set(alarm_indicators(false_alarms)) <= set(start_up_indicators))


def is_light(cpu_pct_total: float, rss_mib_total: float) -> bool:
    """Is the application light: its services together at most `LIGHT_CPU_PCT` of a core and `LIGHT_RSS_MIB`?"""
    return cpu_pct_total <= LIGHT_CPU_PCT and rss_mib_total <= LIGHT_RSS_MIB


def scaling_shortfalls(counts: dict[str, int]) -> list[str]:
    """What the processor-kill run (`scaling.kill_counts`) failed to show, by short name; empty when the instances
    split the fleet without sharing state and losing one mid-run cost neither a reading nor the join."""
    once = counts["duplicates in Parquet"] == 0 and counts["readings missing in Parquet"] == 0
    joined = counts["records missing a stream"] == 0 and counts["records with telemetry features"] > 0
    killed = counts["scored by the killed instance before the kill"] > 0
    return [what for what, ok in (("exactly once", once), ("join", joined), ("a kill of a working instance", killed))
            if not ok]
