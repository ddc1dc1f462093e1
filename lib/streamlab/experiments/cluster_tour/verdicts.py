"""The result-dependent facts chapter 00 words: each decided here from what the tour measured.

The chapter's prose is Markdown; where its wording depends on a result (did a probe behave as the
`min.insync.replicas` rule predicts, which listeners bind beyond the loopback, did the acknowledgements resume
with the ISR shrinking), it glues one of these facts (a count, a name, a short label, yes/no) and says the rest
itself. Every function is pure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

from .milestones import AckStall
from .probes import error_name

#: What the min.insync.replicas rule predicts per probe: (situation, min.insync.replicas, acks) → outcome.
#: ``all``/``none``: every / no message acknowledged; ``live``: exactly the partitions led by a live broker.
PROBE_RULE: dict[tuple[str, int, str], str] = {
    ("3 of 3 brokers up", 2, "all"): "all",
    ("2 of 3 brokers up", 2, "all"): "all",
    ("2 of 3 brokers up", 3, "all"): "none",
    ("2 of 3 brokers up", 3, "1"): "all",
    ("1 of 3 brokers up", 2, "all"): "none",
    ("1 of 3 brokers up", 2, "1"): "live",
}


def _probe_row(probes: pd.DataFrame, situation: str, min_insync: int, acks: str) -> pd.Series | None:
    if probes.empty:
        return None
    rows = probes[(probes["situation"] == situation) & (probes["min.insync.replicas"] == min_insync)
                  & (probes["acks"] == acks)]
    return None if rows.empty else rows.iloc[0]


def probe_label(probes: pd.DataFrame, situation: str, min_insync: int, acks: str) -> str:
    """One probe's outcome as a label: ``acknowledged/sent``, the error's name if any (``0/12
    NOT_ENOUGH_REPLICAS``); ``not probed`` when the run has no such probe."""
    row = _probe_row(probes, situation, min_insync, acks)
    if row is None:
        return "not probed"
    return f"{row['acknowledged']}/{row['sent']}" + (f" {row['error']}" if row["error"] else "")


def as_predicted(probes: pd.DataFrame, situation: str, min_insync: int, acks: str) -> bool | None:
    """Whether the probe got what `PROBE_RULE` predicts (for ``live``: acknowledged exactly in the partitions
    led by a live broker); None when not probed or the rule says nothing."""
    row = _probe_row(probes, situation, min_insync, acks)
    expected = PROBE_RULE.get((situation, min_insync, acks))
    if row is None or expected is None:
        return None
    if expected == "live":
        return (row["partitions acknowledged"] or "") == (row["partitions led by a live broker"] or "")
    got = "all" if row["acknowledged"] == row["sent"] else "none" if row["acknowledged"] == 0 else "some"
    return got == expected


def off_rule(probes: pd.DataFrame) -> list[str]:
    """The probes (``situation, min.insync.replicas, acks``) whose outcome is not what the rule predicts."""
    return [f"{situation}, min.insync.replicas={min_insync}, acks={acks}"
            for situation, min_insync, acks in PROBE_RULE
            if as_predicted(probes, situation, min_insync, acks) is False]


def not_enough_replicas(probes: pd.DataFrame) -> str | None:
    """The broker's text of the NOT_ENOUGH_REPLICAS error a probe got, None when no probe got it."""
    hits = probes[probes["error"] == "NOT_ENOUGH_REPLICAS"] if not probes.empty else probes
    return None if hits.empty else str(hits["error_text"].iloc[0])


def stop_leaders_s(compared: pd.DataFrame | None) -> float | None:
    """Seconds until every partition had a live leader again after the controlled shutdown
    (`milestones.compare_tours`, second column); None when the comparison was not run."""
    if compared is None or compared.empty:
        return None
    return float(compared.loc["every partition led by a live broker again"].iloc[1])


def coordinator_taken_down(coordinator_id: int | None, failed: Iterable[int]) -> bool | None:
    """Whether the tour took down the broker that coordinated its consumer group; None if it was not named."""
    return None if coordinator_id is None else coordinator_id in set(failed)


def consumer_error_names(errors: Iterable[str]) -> list[str]:
    """The distinct errors the group member saw, by name, sorted."""
    return sorted({error_name(e) for e in errors})


def wide_listeners(checks: pd.DataFrame) -> list[str]:
    """The listeners of a `endpoints.port_checks` table that bind more than the loopback interface
    (``process listener on binds``); empty when nothing of the stack is reachable from another machine."""
    loopback = {"127.0.0.1", "::1"}
    local = checks["binds"].map(lambda b: set(b.split(", ")) <= loopback)
    return [f"{r.process} {r.listener.split(' (')[0]} on {r.binds}" for r in checks.loc[~local].itertuples()]


def stall_ended_with_isr(stall: AckStall, sample_every_s: float) -> bool | None:
    """Did the RF 3 acknowledgements resume as the dead follower left the ISR, i.e. within two samples of the
    ISR shrinking? None when the tour did not record both the stall and the shrinking."""
    if any(math.isnan(v) for v in (stall.killed_s, stall.stall_from_s, stall.stall_to_s, stall.isr_shrank_s)):
        return None
    return abs(stall.resumed_after_isr_s) <= 2 * sample_every_s
