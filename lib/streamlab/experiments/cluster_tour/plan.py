"""What a cluster tour is told (`TourPlan`) and what it returns (`TourResult`): data only.

Apart from `failover`, which runs a tour, and `milestones`, which reads a result, so that both
depend on these types and neither on the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ...transport.spec import TopicSpec


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
