"""How much of a profiled service's time was waiting rather than work, and the sentence that says so.

cProfile charges a blocking call's wall time to the call as its own time: ``time.sleep`` and a client's
``poll``, ``flush`` or ``commit`` that waits for the broker look like the busiest functions of a profile
although the process does nothing meanwhile. A profile of the unthrottled loop (started after the first
record, `runner.steady_state`) should be mostly work; whether it is, and where it is not, is read here
from the profile, so chapter 04's sentence about it is the run's, not a claim.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from .stats import stats_frame

#: Calls that block, as cProfile names them, and what each one waits for (its words in the chapter).
#: confluent-kafka's methods of Producer/Consumer, kafka-python's and pika's selector polls and lock waits.
WAITS: dict[str, str] = {
    r"time\.sleep": "its own pacing",
    r"'flush' of '(cimpl|confluent_kafka)": "the brokers' acknowledgements of what it sent",
    r"'commit' of '(cimpl|confluent_kafka)": "the group coordinator to take its offsets",
    r"'(poll|consume)' of '(cimpl|confluent_kafka)": "records or delivery reports from the client",
    r"'(poll|select)' of 'select\.|select\.select": "its sockets",
    r"'acquire' of '_thread": "another thread",
    r"'list_topics' of": "metadata from the brokers",
}
#: Below this share of its profiled time in blocking calls, a service's time counts as its work.
WORK_SHARE_PCT = 10.0
#: The services' names in the chapter's prose.
NAMES = {"telemetry_generator": "the telemetry generator", "vibration_generator": "the vibration generator",
         "health_processor": "the processor", "health_parquet_sink": "the Parquet sink",
         "alert_csv_sink": "the alert sink"}


def _wait_kind(function: str) -> str | None:
    return next((pattern for pattern in WAITS if re.search(pattern, function)), None)


def blocking_calls(prof: str | Path) -> pd.DataFrame:
    """The blocking calls of a profile: ``function``, ``own_s``, ``share_pct`` of the profiled time and
    ``waits_for``, largest first."""
    frame = stats_frame(prof)
    total = frame.attrs["total_s"]
    kinds = frame["function"].map(_wait_kind)
    out = frame[kinds.notna()].assign(waits_for=kinds[kinds.notna()].map(WAITS))
    out = out.groupby("function", as_index=False).agg(own_s=("own_s", "sum"), waits_for=("waits_for", "first"))
    out["share_pct"] = 100 * out["own_s"] / total if total > 0 else float("nan")
    return out.sort_values("own_s", ascending=False).reset_index(drop=True)[
        ["function", "own_s", "share_pct", "waits_for"]]


def waiting_pct(prof: str | Path) -> float:
    """The share (%) of a profile's time spent in blocking calls."""
    return float(blocking_calls(prof)["share_pct"].sum())


def _short(function: str) -> str:
    match = re.search(r"'(\w+)' of|method ([\w.]+)>", function)
    return f"`{next(g for g in match.groups() if g)}`" if match else f"`{function}`"


def _listed(shares: dict[str, pd.DataFrame]) -> str:
    """'the processor spent 50 % of its profiled time in calls that block, the sink 5 % and …'"""
    parts = [(NAMES.get(s, s), f"{w['share_pct'].sum():.0f} %") for s, w in shares.items()]
    (name, pct), rest = parts[0], [f"{n} {p}" for n, p in parts[1:]]
    head = f"{name} spent {pct} of its profiled time in calls that block"
    if not rest:
        return head
    return f"{head}, " + (f"{', '.join(rest[:-1])} and " if len(rest) > 1 else "") + rest[-1]


def work_phrase(profiles: dict[str, str | Path]) -> str:
    """Whether the unthrottled services' time is their work, from their profiles ({service: .prof}).

    "A service's time is its work" holds for a service below WORK_SHARE_PCT % of blocking calls; a service
    above it is named with its largest wait and what that call waits for."""
    shares = {service: blocking_calls(prof) for service, prof in profiles.items()}
    listed = _listed(shares)
    waiters = {s: w for s, w in shares.items() if w["share_pct"].sum() >= WORK_SHARE_PCT}
    if not waiters:
        return f"Unthrottled, a service's time is its work: {listed}."
    details = "; ".join(
        f"{NAMES.get(s, s)}'s largest wait is {_short(w.loc[0, 'function'])} ({w.loc[0, 'share_pct']:.0f} %), "
        f"waiting for {w.loc[0, 'waits_for']}" for s, w in waiters.items())
    return f"Unthrottled, not every service's time is its work: {listed}; {details}."
