"""The failover tour itself: kill (or stop) brokers under load, probe the write rules, bring them back.

`failover_tour` runs the plan and returns every frame it recorded as a
`TourResult`; `restore_cluster` brings every stopped or paused node back (the
tour calls it in a ``finally``; a chapter can call it on its own, too).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ...errors import UserError
from ...transport.kafka_admin import describe_kafka_cluster
from ...transport.spec import TopicSpec
from .load import BackgroundLoad, ack_latency_timeline, load_timeline
from .probes import probe_writes
from .quorum import quiet_kafka_python
from .sampler import ClusterSampler
from ...polling import holds_within
from .clock import Clock
from .milestones import milestones
from .topics import elect_preferred_leaders, group_coordinator, set_topic_config, tour_topics


def restore_cluster(kafka: Any, timeout_s: float = 120.0) -> list[int]:
    """Resume paused and restart stopped nodes, then wait until all of them serve; returns the restarted nodes."""
    restarted = []
    for row in kafka.status():
        if row.state == "paused":
            kafka.resume_node(row.node)
        elif row.state == "stopped":
            kafka.restart_node(row.node, wait=False)
            restarted.append(row.node)
    if not holds_within(kafka.is_ready, timeout_s, 0.5):
        raise UserError(f"the Kafka cluster is not whole again after {timeout_s:.0f}s: see `streamlab stack status`")
    return restarted


@dataclass(frozen=True)
class TourPlan:
    """What `failover_tour` does, and how long it may take at most."""

    partitions: int = 6
    rate_per_s: float = 100.0          # messages per second per topic
    baseline_s: float = 3.0            # all brokers up, before the first failure
    down_s: float = 8.0                # at least this long with one broker down, counted from the failure
    after_s: float = 3.0               # all brokers up again, after recovery
    victim: int = 0                    # the broker to fail; 0: whichever leads the controller quorum
    mode: str = "kill"                 # kill: SIGKILL, a crash | stop: SIGTERM, a controlled shutdown
    probe_min_insync: bool = True      # probe acks × min.insync.replicas with one broker down
    two_down: bool = True              # take a second broker down too, probe, bring it back
    probe_messages: int = 12
    probe_timeout_s: float = 3.0
    rf1_timeout_s: float = 4.0         # message.timeout.ms of the unreplicated topic's producer
    sample_every_s: float = 0.5
    step_timeout_s: float = 60.0       # bound on every wait for the cluster to reach a state
    topic_prefix: str = "tour"
    keep_topics: bool = False


@dataclass
class TourResult:
    plan: TourPlan
    topics: dict[str, TopicSpec]
    victim: int
    second: int | None
    events: pd.DataFrame
    partitions: pd.DataFrame
    brokers: pd.DataFrame
    quorum: pd.DataFrame
    load: pd.DataFrame
    latency: pd.DataFrame
    summary: pd.DataFrame
    probes: pd.DataFrame
    leaders_per_broker: pd.DataFrame
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def event_time(self, event: str, node: int | None = None, default: float | None = None) -> float | None:
        rows = self.events[self.events["event"] == event]
        if node is not None:
            rows = rows[rows["node"] == node]
        return float(rows["t_s"].iloc[0]) if not rows.empty else default

    def milestones(self) -> pd.DataFrame:
        return milestones(self)


def _leaders(partitions: Sequence[Mapping[str, Any]]) -> list[int]:
    return [p["leader"] for p in partitions]


def failover_tour(kafka: Any, transport: Any, bootstrap: str, plan: TourPlan = TourPlan(),
                  topics: Mapping[str, TopicSpec] | None = None,
                  progress: Callable[[str], None] | None = None) -> TourResult:
    """Kill (or stop) a broker under load, probe the write rules, bring it back; everything timed.

    ``kafka`` is the stack part (`get_stack(...).part("kafka")`): it kills and
    restarts nodes. ``topics`` are `tour_topics` already created (made here
    otherwise); they are deleted at the end unless ``plan.keep_topics``. The
    cluster is restored in a ``finally`` whatever happens.
    """
    if plan.mode not in ("kill", "stop"):
        raise ValueError(f"mode must be 'kill' or 'stop', not {plan.mode!r}")
    say = progress or (lambda _msg: None)
    clock = Clock()
    events: list[dict[str, Any]] = []

    def mark(event: str, node: int | None = None, detail: str = "", t: float | None = None) -> float:
        t = round(clock.now() if t is None else t, 3)
        events.append({"t_s": t, "event": event, "node": node, "detail": detail})
        say(f"{t:6.1f} s  {event}{f' (node {node})' if node else ''}{f': {detail}' if detail else ''}")
        return t

    with quiet_kafka_python():
        view = describe_kafka_cluster(bootstrap)
    nodes = sorted(view.unfenced)
    if len(nodes) < 3:
        raise UserError(f"the tour needs 3 live brokers, the cluster has {len(nodes)}: `streamlab stack status`")
    victim = plan.victim or view.quorum_leader
    second = next(n for n in nodes if n != victim) if plan.two_down else None

    topics = dict(topics or tour_topics(plan.topic_prefix, plan.partitions))
    transport.ensure_topics(list(topics.values()))
    rf3, rf1, probe = topics["rf3"].name, topics["rf1"].name, topics["probe"].name
    sampler = ClusterSampler(bootstrap, [rf3, rf1, probe], clock, plan.sample_every_s)
    load = BackgroundLoad(transport, {
        rf3: {},  # the transport's default: acks=all, idempotent, retried until delivered
        rf1: {"enable_idempotence": False, "message_timeout_ms": int(plan.rf1_timeout_s * 1000)},
    }, plan.rate_per_s, clock)
    probes: list[dict[str, Any]] = []
    snapshots: dict[str, pd.DataFrame] = {}
    coordinator: int | None = None

    def run_probes(situation: str, min_insync: int, acks_list: Sequence[str]) -> None:
        # in parallel: a probe that times out should not make the next one wait
        rows: dict[str, dict[str, Any]] = {}
        latest = sampler.latest()
        leaders = {p["partition"]: p["leader"] for p in (latest[2].get(probe, []) if latest else [])}
        led_by_live = [pid for pid, leader in sorted(leaders.items()) if leader >= 0 and leader not in down]
        threads = [threading.Thread(target=lambda a=acks: rows.__setitem__(a, probe_writes(
            bootstrap, probe, a, plan.probe_messages, plan.probe_timeout_s, topics["probe"].partitions)))
            for acks in acks_list]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for acks in acks_list:
            row = rows[acks]
            probes.append({"situation": situation, "min.insync.replicas": min_insync, **row,
                           "partitions led by a live broker": " ".join(map(str, led_by_live))})
            mark("probe", detail=f"{situation}, min.insync={min_insync}, acks={acks}: "
                                 f"{row['acknowledged']}/{row['sent']} acknowledged {row['error']}".strip())

    def set_min_insync(value: int) -> None:
        set_topic_config(bootstrap, probe, {"min.insync.replicas": str(value)})
        mark("config", detail=f"{probe}: min.insync.replicas={value}")

    def snapshot(name: str) -> None:
        latest = sampler.latest()
        if latest is not None:
            snapshots[name] = pd.DataFrame(latest[2].get(rf3, []))

    down: set[int] = set()  # brokers the tour has taken down and not restarted yet

    def fail(node: int) -> None:
        down.add(node)
        if plan.mode == "kill":
            kafka.kill_node(node)
        else:
            kafka.stop_node(node)

    try:
        sampler.start()
        if not holds_within(lambda: sampler.latest() is not None, plan.step_timeout_s):
            raise UserError("no metadata sample from the cluster")
        load.start()
        mark("load started", detail=f"{plan.rate_per_s:g} msg/s per topic")
        # the baseline counts from the first acknowledgement: the producer's start-up is not steady state
        holds_within(lambda: any(d[0] == rf3 and d[4] is None for d in list(load.deliveries)), plan.step_timeout_s)
        t_steady = mark("first acknowledgement")
        coordinator = group_coordinator(bootstrap, load.group)
        snapshot("before")
        if plan.probe_min_insync:
            run_probes("3 of 3 brokers up", 2, ["all"])
        remaining = t_steady + plan.baseline_s - clock.now()
        if remaining > 0:
            time.sleep(remaining)

        # ---- one broker down
        t_fail = mark(plan.mode, victim, "SIGKILL" if plan.mode == "kill" else "SIGTERM, controlled shutdown")
        fail(victim)
        if plan.mode == "stop":
            mark("process exited", victim)
        sampler.wait_sample(lambda live, _p: victim not in live, plan.step_timeout_s, after=t_fail)
        sampler.wait_sample(lambda _l, parts: all(victim not in [int(x) for x in p["isr"]] and p["leader"] >= 0
                                                  for p in parts.get(rf3, [])), plan.step_timeout_s, after=t_fail)
        snapshot("one down")
        if plan.probe_min_insync:
            run_probes("2 of 3 brokers up", 2, ["all"])
            set_min_insync(3)
            try:
                run_probes("2 of 3 brokers up", 3, ["all", "1"])
            finally:
                set_min_insync(2)

        # ---- two brokers down: the controller quorum (2 of 3 voters) is lost with them
        if second is not None:
            mark(plan.mode, second, "a second broker: 1 of 3 left")
            fail(second)
            run_probes("1 of 3 brokers up", 2, ["all", "1"])
            # Both come back together: the second brings the quorum back, the first is the recovery we time.
            remaining = t_fail + plan.down_s - clock.now()
            if remaining > 0:
                time.sleep(remaining)
            mark("restart", second)
            kafka.restart_node(second, wait=False)
            down.discard(second)
        else:
            remaining = t_fail + plan.down_s - clock.now()
            if remaining > 0:
                time.sleep(remaining)

        # ---- recovery
        t_restart = mark("restart", victim)
        kafka.restart_node(victim, wait=False)
        down.discard(victim)
        sampler.wait_sample(lambda live, _p: victim in live, plan.step_timeout_s * 2, after=t_restart)
        sampler.wait_sample(lambda _l, parts: all(p["isr_size"] == p["rf"] for p in parts.get(rf3, [])),
                            plan.step_timeout_s, after=t_restart)
        snapshot("recovered")
        try:
            elected = elect_preferred_leaders(bootstrap, rf3, topics["rf3"].partitions)
            mark("preferred leader election", detail=f"{elected} partition(s) moved back")
        except Exception as exc:  # leaders stay where they are; the tour goes on
            mark("preferred leader election", detail=f"failed: {exc}")
        sampler.wait_sample(lambda _l, parts: all(p["leader"] == p["replicas"][0] for p in parts.get(rf3, [])),
                            plan.step_timeout_s)
        snapshot("rebalanced")
        time.sleep(plan.after_s)
    finally:
        try:
            restarted = restore_cluster(kafka)
            if restarted:
                mark("restored after a failure", detail=f"restarted node(s) {restarted}")
        finally:
            mark("load stopping")
            load.stop()
            sampler.stop()
            mark("end")
            if not plan.keep_topics:
                try:
                    transport.delete_topics([spec.name for spec in topics.values()])
                except Exception:
                    pass

    events_frame = pd.DataFrame(events, columns=["t_s", "event", "node", "detail"])
    end = float(events_frame["t_s"].max())
    result = TourResult(
        plan=plan, topics=topics, victim=victim, second=second, events=events_frame,
        partitions=sampler.partitions(), brokers=sampler.brokers(), quorum=sampler.quorum(),
        load=load_timeline(load, end_s=end), latency=ack_latency_timeline(load), summary=load.summary(),
        probes=pd.DataFrame(probes), leaders_per_broker=_leaders_per_broker(snapshots, nodes), seconds=end,
        extra={"snapshots": snapshots, "group": load.group, "coordinator": coordinator,
               "consumer_errors": load.consumer_errors,
               "deliveries": load.deliveries_frame(), "consumed": load.consumed_frame()},
    )
    return result


def _leaders_per_broker(snapshots: Mapping[str, pd.DataFrame], nodes: Sequence[int]) -> pd.DataFrame:
    rows = []
    for moment, frame in snapshots.items():
        counts = Counter(frame["leader"]) if not frame.empty else Counter()
        rows.append({"moment": moment, **{f"node {n}": counts.get(n, 0) for n in nodes},
                     "no leader": counts.get(-1, 0)})
    return pd.DataFrame(rows)


def save_results(result: TourResult, folder: Path | str, prefix: str = "tour") -> list[Path]:
    """Every frame of the tour as CSV under ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in ("events", "partitions", "brokers", "quorum", "load", "latency", "summary", "probes",
                 "leaders_per_broker"):
        path = folder / f"{prefix}-{name}.csv"
        getattr(result, name).to_csv(path, index=False)
        written.append(path)
    path = folder / f"{prefix}-milestones.csv"
    milestones(result).to_csv(path, index=False)
    written.append(path)
    return written


def controlled_stop_plan(plan: TourPlan) -> TourPlan:
    """The one-broker part of a plan again, with a controlled shutdown (SIGTERM) instead of a crash."""
    import dataclasses

    return dataclasses.replace(plan, mode="stop", two_down=False, probe_min_insync=False)


def events_table(events: pd.DataFrame) -> pd.DataFrame:
    """The tour's log for reading: indexed by time, node numbers as integers (blank where none)."""
    return events.assign(node=events["node"].map(lambda n: "" if pd.isna(n) else int(n))).set_index("t_s")
