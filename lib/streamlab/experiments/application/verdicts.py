"""The result-dependent phrases chapter 01 quotes: each decided here from what the run measured.

The chapter's prose is Markdown; where its wording depends on a result ("the
rate holds", "in the order they were sent", "no temporary file was left
behind", "the application itself is light"), it glues one of these phrases
instead of asserting it. Every function is pure and returns a phrase that is
true of its arguments, whichever way the run went.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def hz_range(per_machine_hz: pd.Series) -> str:
    """The measured per-machine rates: ``10.00`` or ``between 9.98 and 10.01``."""
    low, high = f"{per_machine_hz.min():.2f}", f"{per_machine_hz.max():.2f}"
    return low if low == high else f"between {low} and {high}"


def rate_verdict(per_machine_hz: pd.Series, configured_hz: float, required_hz: float = 10.0,
                 tolerance: float = 0.02) -> str:
    """Whether every machine's measured rate met the configured one (within ``tolerance``) and the assignment's."""
    slowest = float(per_machine_hz.min()) if len(per_machine_hz) else math.nan
    met_config = slowest >= configured_hz * (1 - tolerance)
    met_required = slowest >= required_hz * (1 - tolerance)
    if met_config and met_required:
        return (f"within {tolerance:.0%} of the {configured_hz:g} Hz configured for the run, which meets the "
                f"{required_hz:g} Hz the assignment asks for")
    if met_config:
        return (f"within {tolerance:.0%} of the {configured_hz:g} Hz configured for the run, below the "
                f"{required_hz:g} Hz the assignment asks for")
    return (f"short of the {configured_hz:g} Hz configured for the run (the slowest machine: {slowest:.2f} Hz)"
            + ("" if met_required else f", and short of the {required_hz:g} Hz the assignment asks for"))


def rate_holds(steady_hz: float, configured_hz: float, tolerance: float = 0.02) -> str:
    """Did the generator's steady rate per machine hold the configured rate (the ticks caught up)?"""
    if steady_hz >= configured_hz * (1 - tolerance):
        return "late ticks are caught up, so the rate holds"
    return (f"the loop could not catch up: the steady rate fell to {steady_hz:.2f} Hz per machine "
            f"of the {configured_hz:g} Hz configured")


def early_latency(early_ms: pd.Series, warmup_s: float) -> str:
    """The start-up transient: median end-to-end latency of the readings sent in the first ``warmup_s``."""
    if early_ms.empty:
        return (f"no reading was sent in the first {warmup_s:g} s of the run, because the services took that long "
                "to start, so there is no start-up transient to show")
    return f"median {early_ms.median():.0f} ms end to end for readings sent in the first {warmup_s:g} s"


def order_verdict(inversions: int) -> str:
    """What the ordering check says about the processor's view of each machine's readings."""
    if inversions == 0:
        return "saw each machine's readings in the order they were sent"
    return f"saw {_plural(inversions, 'reading')} of a machine before an earlier one"


def exactly_once_verdict(machines_ok: int, machines: int) -> str:
    """Whether every machine's readings reached the Parquet files exactly once."""
    if machines_ok == machines:
        return "every reading reached the disk exactly once"
    return f"only {machines_ok} of {machines} machines have every reading exactly once on disk"


def exactly_once_phrase(exactly_once: bool) -> str:
    """The same verdict where only the run's overall flag is known (the container runs' summaries)."""
    if exactly_once:
        return "every reading reached the disk exactly once"
    return "not every reading reached the disk exactly once (the table shows how many machines did)"


def dead_letter_verdict(dead: int, injected: int, counted: int) -> str:
    """How the dead letters found compare with what was injected and what the processor counted."""
    if dead == injected == counted:
        return f"all {injected:,} dead letters are there (the processor counted {counted:,})"
    return (f"{dead:,} of the {injected:,} injected messages are in the dead-letter topic "
            f"(the processor counted {counted:,})")


def carried_on(missing: int) -> str:
    """Did the processor keep going past the bad input (no health record missing)?"""
    if missing == 0:
        return "The processor carried on: no health record is missing above."
    return f"Yet {_plural(missing, 'health record')} are missing above: the bad input cost data."


