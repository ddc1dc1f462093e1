"""Deep dive 3: how partitions and their leaders are spread over the brokers, and how that spread is kept.

Two experiments on a 3-broker cluster:

- `leader_skew`: a topic's leaders and replicas per broker when created, while
  one broker is stopped (a controlled shutdown, as in a rolling restart), after
  it is back, and after a *preferred-leader election*. A returning broker gets
  its replicas back but not its leadership, so its load lands on the others
  until the election (or Kafka's own check, every
  ``leader.imbalance.check.interval.seconds``, 300 s by default) gives each
  partition back to the first broker of its replica list.
- `reassignment`: a topic on two brokers, filled with data, is spread over
  three by a partition reassignment (the Admin API behind
  ``kafka-reassign-partitions``) while a producer keeps writing; the producer's
  acknowledged records per interval show whether the move disturbs it, and the
  log sizes per broker (DescribeLogDirs) show where the bytes went.
"""

from __future__ import annotations

import threading
import time

import pandas as pd

from ...polling import holds_within
from ...transport import kafka_admin
from . import common


def placement(bootstrap: str, topic_name: str) -> pd.DataFrame:
    """One row per partition: its leader, its preferred leader (first replica), replicas and ISR."""
    rows = []
    for p, part in sorted(common.partitions_of(bootstrap, topic_name).items()):
        rows.append({"partition": p, "leader": part.leader, "preferred": part.replicas[0] if part.replicas else -1,
                     "replicas": " ".join(map(str, part.replicas)), "isr": " ".join(map(str, sorted(part.isrs)))})
    return pd.DataFrame(rows)


def per_broker(parts: pd.DataFrame, broker_ids: list[int]) -> pd.DataFrame:
    """Leaders, replicas and preferred leaderships per broker, from a `placement` frame."""
    rows = []
    for b in broker_ids:
        replicas = sum(str(b) in r.split() for r in parts["replicas"])
        rows.append({"broker": b, "leaders": int((parts["leader"] == b).sum()), "replicas": int(replicas),
                     "preferred_leaderships": int((parts["preferred"] == b).sum())})
    return pd.DataFrame(rows)


def _snapshot(bootstrap: str, name: str, ids: list[int], phase: str, started: float) -> pd.DataFrame:
    frame = per_broker(placement(bootstrap, name), ids)
    return frame.assign(phase=phase, seconds=round(time.monotonic() - started, 2))


def elect_preferred(bootstrap: str, topic_name: str, timeout_s: float = 30.0) -> None:
    """Ask the controller to hand every partition of the topic back to its preferred leader."""
    admin = kafka_admin.quorum_client(bootstrap, client_id="streamlab-deepdive", timeout_ms=int(timeout_s * 1000))
    try:  # 0 = PREFERRED; a partition already led by its preferred leader answers ELECTION_NOT_NEEDED, not an error
        admin.elect_leaders(0, [topic_name], timeout_ms=int(timeout_s * 1000), raise_errors=False)
    finally:
        admin.close()
    holds_within(lambda: (placement(bootstrap, topic_name)["leader"]
                          == placement(bootstrap, topic_name)["preferred"]).all(), timeout_s, 0.2)


def leader_skew(kafka, bootstrap: str, *, partitions: int = 6, replication: int = 3,
                victim: int | None = None) -> pd.DataFrame:
    """Leaders and replicas per broker in four phases: created, one broker stopped, back, preferred election.

    One row per (phase, broker). The broker is stopped with SIGTERM (a controlled
    shutdown moves its leaderships away first) and restarted; the stack is whole
    again when this returns, also after a failure.
    """
    common.require_killable(kafka)
    count = common.require_replication(bootstrap, replication)
    common.require(count >= 2, "leader skew needs at least 2 brokers: `streamlab stack up --broker kafka --brokers 3`")
    common.require(1 <= partitions <= 64, "partitions must lie between 1 and 64")
    ids = common.broker_ids(bootstrap)
    victim = ids[0] if victim is None else victim
    common.require(victim in ids, f"broker {victim} is not in the cluster (brokers {ids})")
    spec = common.topic(common.unique("spread"), partitions, replication)
    frames = []
    started = time.monotonic()
    with common.scratch_topics(bootstrap, [spec]), common.restored_brokers(kafka, bootstrap, [spec.name]):
        holds_within(lambda: common.isr_full(bootstrap, spec.name), 60, 0.3)
        frames.append(_snapshot(bootstrap, spec.name, ids, "created", started))
        kafka.stop_node(victim)
        holds_within(lambda: victim not in set(placement(bootstrap, spec.name)["leader"]), 60, 0.3)
        frames.append(_snapshot(bootstrap, spec.name, ids, f"broker {victim} stopped", started))
        kafka.restart_node(victim, wait=True)
        holds_within(lambda: common.isr_full(bootstrap, spec.name), 120, 0.3)
        frames.append(_snapshot(bootstrap, spec.name, ids, f"broker {victim} back", started))
        elect_preferred(bootstrap, spec.name)
        frames.append(_snapshot(bootstrap, spec.name, ids, "preferred-leader election", started))
    return pd.concat(frames, ignore_index=True).assign(victim=victim)[
        ["phase", "seconds", "broker", "leaders", "replicas", "preferred_leaderships", "victim"]]


