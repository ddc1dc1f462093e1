"""The failover tour itself: kill (or stop) brokers under load, probe the write rules, bring them back.

`failover_tour` runs the plan (a `FailoverTour`, one method per phase: baseline, one broker down,
two down, recovery, clean-up) and returns every frame it recorded as a `TourResult`;
`restore_cluster` brings every stopped or paused node back (the tour calls it in a ``finally``; a
chapter can call it on its own, too).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ...errors import UserError
from ...measure.results import write_table
from ...polling import holds_within
from ...transport.kafka_admin import describe_kafka_cluster
from ...transport.spec import TopicSpec
from .clock import Clock
from .load import BackgroundLoad, ack_latency_timeline, load_timeline
from .milestones import milestones
from .plan import TourPlan, TourResult
from .probes import probe_writes
from .quorum import quiet_kafka_python
from .sampler import ClusterSampler
from .topics import elect_preferred_leaders, group_coordinator, set_topic_config, tour_topics

__all__ = ["FailoverTour", "TourPlan", "TourResult", "controlled_stop_plan", "events_table", "failover_tour",
           "restore_cluster", "save_results"]


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


class FailoverTour:
    """One tour, phase by phase; the state the phases share (clock, log, sampler, load, brokers down) lives here.

    ``kafka`` is the stack part (`get_stack(...).part("kafka")`): it kills and restarts nodes.
    ``topics`` are `tour_topics` already created (made here otherwise); they are deleted at the end
    unless ``plan.keep_topics``.
    """

    def __init__(self, kafka: Any, transport: Any, bootstrap: str, plan: TourPlan,
                 topics: Mapping[str, TopicSpec] | None = None,
                 progress: Callable[[str], None] | None = None) -> None:
        if plan.mode not in ("kill", "stop"):
            raise ValueError(f"mode must be 'kill' or 'stop', not {plan.mode!r}")
        self.kafka, self.transport, self.bootstrap, self.plan = kafka, transport, bootstrap, plan
        self.say = progress or (lambda _msg: None)
        self.clock = Clock()
        self.events: list[dict[str, Any]] = []
        self.probes: list[dict[str, Any]] = []
        self.snapshots: dict[str, pd.DataFrame] = {}
        self.coordinator: int | None = None
        self.down: set[int] = set()  # brokers the tour has taken down and not restarted yet

        with quiet_kafka_python():
            view = describe_kafka_cluster(bootstrap)
        self.nodes = sorted(view.unfenced)
        if len(self.nodes) < 3:
            raise UserError(f"the tour needs 3 live brokers, the cluster has {len(self.nodes)}: "
                            "`streamlab stack status`")
        self.victim: int = plan.victim or view.quorum_leader
        self.second = next(n for n in self.nodes if n != self.victim) if plan.two_down else None

        self.topics = dict(topics or tour_topics(plan.topic_prefix, plan.partitions))
        transport.ensure_topics(list(self.topics.values()))
        self.rf3, self.rf1, self.probe = (self.topics[k].name for k in ("rf3", "rf1", "probe"))
        self.sampler = ClusterSampler(bootstrap, [self.rf3, self.rf1, self.probe], self.clock, plan.sample_every_s)
        self.load = BackgroundLoad(transport, {
            self.rf3: {},  # the transport's default: acks=all, idempotent, retried until delivered
            self.rf1: {"enable_idempotence": False, "message_timeout_ms": int(plan.rf1_timeout_s * 1000)},
        }, plan.rate_per_s, self.clock)

    # ---- the tour's log and its small actions

    def mark(self, event: str, node: int | None = None, detail: str = "", t: float | None = None) -> float:
        t = round(self.clock.now() if t is None else t, 3)
        self.events.append({"t_s": t, "event": event, "node": node, "detail": detail})
        self.say(f"{t:6.1f} s  {event}{f' (node {node})' if node else ''}{f': {detail}' if detail else ''}")
        return t

    def run_probes(self, situation: str, min_insync: int, acks_list: Sequence[str]) -> None:
        """Probe writes with each ``acks`` in parallel: a probe that times out should not make the next one wait."""
        rows: dict[str, dict[str, Any]] = {}
        latest = self.sampler.latest()
        leaders = {p["partition"]: p["leader"] for p in (latest[2].get(self.probe, []) if latest else [])}
        led_by_live = [pid for pid, leader in sorted(leaders.items()) if leader >= 0 and leader not in self.down]
        plan = self.plan
        threads = [threading.Thread(target=lambda a=acks: rows.__setitem__(a, probe_writes(
            self.bootstrap, self.probe, a, plan.probe_messages, plan.probe_timeout_s,
            self.topics["probe"].partitions)))
            for acks in acks_list]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for acks in acks_list:
            row = rows[acks]
            self.probes.append({"situation": situation, "min.insync.replicas": min_insync, **row,
                                "partitions led by a live broker": " ".join(map(str, led_by_live))})
            self.mark("probe", detail=f"{situation}, min.insync={min_insync}, acks={acks}: "
                                      f"{row['acknowledged']}/{row['sent']} acknowledged {row['error']}".strip())

    def set_min_insync(self, value: int) -> None:
        set_topic_config(self.bootstrap, self.probe, {"min.insync.replicas": str(value)})
        self.mark("config", detail=f"{self.probe}: min.insync.replicas={value}")

    def snapshot(self, name: str) -> None:
        latest = self.sampler.latest()
        if latest is not None:
            self.snapshots[name] = pd.DataFrame(latest[2].get(self.rf3, []))

    def fail(self, node: int) -> None:
        self.down.add(node)
        if self.plan.mode == "kill":
            self.kafka.kill_node(node)
        else:
            self.kafka.stop_node(node)

    def sleep_until(self, t_s: float) -> None:
        remaining = t_s - self.clock.now()
        if remaining > 0:
            time.sleep(remaining)

    # ---- the phases

    def baseline(self) -> float:
        """Sampler and load running, all brokers up; returns when the failure phase starts (its end)."""
        plan, sampler, load = self.plan, self.sampler, self.load
        sampler.start()
        if not holds_within(lambda: sampler.latest() is not None, plan.step_timeout_s):
            raise UserError("no metadata sample from the cluster")
        load.start()
        self.mark("load started", detail=f"{plan.rate_per_s:g} msg/s per topic")
        # the baseline counts from the first acknowledgement: the producer's start-up is not steady state
        holds_within(lambda: any(d[0] == self.rf3 and d[4] is None for d in list(load.deliveries)),
                     plan.step_timeout_s)
        t_steady = self.mark("first acknowledgement")
        self.coordinator = group_coordinator(self.bootstrap, load.group)
        self.snapshot("before")
        if plan.probe_min_insync:
            self.run_probes("3 of 3 brokers up", 2, ["all"])
        return t_steady + plan.baseline_s

    def one_down(self) -> float:
        """The victim killed (or stopped) until the cluster has moved its leaders; returns the failure's time."""
        plan, victim, rf3 = self.plan, self.victim, self.rf3
        t_fail = self.mark(plan.mode, victim, "SIGKILL" if plan.mode == "kill" else "SIGTERM, controlled shutdown")
        self.fail(victim)
        if plan.mode == "stop":
            self.mark("process exited", victim)
        self.sampler.wait_sample(lambda live, _p: victim not in live, plan.step_timeout_s, after=t_fail)
        self.sampler.wait_sample(lambda _l, parts: all(victim not in [int(x) for x in p["isr"]] and p["leader"] >= 0
                                                       for p in parts.get(rf3, [])), plan.step_timeout_s, after=t_fail)
        self.snapshot("one down")
        if plan.probe_min_insync:
            self.run_probes("2 of 3 brokers up", 2, ["all"])
            self.set_min_insync(3)
            try:
                self.run_probes("2 of 3 brokers up", 3, ["all", "1"])
            finally:
                self.set_min_insync(2)
        return t_fail

    def two_down(self, t_fail: float) -> None:
        """A second broker down too (the controller quorum, 2 of 3 voters, is lost with it), probed, restarted.

        Both come back together: the second brings the quorum back, the first is the recovery we time."""
        second = self.second
        if second is None:
            self.sleep_until(t_fail + self.plan.down_s)
            return
        self.mark(self.plan.mode, second, "a second broker: 1 of 3 left")
        self.fail(second)
        self.run_probes("1 of 3 brokers up", 2, ["all", "1"])
        self.sleep_until(t_fail + self.plan.down_s)
        self.mark("restart", second)
        self.kafka.restart_node(second, wait=False)
        self.down.discard(second)

    def recovery(self) -> None:
        """The victim restarted, the replicas in sync again, the preferred leaders elected back."""
        plan, victim, rf3, sampler = self.plan, self.victim, self.rf3, self.sampler
        t_restart = self.mark("restart", victim)
        self.kafka.restart_node(victim, wait=False)
        self.down.discard(victim)
        sampler.wait_sample(lambda live, _p: victim in live, plan.step_timeout_s * 2, after=t_restart)
        sampler.wait_sample(lambda _l, parts: all(p["isr_size"] == p["rf"] for p in parts.get(rf3, [])),
                            plan.step_timeout_s, after=t_restart)
        self.snapshot("recovered")
        try:
            elected = elect_preferred_leaders(self.bootstrap, rf3, self.topics["rf3"].partitions)
            self.mark("preferred leader election", detail=f"{elected} partition(s) moved back")
        except Exception as exc:  # noqa: BLE001 - leaders stay where they are; the tour goes on
            self.mark("preferred leader election", detail=f"failed: {exc}")
        sampler.wait_sample(lambda _l, parts: all(p["leader"] == p["replicas"][0] for p in parts.get(rf3, [])),
                            plan.step_timeout_s)
        self.snapshot("rebalanced")
        time.sleep(plan.after_s)

    def clean_up(self) -> None:
        """Whatever happened: every broker back, load and sampler stopped, the topics deleted."""
        try:
            restarted = restore_cluster(self.kafka)
            if restarted:
                self.mark("restored after a failure", detail=f"restarted node(s) {restarted}")
        finally:
            self.mark("load stopping")
            self.load.stop()
            self.sampler.stop()
            self.mark("end")
            if not self.plan.keep_topics:
                try:
                    self.transport.delete_topics([spec.name for spec in self.topics.values()])
                except Exception:  # noqa: BLE001 - clean-up must not hide the tour's result
                    pass

    def result(self) -> TourResult:
        events = pd.DataFrame(self.events, columns=["t_s", "event", "node", "detail"])
        end = float(events["t_s"].max())
        load, sampler = self.load, self.sampler
        return TourResult(
            plan=self.plan, topics=self.topics, victim=self.victim, second=self.second, events=events,
            partitions=sampler.partitions(), brokers=sampler.brokers(), quorum=sampler.quorum(),
            load=load_timeline(load, end_s=end), latency=ack_latency_timeline(load), summary=load.summary(),
            probes=pd.DataFrame(self.probes), leaders_per_broker=_leaders_per_broker(self.snapshots, self.nodes),
            seconds=end,
            extra={"snapshots": self.snapshots, "group": load.group, "coordinator": self.coordinator,
                   "consumer_errors": load.consumer_errors,
                   "deliveries": load.deliveries_frame(), "consumed": load.consumed_frame()},
        )

    def run(self) -> TourResult:
        try:
            self.sleep_until(self.baseline())
            t_fail = self.one_down()
            self.two_down(t_fail)
            self.recovery()
        finally:
            self.clean_up()
        return self.result()