def lag_drained(lag: pd.DataFrame) -> str:
    """Whether every group's last sampled lag was zero (columns ``t_s``, ``group``, ``lag``)."""
    if lag.empty:
        return "no lag was sampled"
    last = lag.sort_values("t_s").groupby("group")["lag"].last()
    left = last[last.fillna(1) > 0]
    if left.empty:
        return "every lag drained to zero"
    return "not every lag had drained at the last sample (" + ", ".join(
        f"{group}: {value:,.0f}" if pd.notna(value) else f"{group}: unknown" for group, value in left.items()) + ")"


def temp_files_verdict(temp_files: int) -> str:
    """What the sinks' folders say about interrupted writes."""
    if temp_files == 0:
        return "No temporary file was left behind"
    return f"{_plural(temp_files, 'temporary file')} of an interrupted write were left behind"


def false_alarm_summary(false_alarms: pd.DataFrame) -> str:
    """When the false alarms (alerts outside a fault, columns ``t_s``, ``reason``) came and what they named."""
    if false_alarms.empty:
        return "There were no false alarms in this run."
    indicators = alarm_indicators(false_alarms)
    n = len(false_alarms)
    return (f"The {n} false alarm{'s were' if n > 1 else ' was'} raised between {false_alarms['t_s'].min():.1f} s "
            f"and {false_alarms['t_s'].max():.1f} s, naming {', '.join(indicators) or 'no indicator'}.")


def alarm_indicators(alarms: pd.DataFrame) -> list[str]:
    """The indicators an alert's ``reason`` names (``temp_slope=…`` → ``temp_slope``)."""
    return sorted(alarms["reason"].str.extract(r"(\w+)=")[0].dropna().unique())


def false_alarm_cause(false_alarms: pd.DataFrame, warmup_s: float,
                      start_up_indicators: Sequence[str] = ("temp_slope",)) -> str:
    """Whether the false alarms are the start-up weakness of the slope estimate, or something else."""
    if false_alarms.empty:
        return "The start-up weakness described next did not show in this run."
    start_up = false_alarms["t_s"].max() < warmup_s and set(alarm_indicators(false_alarms)) <= set(start_up_indicators)
    if start_up:
        return "All of them came at the machines' start, from the temperature slope: the weakness described next."
    return ("Not all of them are the start-up weakness described next: they need a look at the indicator "
            "they name.")


def footprint_verdict(cpu_pct_total: float, rss_mib_total: float, cores: int,
                      cpu_limit_pct: float = 100.0, rss_limit_mib: float = 1024.0) -> str:
    """Is the application light: its services together below one core and 1 GiB?"""
    if cpu_pct_total <= cpu_limit_pct and rss_mib_total <= rss_limit_mib:
        return "So the application itself is light"
    return (f"So the application itself is not light on this {cores}-core machine "
            f"({cpu_pct_total:.0f} % of a core, {rss_mib_total:,.0f} MiB)")


def broker_note(broker_usage: pd.DataFrame) -> str:
    """What the brokers used during the run (rows of `sampler.resource_summary` for the broker processes)."""
    if broker_usage.empty:
        return "The brokers are not local processes here (Docker or external stack), so they were not measured"
    return (f"The {len(broker_usage)} brokers together used {broker_usage['mean CPU (% of a core)'].sum():.0f} % "
            f"of a core and {broker_usage['peak memory (MiB)'].sum():,.0f} MiB (their JVM heaps; they also serve "
            "whatever else runs on the cluster at the time)")


def docker_files_verdict(present: bool) -> str:
    return "are" if present else "are not yet"


def scaling_shortfalls(counts: dict[str, int]) -> list[str]:
    """What the processor-kill run (`scaling.kill_counts`) failed to show, by short name; empty when the instances
    split the fleet without sharing state and losing one mid-run cost neither a reading nor the join."""
    once = counts["duplicates in Parquet"] == 0 and counts["readings missing in Parquet"] == 0
    joined = counts["records missing a stream"] == 0 and counts["records with telemetry features"] > 0
    killed = counts["scored by the killed instance before the kill"] > 0
    return [what for what, ok in (("exactly once", once), ("join", joined), ("a kill of a working instance", killed))
            if not ok]