def skew(frame: pd.DataFrame) -> pd.DataFrame:
    """Per phase: leaders on the busiest broker over the mean (1.0 = even) and brokers leading nothing."""
    rows = []
    for phase, group in frame.groupby("phase", sort=False):
        mean = group["leaders"].mean()
        rows.append({"phase": phase, "max_leaders": int(group["leaders"].max()),
                     "leader_skew_max_over_mean": float(group["leaders"].max() / mean) if mean else float("nan"),
                     "brokers_leading_nothing": int((group["leaders"] == 0).sum())})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- reassignment


def log_bytes(bootstrap: str, topic_name: str, ids: list[int]) -> dict[int, int]:
    """Bytes of the topic's logs on each broker (DescribeLogDirs), the load a broker stores and serves."""
    admin = kafka_admin.quorum_client(bootstrap, client_id="streamlab-deepdive", timeout_ms=10000)
    sizes = {b: 0 for b in ids}
    try:
        for answer in admin.describe_log_dirs(topic_partitions=[topic_name], brokers=ids):
            for log_dir in answer.get("log_dirs", []):
                for topic in log_dir.get("topics", []):
                    if topic.get("name") == topic_name:
                        sizes[answer["broker"]] += sum(p.get("partition_size", 0) for p in topic.get("partitions", []))
    finally:
        admin.close()
    return sizes


def _move(bootstrap: str, topic_name: str, target: list[list[int]], timeout_s: float) -> float:
    """Start the reassignment and wait until the controller reports none in progress; returns its seconds."""
    from kafka import TopicPartition

    admin = kafka_admin.quorum_client(bootstrap, client_id="streamlab-deepdive", timeout_ms=10000)
    started = time.monotonic()
    try:
        admin.alter_partition_reassignments({TopicPartition(topic_name, p): replicas
                                             for p, replicas in enumerate(target)})
        done = holds_within(lambda: not admin.list_partition_reassignments({topic_name: list(range(len(target)))}),
                            timeout_s, 0.2)
    finally:
        admin.close()
    common.require(done, f"the reassignment of {topic_name} did not finish within {timeout_s:.0f} s")
    return time.monotonic() - started


