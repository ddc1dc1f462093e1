"""What a tour's frames say: when the cluster reached each state, the longest silences, the outage phases.

All read from the samples a `TourResult` holds, so their resolution is the
sampling interval (``plan.sample_every_s``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from .plan import TourResult


def milestones(result: TourResult) -> pd.DataFrame:
    """When the cluster reached each state, in seconds after the failure or the restart that caused it.

    Read from the samples, so the resolution is the sampling interval
    (``plan.sample_every_s``); a milestone not reached in time is NaN.
    Computed once per result and cached.
    """
    if "milestones" in result.extra:
        return result.extra["milestones"].copy()
    mode = result.plan.mode
    victim, second = result.victim, result.second
    t_fail = result.event_time(mode, victim)
    t_restart = result.event_time("restart", victim)
    t_second_restart = result.event_time("restart", second) if second is not None else None
    brokers = result.brokers[result.brokers["answered"]]
    victim_live = brokers["live"].str.split().map(lambda ids: str(victim) in ids)
    parts = result.partitions
    rf3 = parts[parts["topic"] == result.topics["rf3"].name]
    rf3 = rf3.assign(
        victim_leads=(rf3["leader"] == victim) | (rf3["leader"] < 0),
        victim_in_isr=rf3["isr"].str.split().map(lambda ids: str(victim) in ids),
        full=rf3["isr_size"] == rf3["rf"],
        preferred=rf3["leader"].astype(str) == rf3["replicas"].str.split().str[0],
    )
    per_t = rf3.groupby("t_s").agg(victim_leads=("victim_leads", "any"), victim_in_isr=("victim_in_isr", "any"),
                                   full=("full", "all"), preferred=("preferred", "all"))
    rf1 = parts[parts["topic"] == result.topics["rf1"].name]
    rf1_offline = (rf1["leader"] < 0).groupby(rf1["t_s"]).any()
    quorum = result.quorum
    was_quorum_leader = _quorum_leader_at(quorum, t_fail) == victim

    def first(times: pd.Series, mask: pd.Series, after: float | None) -> float | None:
        if after is None:
            return None
        hits = times[mask.to_numpy() & (times > after).to_numpy()]
        return float(hits.min()) if not hits.empty else None

    index = per_t.index.to_series()
    rows = [
        (f"broker {victim} left the list of live brokers", "failure",
         first(brokers["t_s"], ~victim_live, t_fail), t_fail),
        ("every partition led by a live broker again", "failure", first(index, ~per_t["victim_leads"], t_fail), t_fail),
        (f"ISR shrank: broker {victim} out of every ISR", "failure",
         first(index, ~per_t["victim_in_isr"], t_fail), t_fail),
        ("unreplicated partitions offline (leader none)", "failure",
         first(rf1_offline.index.to_series(), rf1_offline, t_fail), t_fail),
    ]
    if was_quorum_leader:
        rows.append(("a new controller quorum leader", "failure",
                     first(quorum["t_s"], (quorum["quorum_leader"] >= 0) & (quorum["quorum_leader"] != victim),
                           t_fail), t_fail))
    if second is not None:
        rows.append((f"quorum answers again after broker {second} restarted", "second restart",
                     first(quorum["t_s"], quorum["answered"] & (quorum["quorum_leader"] >= 0), t_second_restart),
                     t_second_restart))
    rows += [
        (f"broker {victim} listed as live again", "restart", first(brokers["t_s"], victim_live, t_restart), t_restart),
        ("ISR full again (3 of 3 everywhere)", "restart", first(index, per_t["full"], t_restart), t_restart),
        ("leaders back on their preferred replicas", "restart", first(index, per_t["preferred"], t_restart),
         t_restart),
    ]
    frame = pd.DataFrame(rows, columns=["milestone", "since", "t_s", "t_ref"])
    frame["seconds"] = (frame["t_s"] - frame["t_ref"]).round(2)
    frame["since"] = frame["since"].map({"failure": f"{mode} of broker {victim}", "restart": "its restart",
                                         "second restart": f"restart of broker {second}"})
    frame = frame[["milestone", "since", "seconds", "t_s"]]
    result.extra["milestones"] = frame
    return frame.copy()


def _quorum_leader_at(quorum: pd.DataFrame, t: float | None) -> int | None:
    if t is None or quorum.empty:
        return None
    before = quorum[(quorum["t_s"] <= t) & quorum["answered"]]
    return int(before["quorum_leader"].iloc[-1]) if not before.empty else None


def longest_gap(result: TourResult, what: str = "acknowledged", topic_key: str = "rf3") -> tuple[float, float]:
    """The longest time without any event of one kind on a topic, and when it began.

    ``what``: ``acknowledged`` (the producer's acknowledgements), ``group`` or
    ``assigned`` (reads by either reader).
    """
    topic = result.topics[topic_key].name
    if what == "acknowledged":
        frame = result.extra["deliveries"]
        times = frame.loc[(frame["topic"] == topic) & frame["error"].isna(), "t_done"]
    else:
        frame = result.extra["consumed"]
        times = frame.loc[(frame["topic"] == topic) & (frame["reader"] == what), "t_s"]
    times = times.sort_values().reset_index(drop=True)
    if len(times) < 2:
        return float("nan"), float("nan")
    gaps = times.diff()
    i = int(gaps.idxmax())
    return float(gaps[i]), float(times[i - 1])


@dataclass(frozen=True)
class AckStall:
    """The RF 3 acknowledgement stall set against the ISR: all in seconds since the tour started."""

    killed_s: float          # the broker was killed (or stopped)
    stall_from_s: float      # the last acknowledgement before the longest stretch without one
    stall_to_s: float        # the first acknowledgement after it
    isr_shrank_s: float      # the ISR of every RF 3 partition had shrunk (the dead follower removed)

    @property
    def resumed_after_isr_s(self) -> float:
        """How long after the ISR shrank the acknowledgements came back (negative: before it)."""
        return self.stall_to_s - self.isr_shrank_s


def ack_stall(result: TourResult) -> AckStall:
    """Why acks=all stops on an RF 3 topic when one broker dies: the leader waits for every replica of the
    current ISR, and the dead follower stays in it until `replica.lag.time.max.ms` passes without a fetch
    from it (or the controller fences the broker); only then does the ISR shrink and the waiting writes
    complete. The stall ends, within the sampling, when the ISR shrinks — not when the partitions that lost
    their leader have a new one."""
    gap_s, gap_at = longest_gap(result, "acknowledged")
    killed = result.event_time(result.plan.mode, result.victim)
    return AckStall(float("nan") if killed is None else float(killed), gap_at, gap_at + gap_s,
                    seconds_of(milestones(result), "ISR shrank"))


def phases(result: TourResult) -> pd.DataFrame:
    """The stretches of the tour with brokers missing: start, end and a label, for shading charts."""
    marks = milestones(result).set_index("milestone")["t_s"]
    t_fail = result.event_time(result.plan.mode, result.victim)
    back = marks.get(f"broker {result.victim} listed as live again")
    rows = []
    if t_fail is not None:
        end = back if back is not None and pd.notna(back) else result.seconds
        rows.append({"start": t_fail, "end": end, "phase": f"broker {result.victim} down"})
    if result.second is not None:
        t_second = result.event_time(result.plan.mode, result.second)
        quorum_back = marks.get(f"quorum answers again after broker {result.second} restarted")
        if t_second is not None:
            end = quorum_back if quorum_back is not None and pd.notna(quorum_back) else result.seconds
            rows.append({"start": t_second, "end": end, "phase": "no controller quorum"})
    return pd.DataFrame(rows, columns=["start", "end", "phase"])


def seconds_of(frame: pd.DataFrame, prefix: str) -> float:
    """Seconds of the first milestone (of a `milestones` frame) whose name starts with ``prefix``; NaN if none."""
    rows = frame[frame["milestone"].str.startswith(prefix)]
    return float(rows["seconds"].iloc[0]) if not rows.empty else float("nan")


def compare_tours(crash: TourResult, stop: TourResult) -> pd.DataFrame:
    """Two tours' milestones side by side, the failed broker's number taken out of the names."""
    def by_kind(result: TourResult) -> pd.Series:
        frame = milestones(result)
        return frame.assign(milestone=frame["milestone"].str.replace(f"broker {result.victim}", "the broker")) \
            .set_index("milestone")["seconds"]

    compared = pd.concat({f"{crash.plan.mode} (crash)": by_kind(crash),
                          "stop (controlled shutdown)": by_kind(stop)}, axis=1)
    return compared[~compared.index.str.startswith("quorum answers")]


def baseline_ack_ms(result: TourResult) -> float:
    """The median send→acknowledgement time on the RF 3 topic before the first failure, in ms."""
    t_fail = result.event_time(result.plan.mode, result.victim)
    latency = result.latency
    before = latency[(latency["topic"] == result.topics["rf3"].name) & (latency["t_s"] < (t_fail or 0))]
    return 1000 * float(before["p50_s"].median()) if not before.empty else float("nan")


def delivery_by_key(result: TourResult) -> pd.DataFrame:
    """The load's delivery summary indexed by topic key (``rf3``, ``rf1``) instead of the generated names."""
    summary = result.summary
    return summary.set_index(summary["topic"].map({s.name: k for k, s in result.topics.items()}))
