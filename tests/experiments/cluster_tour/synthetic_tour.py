"""A small synthetic `TourResult`: broker 1 (the quorum leader) is killed at 3 s, broker 2 at 5 s; both restart
at 8 s; every partition's leader moves from 1 to 2 and back; no acknowledgement between 2.51 s and 6 s. Shared by
the tour's unit tests."""

from __future__ import annotations

import pandas as pd

from streamlab.experiments.cluster_tour.plan import TourPlan, TourResult
from streamlab.transport.spec import TopicSpec

END = 15.0


def make_result() -> TourResult:
    topics = {"rf3": TopicSpec("t-rf3", "raw", 2, 3), "rf1": TopicSpec("t-rf1", "raw", 1, 1),
              "probe": TopicSpec("t-probe", "raw", 3, 3)}
    events = pd.DataFrame([
        (0.5, "load started", None, ""), (3.0, "kill", 1, "SIGKILL"), (5.0, "kill", 2, ""),
        (8.0, "restart", 2, ""), (8.2, "restart", 1, ""), (12.0, "preferred leader election", None, ""),
        (15.0, "end", None, ""),
    ], columns=["t_s", "event", "node", "detail"])
    brokers, partitions, quorum = [], [], []
    for t in range(16):
        t = float(t)
        live = [1, 2, 3] if t < 3 or t >= 9 else [2, 3] if t < 5 else [3]
        brokers.append({"t_s": t, "live": " ".join(map(str, live)), "live_count": len(live), "answered": True,
                        "error": ""})
        quorum.append({"t_s": t, "quorum_leader": 1 if t < 4 else 3 if t < 5 or t >= 9 else -1, "leader_epoch": 1,
                       "high_watermark": 10, "voters_caught_up": 3, "answered": not 5 <= t < 9, "error": ""})
        for pid in (0, 1):
            leader = 1 if t < 7 or t >= 12 else 2
            isr = "1 2 3" if t < 7 or t >= 10 else "2 3"
            partitions.append({"t_s": t, "topic": "t-rf3", "partition": pid, "leader": leader, "replicas": "1 2 3",
                               "isr": isr, "isr_size": len(isr.split()), "rf": 3, "error": ""})
        partitions.append({"t_s": t, "topic": "t-rf1", "partition": 0, "leader": -1 if 3 <= t < 9 else 1,
                           "replicas": "1", "isr": "1", "isr_size": 1, "rf": 1, "error": ""})
    load = pd.DataFrame([{"t_s": float(t), "topic": topic, "outcome": outcome, "messages": 10, "per_s": 10.0}
                         for t in range(15) for topic in ("t-rf3", "t-rf1")
                         for outcome in ("acknowledged", "failed", "read by the group", "read, assigned")])
    latency = pd.DataFrame([{"t_s": float(t), "topic": "t-rf3", "p50_s": 0.01, "max_s": 0.02 + t / 10}
                            for t in range(15)])
    deliveries = pd.DataFrame([("t-rf3", i, i * 0.5, 6.0 if 6 <= i < 12 else i * 0.5 + 0.01, None) for i in range(30)],
                              columns=["topic", "seq", "t_sent", "t_done", "error"])
    consumed = pd.DataFrame([("group", "t-rf3", i, 0, i, i * 0.5 + 0.02) for i in range(30)],
                            columns=["reader", "topic", "seq", "partition", "offset", "t_s"])
    return TourResult(
        plan=TourPlan(), topics=topics, victim=1, second=2, events=events, partitions=pd.DataFrame(partitions),
        brokers=pd.DataFrame(brokers), quorum=pd.DataFrame(quorum), load=load, latency=latency,
        summary=pd.DataFrame(), probes=pd.DataFrame(), leaders_per_broker=pd.DataFrame(), seconds=END,
        extra={"deliveries": deliveries, "consumed": consumed},
    )