class _Writer(threading.Thread):
    """Writes at a bounded rate until stopped; counts acknowledgements per time bucket."""

    def __init__(self, bootstrap: str, topic_name: str, rate_per_s: float, size: int, bucket_s: float) -> None:
        super().__init__(name="reassign-writer", daemon=True)
        self.stop = threading.Event()
        self.bucket_s = bucket_s
        self.acked: dict[int, int] = {}
        self.errors = 0
        self._producer = common.producer(bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
        self._topic, self._rate, self._payload = topic_name, rate_per_s, b"x" * size
        self._producer.produce(topic_name, b"warm-up")  # connections to every leader before the clock starts
        self._producer.flush(30)
        self.started = time.monotonic()

    def _on_delivery(self, err, msg) -> None:
        if err is not None:
            self.errors += 1
            return
        bucket = int((time.monotonic() - self.started) / self.bucket_s)
        self.acked[bucket] = self.acked.get(bucket, 0) + 1

    def run(self) -> None:
        self.started = time.monotonic()
        sent = 0
        while not self.stop.is_set():
            due = int((time.monotonic() - self.started) * self._rate)
            while sent < due:
                try:
                    self._producer.produce(self._topic, self._payload, on_delivery=self._on_delivery)
                    sent += 1
                except BufferError:
                    break
            self._producer.poll(0.005)
        self._producer.flush(30)


def reassignment(bootstrap: str, *, partitions: int = 6, prefill_records: int = 20000, size: int = 1000,
                 rate_per_s: float = 2000.0, before_s: float = 2.0, after_s: float = 2.0,
                 bucket_s: float = 0.5, timeout_s: float = 120.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Spread a 2-broker topic (RF 2) over all brokers under load.

    Returns (timeline, brokers): acknowledged records/s per bucket with the
    reassignment's window marked, and per broker the topic's bytes, replicas and
    leaders before the move, after it, and after a preferred-leader election.
    """
    ids = common.broker_ids(bootstrap)
    common.require(len(ids) >= 3, f"a reassignment onto a third broker needs 3 brokers; the cluster at {bootstrap} "
                                  f"has {len(ids)}: `streamlab stack up --broker kafka --brokers 3`")
    common.require(1 <= partitions <= 64 and prefill_records >= 0 and 0 < rate_per_s <= 20000,
                   "partitions 1–64, prefill ≥ 0 and a rate up to 20,000 records/s")
    two = ids[:2]
    start_layout = [[two[p % 2], two[(p + 1) % 2]] for p in range(partitions)]
    target = common.rotated_assignment(ids, partitions, 2, ids[0])
    spec = common.topic(common.unique("move"), partitions, 2, min_insync_replicas=1)
    with common.scratch_topics(bootstrap, [spec], assignments={spec.name: start_layout}):
        filler = common.producer(bootstrap, acks="1", linger_ms=20)
        payload = b"x" * size
        for i in range(prefill_records):
            while True:
                try:
                    filler.produce(spec.name, payload, partition=i % partitions)
                    break
                except BufferError:
                    filler.poll(0.01)
        filler.flush(60)
        holds_within(lambda: common.isr_full(bootstrap, spec.name), 60, 0.3)
        before = per_broker(placement(bootstrap, spec.name), ids).assign(
            phase="before", log_mb=[v / 1e6 for v in log_bytes(bootstrap, spec.name, ids).values()])
        writer = _Writer(bootstrap, spec.name, rate_per_s, size, bucket_s)
        writer.start()
        try:
            time.sleep(before_s)
            move_start = time.monotonic() - writer.started
            move_s = _move(bootstrap, spec.name, target, timeout_s)
            time.sleep(after_s)
        finally:
            writer.stop.set()
            writer.join(timeout=60)
        holds_within(lambda: common.isr_full(bootstrap, spec.name), 60, 0.3)
        sizes = [v / 1e6 for v in log_bytes(bootstrap, spec.name, ids).values()]
        moved = per_broker(placement(bootstrap, spec.name), ids).assign(phase="after the move", log_mb=sizes)
        elect_preferred(bootstrap, spec.name)  # a move changes leaders only where the old one left the replicas
        elected = per_broker(placement(bootstrap, spec.name), ids).assign(phase="after a preferred election",
                                                                          log_mb=sizes)
    last = max(writer.acked, default=0)
    timeline = pd.DataFrame([{"t_s": b * bucket_s, "records_per_s": writer.acked.get(b, 0) / bucket_s,
                              "moving": move_start <= b * bucket_s <= move_start + move_s}
                             for b in range(last)])  # the last bucket is partial
    timeline = timeline.assign(move_start_s=round(move_start, 2), move_s=round(move_s, 2),
                               rate_target=rate_per_s, errors=writer.errors)
    brokers = pd.concat([before, moved, elected], ignore_index=True)[
        ["phase", "broker", "replicas", "leaders", "log_mb"]].assign(prefill_mb=prefill_records * size / 1e6)
    return timeline, brokers


def reassignment_summary(timeline: pd.DataFrame) -> dict[str, float]:
    """Median acknowledged rate outside and during the move, the move's duration, producer errors."""
    moving = timeline[timeline["moving"]]["records_per_s"]
    steady = timeline[~timeline["moving"]]["records_per_s"].iloc[1:]  # the first bucket includes start-up
    return {"move_s": float(timeline["move_s"].iloc[0]),
            "rate_outside": float(steady.median()) if len(steady) else float("nan"),
            "rate_during": float(moving.median()) if len(moving) else float("nan"),
            "errors": int(timeline["errors"].iloc[0])}