def failover_tour(kafka: Any, transport: Any, bootstrap: str, plan: TourPlan = TourPlan(),
                  topics: Mapping[str, TopicSpec] | None = None,
                  progress: Callable[[str], None] | None = None) -> TourResult:
    """Kill (or stop) a broker under load, probe the write rules, bring it back; everything timed.

    See `FailoverTour` for the arguments. The cluster is restored in a ``finally`` whatever happens.
    """
    return FailoverTour(kafka, transport, bootstrap, plan, topics, progress).run()


def _leaders_per_broker(snapshots: Mapping[str, pd.DataFrame], nodes: Sequence[int]) -> pd.DataFrame:
    rows = []
    for moment, frame in snapshots.items():
        counts = Counter(frame["leader"]) if not frame.empty else Counter()
        rows.append({"moment": moment, **{f"node {n}": counts.get(n, 0) for n in nodes},
                     "no leader": counts.get(-1, 0)})
    return pd.DataFrame(rows)


def save_results(result: TourResult, folder: Path | str, prefix: str = "tour") -> list[Path]:
    """Every frame of the tour as CSV under ``folder``."""
    written = []
    for name in ("events", "partitions", "brokers", "quorum", "load", "latency", "summary", "probes",
                 "leaders_per_broker"):
        written += write_table(getattr(result, name), folder, f"{prefix}-{name}")
    written += write_table(milestones(result), folder, f"{prefix}-milestones")
    return written


def controlled_stop_plan(plan: TourPlan) -> TourPlan:
    """The one-broker part of a plan again, with a controlled shutdown (SIGTERM) instead of a crash."""
    import dataclasses

    return dataclasses.replace(plan, mode="stop", two_down=False, probe_min_insync=False)


def events_table(events: pd.DataFrame) -> pd.DataFrame:
    """The tour's log for reading: indexed by time, node numbers as integers (blank where none)."""
    return events.assign(node=events["node"].map(lambda n: "" if pd.isna(n) else int(n))).set_index("t_s")
