"""The result-dependent phrases chapter 00 quotes: each decided here from what the tour measured.

The chapter's prose is Markdown; where its wording depends on a result (was
the stack already running, did the probes behave as the rule predicts, was
anything acknowledged lost, does every listener bind the loopback only), it
glues one of these phrases. Every function is pure and returns a phrase that
is true of its arguments, whichever way the run went.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from .probes import error_name


def _n(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def stack_up(was_ready: bool) -> str:
    """Whether `up()` found the stack running or started it."""
    return "it was already running, and up() confirmed it ready" if was_ready else \
        "this cell started it, and it was ready"


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


def probe_outcome(probes: pd.DataFrame, situation: str, min_insync: int, acks: str) -> str:
    """One probe's outcome in words, with a note when it is not what the rule predicts."""
    rows = probes[(probes["situation"] == situation) & (probes["min.insync.replicas"] == min_insync)
                  & (probes["acks"] == acks)] if not probes.empty else probes
    if rows.empty:
        return "not probed in this run"
    row = rows.iloc[0]
    text = f"{row['acknowledged']} of {row['sent']} acknowledged"
    if row["error"]:
        text += f", error {row['error']} ({row['error_text']})"
    expected = PROBE_RULE.get((situation, min_insync, acks))
    got = "all" if row["acknowledged"] == row["sent"] else "none" if row["acknowledged"] == 0 else "some"
    if expected == "live":
        live = row["partitions led by a live broker"] or "none"
        acked = row["partitions acknowledged"] or "none"
        text += f"; acknowledged in partition(s) {acked}, led by a live broker: {live}"
        if acked != live:
            text += " (not what the rule predicts)"
    elif expected is not None and expected != got:
        text += f" (not what the rule predicts: {expected} acknowledged)"
    return text


def not_enough_replicas(probes: pd.DataFrame) -> str:
    """The error a producer got when the ISR was below min.insync.replicas, if any probe got it."""
    hits = probes[probes["error"] == "NOT_ENOUGH_REPLICAS"] if not probes.empty else probes
    if hits.empty:
        return "No probe got NOT_ENOUGH_REPLICAS in this run."
    return ("The error a producer gets when the ISR is smaller than min.insync.replicas: "
            f"{hits['error'].iloc[0]} — {hits['error_text'].iloc[0]}.")


def crash_vs_stop(compared: pd.DataFrame | None, gap_stop_s: float | None) -> str:
    """The controlled shutdown against the crash (`milestones.compare_tours`), or why it was not run."""
    if compared is None or compared.empty:
        return ("Not run in this profile (compare_stop = False): the full profile runs it, or "
                "python -m streamlab.book --chapters 00 -p compare_stop=true.")
    row = compared.loc["every partition led by a live broker again"]
    crash, stop = float(row.iloc[0]), float(row.iloc[1])
    faster = "sooner than" if stop < crash else "no sooner than"
    return (f"With a controlled shutdown every partition had a new leader after {stop:.1f} s, {faster} the "
            f"{crash:.1f} s after the crash, and the longest stretch without an acknowledgement on the RF 3 topic "
            f"was {gap_stop_s:.1f} s.")


def coordinator(coordinator_id: int | None, failed: Iterable[int]) -> str:
    """Which broker coordinated the tour's consumer group, and whether the tour took it down."""
    if coordinator_id is None:
        return "was not named by the cluster in this run"
    if coordinator_id in set(failed):
        return f"was broker {coordinator_id}, one of the brokers the tour took down"
    return f"was broker {coordinator_id}, which stayed up"


def consumer_errors(errors: Iterable[str]) -> str:
    """The distinct errors the group member saw, by name."""
    names = sorted({error_name(e) for e in errors})
    if not names:
        return "The group member reported no errors on the way."
    return "Errors the group member saw on the way: " + ", ".join(names) + "."


def acknowledged_lost(lost: int) -> str:
    if lost == 0:
        return "No acknowledged message is missing from the log, although brokers were killed without warning"
    return f"{_n(lost, 'acknowledged message')} {'is' if lost == 1 else 'are'} missing from the log"


def stored_twice_idempotent(twice: int) -> str:
    if twice == 0:
        return ("None was stored twice: the idempotent producer numbers its batches, so a leader discards a "
                "retried batch it already has.")
    return f"{_n(twice, 'message')} {'was' if twice == 1 else 'were'} stored twice despite the idempotent producer."


def group_redelivered(again: int) -> str:
    if again:
        return (f"; {_n(again, 'delivery', 'deliveries')} {'was a repeat' if again == 1 else 'were repeats'} of "
                "offsets it had read but not yet committed when its partitions moved")
    return "; none twice in this run"


def failed_but_stored(n: int) -> str:
    if n == 0:
        return "None of the failed ones is in the log."
    return (f"{_n(n, 'message')} reported as failed {'is' if n == 1 else 'are'} in the log anyway: a timeout tells "
            "the producer only that it does not know, not that nothing was written.")


def stored_twice_plain(twice: int) -> str:
    if twice == 0:
        return "No message was stored twice this time, which without idempotence is luck."
    return f"Without idempotence, the client's retries stored {_n(twice, 'message')} twice."


def loopback_only(checks: pd.DataFrame) -> str:
    """Whether every listener of a `endpoints.port_checks` table binds the loopback interface only."""
    loopback = {"127.0.0.1", "::1"}
    local = checks["binds"].map(lambda b: set(b.split(", ")) <= loopback)
    if local.all():
        return "Every listener binds the loopback interface only: nothing of the stack is reachable from another " \
               "machine."
    wide = checks.loc[~local, ["process", "listener", "binds"]]
    return ("Every listener binds the loopback interface only, except: "
            + "; ".join(f"{r.process}'s {r.listener.split(' (')[0]} on {r.binds}" for r in wide.itertuples())
            + " — reachable from other machines unless a firewall stops it (the Erlang distribution port is "
              "guarded only by the shared Erlang cookie).")


def topics_left(left: list[str]) -> str:
    return "the tour's topics are deleted" if not left else f"the tour's topics {', '.join(left)} are still there"


def ack_stall(killed_s: float, stall_from_s: float, stall_to_s: float, isr_shrank_s: float,
              sample_every_s: float) -> str:
    """What ended the RF 3 acknowledgement stall, from when it ended and when the ISR shrank (sampled every
    `sample_every_s`, so "at the same time" means within two samples)."""
    if any(pd.isna(v) for v in (killed_s, stall_from_s, stall_to_s, isr_shrank_s)):
        return "the tour did not record both the stall and the ISR shrinking, so no conclusion on what ended it"
    stall = (f"every RF 3 acknowledgement stopped from {stall_from_s - killed_s:.1f} s to "
             f"{stall_to_s - killed_s:.1f} s after the kill")
    after = stall_to_s - isr_shrank_s
    if abs(after) <= 2 * sample_every_s:
        return (f"{stall}, and the ISR of the RF 3 partitions shrank to two replicas "
                f"{isr_shrank_s - killed_s:.1f} s after it: the acknowledgements resumed as the dead follower "
                f"left the ISR ({after:+.1f} s, within the {sample_every_s:g}-s sampling)")
    if after > 0:
        return (f"{stall}; the ISR had shrunk {after:.1f} s earlier ({isr_shrank_s - killed_s:.1f} s after the "
                "kill), so something besides the ISR held the acknowledgements back (a leader election, the "
                "producer's retry backoff)")
    return (f"{stall}; they resumed {-after:.1f} s before the ISR was seen to shrink, so this run does not "
            "show the ISR as the cause")
