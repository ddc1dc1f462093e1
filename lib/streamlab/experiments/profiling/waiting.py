"""How much of a profiled service's time was waiting rather than work, and which call it waited in most.

cProfile charges a blocking call's wall time to the call as its own time: ``time.sleep`` and a client's
``poll``, ``flush`` or ``commit`` that waits for the broker look like the busiest functions of a profile
although the process does nothing meanwhile. A profile of the unthrottled loop (started after the first
record, `runner.steady_state`) should be mostly work; whether it is, and where it is not, is read here
from the profile as figures (shares, the largest wait's name), which chapter 04's Markdown says.
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


def short_name(function: str) -> str:
    """A cProfile function label shortened to the method's name (`'flush' of 'cimpl.Producer'` → `flush`)."""
    match = re.search(r"'(\w+)' of|method ([\w.]+)>", function)
    return next(g for g in match.groups() if g) if match else function


def largest_wait(prof: str | Path) -> dict[str, object]:
    """A profile's largest blocking call: its short ``function`` name, ``share_pct`` of the profiled time and
    what it ``waits_for``; an empty name and 0 % when the profile has no blocking call."""
    calls = blocking_calls(prof)
    if calls.empty:
        return {"function": "", "share_pct": 0.0, "waits_for": ""}
    top = calls.iloc[0]
    return {"function": short_name(str(top["function"])), "share_pct": float(top["share_pct"]),
            "waits_for": str(top["waits_for"])}
