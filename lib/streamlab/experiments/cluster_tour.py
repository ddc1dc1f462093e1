"""The cluster tour of chapter 00: a live view of a 3-broker Kafka cluster losing and regaining brokers.

What Kafdrop shows by clicking, measured instead: while a bounded background
load produces to and consumes from replicated topics, a sampler records every
``sample_every_s`` which brokers the cluster lists as alive, who leads the KRaft
controller quorum, and the leader and in-sync replicas (ISR) of every partition.
A scripted outage (`failover_tour`) kills one broker, probes what writes the
cluster still accepts under different ``acks`` / ``min.insync.replicas``
combinations (the setting is changed live), optionally takes a second broker
down, restarts everything and waits until the cluster is whole again. Every
step is an event with a time, every observation a row: the chapter plots the
frames and reads its numbers from them.

Bounded and restoring by construction: each wait has a timeout, the load has a
fixed rate, and `failover_tour` restarts every node it stopped in a ``finally``
(`restore_cluster` can be called on its own, too).

Also here, because the chapter shows them next to the tour: the listeners of
the local and the compose stack, the live TCP connections between the broker
processes (who talks to whom on which listener), a reachability check of every
port, and RabbitMQ's node status from its management API.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import socket
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pandas as pd

from ..stack.config import StackError
from ..transport.kafka_admin import describe_kafka_cluster, quiet_logger
from ..transport.spec import TopicSpec

# --------------------------------------------------------------------------- small helpers


class Clock:
    """Seconds since the experiment started, one monotonic clock for every thread."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def now(self) -> float:
        return time.perf_counter() - self.start


def wait_for(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.1) -> bool:
    """Poll ``predicate`` until it holds or ``timeout_s`` passes; exceptions count as "not yet"."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if predicate():
                return True
        except Exception:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


@contextmanager
def quiet_kafka_python() -> Iterator[None]:
    """kafka-python logs every refused connection as a warning; a dead broker is the point here."""
    logger = logging.getLogger("kafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _admin(bootstrap: str):
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap, "logger": quiet_logger(), "socket.timeout.ms": 3000})


def error_name(error: str | None) -> str:
    """``KafkaError{code=NOT_ENOUGH_REPLICAS,val=19,str="..."}`` → ``NOT_ENOUGH_REPLICAS``."""
    if not error:
        return ""
    match = re.search(r"code=([A-Z_]+)", error)
    return match.group(1) if match else error.split(":")[0][:60]


def error_text(error: str | None) -> str:
    """The human part of a librdkafka error: ``Broker: Not enough in-sync replicas``."""
    if not error:
        return ""
    match = re.search(r'str="([^"]*)"', error)
    return match.group(1) if match else error[:120]


# --------------------------------------------------------------------------- topics and settings


def tour_topics(prefix: str, partitions: int = 6, min_insync: int = 2) -> dict[str, TopicSpec]:
    """The tour's topics under a fresh name: replicated (RF 3), unreplicated (RF 1), and a probe topic."""
    suffix = uuid.uuid4().hex[:6]
    config = {"min.insync.replicas": str(min_insync)}
    return {
        "rf3": TopicSpec(f"{prefix}-rf3-{suffix}", "raw", partitions, 3, config,
                         "replicated 3 times, writes need 2 in-sync copies"),
        "rf1": TopicSpec(f"{prefix}-rf1-{suffix}", "raw", partitions, 1, {},
                         "a single copy: no replication"),
        "probe": TopicSpec(f"{prefix}-probe-{suffix}", "raw", 3, 3, config,
                           "replicated 3 times; its min.insync.replicas is changed live"),
    }


def set_topic_config(bootstrap: str, topic: str, settings: Mapping[str, str], timeout_s: float = 15.0) -> None:
    """Change topic settings live (IncrementalAlterConfigs) and wait until the cluster reports them."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    admin = _admin(bootstrap)
    entries = [ConfigEntry(k, str(v), incremental_operation=AlterConfigOpType.SET) for k, v in settings.items()]
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=entries)
    for future in admin.incremental_alter_configs([resource], request_timeout=timeout_s).values():
        future.result(timeout=timeout_s)

    def applied() -> bool:
        described = topic_config(bootstrap, topic, list(settings))
        return all(described.get(k) == str(v) for k, v in settings.items())

    if not wait_for(applied, timeout_s, 0.2):
        raise StackError(f"topic {topic!r} does not report {dict(settings)} after {timeout_s:.0f}s")


def topic_config(bootstrap: str, topic: str, names: Sequence[str]) -> dict[str, str]:
    """Current values of some settings of one topic, as the cluster reports them."""
    from confluent_kafka.admin import ConfigResource, ResourceType

    admin = _admin(bootstrap)
    resource = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([resource], request_timeout=10)[resource].result(timeout=10)
    return {name: entries[name].value for name in names if name in entries}


# --------------------------------------------------------------------------- the sampler


class ClusterSampler:
    """Records, every ``every_s``, the live brokers and each partition's leader and ISR; the quorum leader too.

    Metadata comes from one long-lived AdminClient (a Metadata request costs
    about a millisecond on a warm connection); the quorum from kafka-python's
    DescribeQuorum in its own thread, because that call can hang for its full
    timeout while the quorum is being re-elected. What the cluster answers is
    recorded as it is, stale or not: while the quorum is lost, a surviving
    broker keeps serving the metadata it had.
    """

    def __init__(self, bootstrap: str, topics: Sequence[str], clock: Clock, every_s: float = 0.5) -> None:
        self.bootstrap = bootstrap
        self.topics = list(topics)
        self.clock = clock
        self.every_s = every_s
        self.partition_rows: list[dict[str, Any]] = []
        self.broker_rows: list[dict[str, Any]] = []
        self.quorum_rows: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._latest: tuple[float, list[int], dict[str, list[dict[str, Any]]]] | None = None
        self._latest_quorum: dict[str, Any] | None = None
        self._threads = [threading.Thread(target=self._metadata_loop, name="tour-metadata", daemon=True),
                         threading.Thread(target=self._quorum_loop, name="tour-quorum", daemon=True)]

    def start(self) -> "ClusterSampler":
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            if thread.ident is not None:  # started
                thread.join(timeout=10)

    # -- what the orchestrator waits on
    def latest(self) -> tuple[float, list[int], dict[str, list[dict[str, Any]]]] | None:
        with self._lock:
            return self._latest

    def latest_quorum(self) -> dict[str, Any] | None:
        with self._lock:
            return self._latest_quorum

    def wait_sample(self, predicate: Callable[[list[int], dict[str, list[dict[str, Any]]]], bool],
                    timeout_s: float, after: float | None = None) -> float | None:
        """Time of the first sample (taken after ``after``) for which ``predicate(live, partitions)`` holds."""
        after = self.clock.now() if after is None else after
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            latest = self.latest()
            if latest is not None and latest[0] > after and predicate(latest[1], latest[2]):
                return latest[0]
            time.sleep(self.every_s / 4)
        return None

    # -- the loops
    def _metadata_loop(self) -> None:
        from confluent_kafka import KafkaException

        admin = _admin(self.bootstrap)
        while not self._stop.is_set():
            started = time.monotonic()
            t = round(self.clock.now(), 3)
            try:
                metadata = admin.list_topics(timeout=max(1.0, self.every_s * 2))
            except KafkaException as exc:
                self.broker_rows.append({"t_s": t, "live": "", "live_count": None, "answered": False,
                                         "error": error_text(str(exc.args[0]))})
            else:
                live = sorted(metadata.brokers)
                self.broker_rows.append({"t_s": t, "live": " ".join(map(str, live)), "live_count": len(live),
                                         "answered": True, "error": ""})
                parts: dict[str, list[dict[str, Any]]] = {}
                for name in self.topics:
                    topic = metadata.topics.get(name)
                    if topic is None:
                        continue
                    for pid, part in sorted(topic.partitions.items()):
                        row = {"t_s": t, "topic": name, "partition": pid, "leader": part.leader,
                               "replicas": list(part.replicas), "isr": list(part.isrs),
                               "isr_size": len(part.isrs), "rf": len(part.replicas),
                               "error": part.error.name() if part.error else ""}
                        parts.setdefault(name, []).append(row)
                        self.partition_rows.append(row)
                with self._lock:
                    self._latest = (t, live, parts)
            admin.poll(0)  # serve the log lines queued meanwhile (refused connections while a node is down)
            self._stop.wait(max(0.0, self.every_s - (time.monotonic() - started)))

    def _quorum_loop(self) -> None:
        from kafka.admin import KafkaAdminClient

        client = None
        with quiet_kafka_python():
            while not self._stop.is_set():
                started = time.monotonic()
                t = round(self.clock.now(), 3)
                try:
                    if client is None:
                        client = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=1500,
                                                  client_id="streamlab-tour", bootstrap_timeout_ms=1500)
                    part = client.describe_metadata_quorum()["topics"][0]["partitions"][0]
                    row = {"t_s": t, "quorum_leader": part["leader_id"], "leader_epoch": part["leader_epoch"],
                           "high_watermark": part["high_watermark"],
                           "voters_caught_up": sum(v["log_end_offset"] >= part["high_watermark"]
                                                   for v in part["current_voters"]),
                           "answered": True, "error": ""}
                except Exception as exc:  # leaderless quorum, or the node we asked is gone: ask afresh
                    row = {"t_s": t, "quorum_leader": -1, "leader_epoch": None, "high_watermark": None,
                           "voters_caught_up": None, "answered": False, "error": type(exc).__name__}
                    if client is not None:
                        try:
                            client.close()
                        except Exception:
                            pass
                        client = None
                self.quorum_rows.append(row)
                with self._lock:
                    self._latest_quorum = row
                self._stop.wait(max(0.0, self.every_s - (time.monotonic() - started)))
            if client is not None:
                client.close()

    # -- the frames
    def partitions(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.partition_rows, columns=["t_s", "topic", "partition", "leader", "replicas", "isr",
                                                           "isr_size", "rf", "error"])
        frame["replicas"] = frame["replicas"].map(lambda r: " ".join(map(str, r)))
        frame["isr"] = frame["isr"].map(lambda r: " ".join(map(str, r)))
        return frame

    def brokers(self) -> pd.DataFrame:
        return pd.DataFrame(self.broker_rows, columns=["t_s", "live", "live_count", "answered", "error"])

    def quorum(self) -> pd.DataFrame:
        return pd.DataFrame(self.quorum_rows, columns=["t_s", "quorum_leader", "leader_epoch", "high_watermark",
                                                       "voters_caught_up", "answered", "error"])


# --------------------------------------------------------------------------- the background load


class BackgroundLoad:
    """A bounded producer and two readers: every message numbered, every outcome timed.

    One producer per topic (each with its own options, e.g. a short
    ``message.timeout.ms`` for the unreplicated topic) sends ``rate_per_s``
    messages per second per topic, the value being the message's sequence
    number. Two readers take every message:

    * a **group** consumer (the transport's, as the application's services
      use it): subscribed, partitions assigned by its group coordinator,
      offsets committed about once a second;
    * an **assigned** reader: a plain consumer that assigns itself every
      partition and joins no group, so it depends on nothing but the
      partitions' leaders. What it reads is what the log holds; where the
      group consumer lags behind it, the group's coordination is the cause.

    `stop` stops producing, waits for outstanding acknowledgements, and lets
    both readers drain until each has read every acknowledged message (or
    ``drain_s`` passes).
    """

    READERS = ("group", "assigned")

    def __init__(self, transport: Any, topics: Mapping[str, Mapping[str, object]], rate_per_s: float,
                 clock: Clock, group: str | None = None,
                 consumer_options: Mapping[str, object] | None = None) -> None:
        self.transport = transport
        self.topic_options = {name: dict(options) for name, options in topics.items()}
        self.rate_per_s = rate_per_s
        self.clock = clock
        self.group = group or f"tour-{uuid.uuid4().hex[:8]}"
        self.consumer_options = dict(consumer_options or {})
        self.sent: Counter[str] = Counter()
        # (topic, seq, t_sent, t_done, error) — appended by librdkafka's delivery callbacks
        self.deliveries: list[tuple[str, int, float, float, str | None]] = []
        # (reader, topic, seq, partition, offset, t)
        self.consumed: list[tuple[str, str, int, int, int, float]] = []
        self.consumer_errors: list[str] = []
        self._producing = threading.Event()
        self._reading = threading.Event()
        self._publishers: dict[str, Any] = {}
        self._readers: list[threading.Thread] = []
        self._producer: threading.Thread | None = None
        self._group_ready = threading.Event()
        self._assigned_ready = threading.Event()

    def start(self, ready_timeout_s: float = 30.0) -> "BackgroundLoad":
        self._reading.set()
        for target, name in ((self._consume_group, "tour-group"), (self._read_assigned, "tour-assigned")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._readers.append(thread)
        self._group_ready.wait(ready_timeout_s)
        self._assigned_ready.wait(ready_timeout_s)
        for name, options in self.topic_options.items():
            self._publishers[name] = self.transport.publisher(f"tour-producer-{name[-12:]}", **options)
        self._producing.set()
        self._producer = threading.Thread(target=self._produce, name="tour-producer", daemon=True)
        self._producer.start()
        return self

    def _produce(self) -> None:
        seq = 0
        begin = time.perf_counter()
        while self._producing.is_set():
            pause = begin + seq / self.rate_per_s - time.perf_counter()
            if pause > 0:
                time.sleep(min(pause, 0.05))
                continue
            t_sent = self.clock.now()
            for name, publisher in self._publishers.items():
                def done(error: str | None, _name: str = name, _seq: int = seq, _t: float = t_sent) -> None:
                    self.deliveries.append((_name, _seq, _t, self.clock.now(), error))
                publisher.publish(name, str(seq % 24), str(seq).encode(), on_delivery=done)
                self.sent[name] += 1
            seq += 1

    def _record(self, reader: str, topic: str, value: bytes | None, partition: int, offset: int) -> None:
        try:
            seq = int(value or b"")
        except ValueError:
            return  # not ours: e.g. messages a reader sent to the topic before the load
        self.consumed.append((reader, topic, seq, partition, offset, self.clock.now()))

    def _consume_group(self) -> None:
        options = {"session_timeout_ms": 10000, **self.consumer_options}
        options = {k: v for k, v in options.items() if v is not None}  # None: leave the client's default
        consumer = self.transport.consumer(list(self.topic_options), self.group, "tour-consumer",
                                           from_beginning=True, **options)
        try:
            last_commit = time.monotonic()
            while self._reading.is_set():
                try:
                    records = consumer.poll(0.2)
                except Exception as exc:
                    self.consumer_errors.append(str(exc))
                    time.sleep(0.2)
                    continue
                if not self._group_ready.is_set() and consumer.assignment_ready():
                    self._group_ready.set()
                for record in records:
                    self._record("group", record.topic, record.value, record.partition, record.offset)
                if records and time.monotonic() - last_commit > 1.0:
                    try:
                        consumer.commit()
                    except Exception as exc:  # coordinator moving: the next commit covers it
                        self.consumer_errors.append(str(exc))
                    last_commit = time.monotonic()
        finally:
            self._group_ready.set()
            try:
                consumer.close()
            except Exception:
                pass

    def _read_assigned(self) -> None:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        bootstrap = getattr(self.transport, "bootstrap", None)
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{self.group}-unused",
                             "enable.auto.commit": False, "logger": quiet_logger()})
        try:
            metadata = consumer.list_topics(timeout=10)
            consumer.assign([TopicPartition(topic, pid, OFFSET_BEGINNING)
                             for topic in self.topic_options for pid in metadata.topics[topic].partitions])
            self._assigned_ready.set()
            while self._reading.is_set():
                for msg in consumer.consume(num_messages=500, timeout=0.2):
                    if msg.error() is None:
                        self._record("assigned", msg.topic(), msg.value(), msg.partition(), msg.offset())
        finally:
            self._assigned_ready.set()
            consumer.close()

    def stop(self, flush_s: float = 30.0, drain_s: float = 15.0) -> None:
        self._producing.clear()
        if self._producer is not None:
            self._producer.join(timeout=5)
        for publisher in self._publishers.values():
            publisher.flush(flush_s)
        acked = {(topic, seq) for topic, seq, _, _, error in self.deliveries if error is None}

        def drained() -> bool:
            rows = list(self.consumed)
            return all(acked <= {(r[1], r[2]) for r in rows if r[0] == reader} for reader in self.READERS)

        wait_for(drained, drain_s, 0.2)
        self._reading.clear()
        for thread in self._readers:
            thread.join(timeout=15)

    # -- the frames
    def deliveries_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.deliveries, columns=["topic", "seq", "t_sent", "t_done", "error"])

    def consumed_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.consumed, columns=["reader", "topic", "seq", "partition", "offset", "t_s"])

    def summary(self) -> pd.DataFrame:
        """Per topic: sent, acknowledged, failed, in the log; acknowledged but lost; duplicates; group reads.

        What the log holds is what the assigned reader read. Two kinds of
        "twice": a message *stored* twice (the same sequence number at two
        offsets: a producer retry without idempotence) and a stored message
        *delivered again* to the group (the same offset read again after a
        rebalance, because its offset was not committed yet: at-least-once
        delivery, harmless for an idempotent consumer).
        """
        deliveries = self.deliveries_frame()
        consumed = self.consumed_frame()
        rows = []
        for topic in self.topic_options:
            mine = deliveries[deliveries["topic"] == topic]
            acked = set(mine.loc[mine["error"].isna(), "seq"])
            failed = mine[mine["error"].notna()]
            log = consumed[(consumed["topic"] == topic) & (consumed["reader"] == "assigned")]
            stored = log.drop_duplicates(["partition", "offset"])
            in_log = set(stored["seq"])
            group = consumed[(consumed["topic"] == topic) & (consumed["reader"] == "group")]
            errors = Counter(error_name(e) for e in failed["error"])
            rows.append({
                "topic": topic, "sent": self.sent[topic], "acknowledged": len(acked), "failed": len(failed),
                "in_log": len(in_log), "acknowledged_lost": len(acked - in_log),
                "failed_but_stored": len(set(failed["seq"]) & in_log),
                "stored_twice": int(len(stored) - stored["seq"].nunique()),
                "group_read": int(group["seq"].nunique()),
                "group_delivered_again": int(len(group) - len(group.drop_duplicates(["partition", "offset"]))),
                "errors": ", ".join(f"{name} ×{n}" for name, n in errors.most_common()),
            })
        return pd.DataFrame(rows)


def load_timeline(load: BackgroundLoad, bin_s: float = 1.0, end_s: float | None = None) -> pd.DataFrame:
    """Messages per second over time, tidy: one row per (time bin, topic, outcome).

    Outcomes: ``acknowledged`` and ``failed`` (by the time the producer learnt
    it), ``read by the group`` and ``read, assigned`` (by the time each reader
    got it). Empty bins are zeros, so a stall shows as a drop to zero, not as a
    gap in the line.
    """
    deliveries = load.deliveries_frame()
    consumed = load.consumed_frame()
    names = {"group": "read by the group", "assigned": "read, assigned"}
    events = pd.concat([
        pd.DataFrame({"topic": deliveries["topic"], "t_s": deliveries["t_done"],
                      "outcome": deliveries["error"].isna().map({True: "acknowledged", False: "failed"})}),
        pd.DataFrame({"topic": consumed["topic"], "t_s": consumed["t_s"], "outcome": consumed["reader"].map(names)}),
    ], ignore_index=True)
    end = end_s if end_s is not None else (float(events["t_s"].max()) if not events.empty else 0.0)
    bins = [round(i * bin_s, 3) for i in range(int(end // bin_s) + 1)]
    outcomes = ["acknowledged", "failed", *names.values()]
    index = pd.MultiIndex.from_product([bins, list(load.topic_options), outcomes],
                                       names=["t_s", "topic", "outcome"])
    events["t_s"] = (events["t_s"] // bin_s * bin_s).round(3)
    counts = events.groupby(["t_s", "topic", "outcome"]).size().reindex(index, fill_value=0)
    frame = counts.rename("messages").reset_index()
    frame["per_s"] = frame["messages"] / bin_s
    return frame


def ack_latency_timeline(load: BackgroundLoad, bin_s: float = 1.0) -> pd.DataFrame:
    """Slowest and median send→acknowledgement time per time bin (by send time), per topic."""
    deliveries = load.deliveries_frame()
    ok = deliveries[deliveries["error"].isna()].copy()
    ok["latency_s"] = ok["t_done"] - ok["t_sent"]
    ok["t_s"] = (ok["t_sent"] // bin_s * bin_s).round(3)
    grouped = ok.groupby(["t_s", "topic"])["latency_s"]
    frame = pd.concat([grouped.median().rename("p50_s"), grouped.max().rename("max_s")], axis=1).reset_index()
    return frame


# --------------------------------------------------------------------------- probes


def probe_writes(bootstrap: str, topic: str, acks: str, messages: int = 12, timeout_s: float = 3.0,
                 partitions: int = 3) -> dict[str, Any]:
    """Send a few messages with one ``acks`` setting, no retries, a bounded timeout; count the outcomes.

    Retries are off so that the broker's answer reaches us as it is
    (``NOT_ENOUGH_REPLICAS``) instead of being retried until the timeout.
    The messages go round-robin to explicit partitions (a plain producer,
    not the transport, which leaves the partition to the key), so every
    partition is probed equally and the outcome can be read per partition.
    """
    from confluent_kafka import Producer

    outcomes: list[tuple[int, str | None]] = []
    producer = Producer({"bootstrap.servers": bootstrap, "client.id": f"tour-probe-acks{acks}",
                         "logger": quiet_logger(), "acks": acks, "enable.idempotence": False, "retries": 0,
                         "message.timeout.ms": int(timeout_s * 1000), "linger.ms": 0})
    started = time.perf_counter()
    for i in range(messages):
        producer.produce(topic, f"probe-{i}".encode(), partition=i % partitions,
                         on_delivery=lambda err, msg: outcomes.append((msg.partition(), None if err is None
                                                                       else str(err))))
    producer.flush(timeout_s + 5)
    seconds = time.perf_counter() - started
    errors = Counter(e for _, e in outcomes if e is not None)
    first = errors.most_common(1)[0][0] if errors else None
    acked_partitions = sorted({p for p, e in outcomes if e is None})
    return {"acks": acks, "sent": messages, "acknowledged": sum(e is None for _, e in outcomes),
            "failed": sum(e is not None for _, e in outcomes), "error": error_name(first),
            "error_text": error_text(first), "partitions acknowledged": " ".join(map(str, acked_partitions)),
            "seconds": round(seconds, 2)}


# --------------------------------------------------------------------------- restoring


def restore_cluster(kafka: Any, timeout_s: float = 120.0) -> list[int]:
    """Resume paused and restart stopped nodes, then wait until all of them serve; returns the restarted nodes."""
    restarted = []
    for row in kafka.status():
        if row.state == "paused":
            kafka.resume_node(row.node)
        elif row.state == "stopped":
            kafka.restart_node(row.node, wait=False)
            restarted.append(row.node)
    if not wait_for(kafka.is_ready, timeout_s, 0.5):
        raise StackError(f"the Kafka cluster is not whole again after {timeout_s:.0f}s: see `streamlab stack status`")
    return restarted


# --------------------------------------------------------------------------- the tour


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
        raise StackError(f"the tour needs 3 live brokers, the cluster has {len(nodes)}: `streamlab stack status`")
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
        if not wait_for(lambda: sampler.latest() is not None, plan.step_timeout_s):
            raise StackError("no metadata sample from the cluster")
        load.start()
        mark("load started", detail=f"{plan.rate_per_s:g} msg/s per topic")
        # the baseline counts from the first acknowledgement: the producer's start-up is not steady state
        wait_for(lambda: any(d[0] == rf3 and d[4] is None for d in list(load.deliveries)), plan.step_timeout_s)
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


def group_coordinator(bootstrap: str, group: str, timeout_s: float = 10.0) -> int | None:
    """The broker acting as a consumer group's coordinator (None if the cluster does not say)."""
    admin = _admin(bootstrap)  # keep a reference: a future dies with its client
    try:
        futures = admin.describe_consumer_groups([group], request_timeout=timeout_s)
        return int(futures[group].result(timeout=timeout_s).coordinator.id)
    except Exception:
        return None


def elect_preferred_leaders(bootstrap: str, topic: str, partitions: int, timeout_s: float = 15.0) -> int:
    """Move leadership back to each partition's preferred (first) replica; returns how many moved.

    After a broker returns, it follows for every partition: Kafka moves
    leaders back only on its periodic imbalance check (5 minutes by default)
    or when asked, as here (what ``kafka-leader-election --election-type
    PREFERRED`` does).
    """
    from confluent_kafka import ElectionType, TopicPartition

    admin = _admin(bootstrap)
    # no keyword arguments: confluent-kafka 2.16 raises SystemError for request_timeout/operation_timeout here
    future = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition(topic, p) for p in range(partitions)])
    results = future.result(timeout=timeout_s)
    return sum(1 for error in results.values() if error is None)


def _leaders_per_broker(snapshots: Mapping[str, pd.DataFrame], nodes: Sequence[int]) -> pd.DataFrame:
    rows = []
    for moment, frame in snapshots.items():
        counts = Counter(frame["leader"]) if not frame.empty else Counter()
        rows.append({"moment": moment, **{f"node {n}": counts.get(n, 0) for n in nodes},
                     "no leader": counts.get(-1, 0)})
    return pd.DataFrame(rows)


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


# --------------------------------------------------------------------------- charts


NODE_COLORS = {"node 1": "#0072B2", "node 2": "#E69F00", "node 3": "#009E73", "none": "#D55E00",
               "no answer": "#9aa5b1"}


def _node_label(value: Any) -> str:
    try:
        n = int(value)
    except (TypeError, ValueError):
        return "no answer"
    return "none" if n < 0 else f"node {n}"


def _intervals(frame: pd.DataFrame, end: float, by: str | None = None) -> pd.DataFrame:
    """Each sample lasts until the next sample of the same series (the last until ``end``).

    With ``by``, consecutive samples of equal ``by`` are merged into one
    interval: fewer marks, and no hairline seams between adjacent ones.
    """
    frame = frame.sort_values("t_s").copy()
    frame["t_end"] = frame["t_s"].shift(-1).fillna(end)
    if by is not None and not frame.empty:
        run = (frame[by] != frame[by].shift()).cumsum()
        frame = frame.groupby(run, as_index=False).agg(
            {**{c: "first" for c in frame.columns if c != "t_end"}, "t_end": "last"})
    return frame


def phases(result: TourResult) -> pd.DataFrame:
    """The stretches of the tour with brokers missing: start, end and a label, for shading charts."""
    marks = result.milestones().set_index("milestone")["t_s"]
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


def event_rules(result: TourResult, labels: bool = True) -> Any:
    """Shaded outage phases and labelled vertical rules at each failure and restart, to layer on a time chart."""
    import altair as alt

    short = {"kill": "kill", "stop": "stop", "restart": "restart", "preferred leader election": "elect"}
    wanted = result.events[result.events["event"].isin(list(short))].copy()
    wanted["label"] = [f"{short[e]} {int(n)}" if pd.notna(n) else short[e]
                       for e, n in zip(wanted["event"], wanted["node"])]
    # events within half a second share one rule: "restart 1, 2"
    wanted["slot"] = (wanted["t_s"].diff().fillna(1.0) > 0.5).cumsum()
    merged = wanted.groupby("slot").agg(t_s=("t_s", "first"), event=("event", "first"),
                                        nodes=("node", lambda n: ", ".join(str(int(x)) for x in n if pd.notna(x))))
    merged["label"] = [f"{short[e]} {n}".strip() for e, n in zip(merged["event"], merged["nodes"])]
    shade = alt.Chart(phases(result)).mark_rect(color="#9aa5b1", opacity=0.14).encode(x="start:Q", x2="end:Q")
    rules = alt.Chart(merged).mark_rule(color="#52606d", strokeDash=[4, 3]).encode(x="t_s:Q")
    layers = [shade, rules]
    if labels:
        layers.append(alt.Chart(merged).mark_text(align="left", baseline="bottom", dx=3, dy=-2, fontSize=11,
                                                  color="#52606d").encode(x="t_s:Q", y=alt.value(0), text="label:N"))
    return alt.layer(*layers)


def leadership_chart(result: TourResult, title: str = "Who leads: the quorum and every partition, over time") -> Any:
    """Rows of coloured bars: the controller quorum leader, then each partition's leader per topic."""
    import altair as alt

    from .. import plots

    end = result.seconds
    quorum = result.quorum.assign(leader=[_node_label(q) if ok else "no answer"
                                          for q, ok in zip(result.quorum["quorum_leader"], result.quorum["answered"])])
    quorum = _intervals(quorum, end, by="leader").assign(row="quorum leader", group="controller quorum", isr="")
    rows = [quorum[["t_s", "t_end", "row", "group", "leader", "isr"]]]
    for key, label in (("rf3", "RF 3"), ("rf1", "RF 1")):
        name = result.topics[key].name
        parts = result.partitions[result.partitions["topic"] == name]
        frames = []
        for pid, group in parts.groupby("partition"):
            g = _intervals(group.assign(leader=group["leader"].map(_node_label)), end, by="leader")
            g = g.assign(row=f"{label} · p{pid}", group=f"topic {label}")
            frames.append(g[["t_s", "t_end", "row", "group", "leader", "isr"]])
        if frames:
            rows.append(pd.concat(frames))
    data = pd.concat(rows, ignore_index=True)
    order = list(dict.fromkeys(data["row"]))
    domain = [k for k in NODE_COLORS if k in set(data["leader"])]
    color = alt.Color("leader:N", title="leader", scale=alt.Scale(domain=domain,
                                                                  range=[NODE_COLORS[k] for k in domain]))
    bars = alt.Chart(data).mark_rect().encode(
        x=alt.X("t_s:Q", title="seconds since the tour started", scale=alt.Scale(domain=[0, end], nice=False)),
        x2="t_end:Q",
        y=alt.Y("row:N", sort=order, title=None, scale=alt.Scale(paddingInner=0.25)),
        color=color,
        tooltip=["row:N", "leader:N", "isr:N", "t_s:Q"],
    )
    chart = alt.layer(bars, event_rules(result)).properties(
        width=plots.WIDTH, height=16 * len(order),
        title=alt.TitleParams(title, subtitle=plots.machine_caption()))
    return chart


def isr_chart(result: TourResult, title: str = "Replication health over time") -> Any:
    """Under-replicated and offline partitions per topic: the two numbers an operator watches."""
    import altair as alt

    from .. import plots

    parts = result.partitions
    labels = {result.topics["rf3"].name: "RF 3", result.topics["rf1"].name: "RF 1"}
    parts = parts[parts["topic"].isin(labels)]
    under = parts.assign(u=(parts["isr_size"] < parts["rf"]) & (parts["leader"] >= 0), o=parts["leader"] < 0)
    per_t = under.groupby(["t_s", "topic"]).agg(under_replicated=("u", "sum"), offline=("o", "sum")).reset_index()
    tidy = per_t.melt(["t_s", "topic"], ["under_replicated", "offline"], var_name="state", value_name="partitions")
    tidy["series"] = tidy["topic"].map(labels) + " · " + tidy["state"].str.replace("_", "-")
    # an unreplicated partition cannot be under-replicated: leave that line out
    tidy = tidy[tidy["series"] != "RF 1 · under-replicated"]
    colors = {"RF 3 · under-replicated": plots.PALETTE[0], "RF 3 · offline": plots.PALETTE[7],
              "RF 1 · offline": plots.PALETTE[5]}
    lines = alt.Chart(tidy, title=alt.TitleParams(title, subtitle=plots.machine_caption())).mark_line(
        interpolate="step-after").encode(
        x=alt.X("t_s:Q", title="seconds since the tour started",
                scale=alt.Scale(domain=[0, result.seconds], nice=False)),
        y=alt.Y("partitions:Q", title="partitions", axis=alt.Axis(tickMinStep=1)),
        color=alt.Color("series:N", title=None, sort=list(colors),
                        scale=alt.Scale(domain=list(colors), range=list(colors.values()))),
    )
    return alt.layer(lines, event_rules(result)).properties(width=plots.WIDTH, height=220)


def throughput_chart(result: TourResult, title: str = "Messages per second while brokers fail and return") -> Any:
    """Acknowledged, failed and read messages per second (both readers), one panel per topic."""
    import altair as alt

    from .. import plots

    labels = {result.topics["rf3"].name: "topic RF 3 (acks=all, idempotent)", result.topics["rf1"].name: "topic RF 1"}
    styles = {  # outcome: (colour, dash)
        "acknowledged": (plots.PALETTE[0], [1, 0]),
        "read by the group": (plots.PALETTE[2], [1, 0]),
        "read, assigned": (plots.PALETTE[7], [3, 3]),
        "failed": (plots.PALETTE[5], [1, 0]),
    }
    panels = []
    for topic, label in labels.items():
        sub = result.load[result.load["topic"] == topic]
        line = alt.Chart(sub).mark_line(interpolate="step-after", strokeWidth=1.8).encode(
            x=alt.X("t_s:Q", title="seconds since the tour started",
                    scale=alt.Scale(domain=[0, result.seconds], nice=False)),
            y=alt.Y("per_s:Q", title="messages / s"),
            color=alt.Color("outcome:N", title=None, sort=list(styles),
                            scale=alt.Scale(domain=list(styles), range=[c for c, _ in styles.values()])),
            strokeDash=alt.StrokeDash("outcome:N", title=None, sort=list(styles),
                                      scale=alt.Scale(domain=list(styles), range=[d for _, d in styles.values()])),
        )
        panels.append(alt.layer(line, event_rules(result)).properties(width=plots.WIDTH, height=150, title=label))
    return alt.vconcat(*panels).properties(title=alt.TitleParams(title, subtitle=plots.machine_caption()))


def latency_chart(result: TourResult, title: str = "How long a send waited for its acknowledgement") -> Any:
    """Slowest send→ack time per second of sending, replicated topic: the stall a failure costs a producer."""
    import altair as alt

    from .. import plots

    topic = result.topics["rf3"].name
    data = result.latency[result.latency["topic"] == topic].melt(["t_s", "topic"], ["p50_s", "max_s"],
                                                                 var_name="statistic", value_name="seconds")
    data["statistic"] = data["statistic"].map({"p50_s": "median", "max_s": "slowest"})
    lines = plots.line_over_time(data, "t_s", "seconds", "statistic", title,
                                 x_title="seconds since the tour started (time of sending)",
                                 y_title="send → acknowledgement (s)", color_title="per second of sending")
    return alt.layer(lines, event_rules(result)).properties(height=220)


# --------------------------------------------------------------------------- how the processes talk


def _parse_properties(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def local_listener_table(kafka: Any) -> pd.DataFrame:
    """Each node's listeners as its ``server.properties`` configures them (local stack only)."""
    rows = []
    for node in getattr(kafka, "nodes", []):
        if not node.properties_file.exists():
            continue
        props = _parse_properties(node.properties_file)
        advertised = dict(item.split("://", 1) for item in props.get("advertised.listeners", "").split(",") if item)
        for item in props.get("listeners", "").split(","):
            name, address = item.split("://", 1)
            role = ("the KRaft quorum: controllers vote and brokers fetch metadata"
                    if name in props.get("controller.listener.names", "").split(",")
                    else "clients and replication between brokers"
                    if name == props.get("inter.broker.listener.name") else "clients")
            rows.append({"node": node.index, "listener": name, "binds": address,
                         "advertised": advertised.get(name, "(not advertised)"), "used by": role})
    return pd.DataFrame(rows, columns=["node", "listener", "binds", "advertised", "used by"])


def compose_listener_table(compose_file: Path | str) -> pd.DataFrame:
    """The same table for the Docker Compose stack, read from its file (the engine need not run)."""
    import yaml

    spec = yaml.safe_load(Path(compose_file).read_text(encoding="utf-8"))
    rows = []
    for service, body in sorted(spec.get("services", {}).items()):
        env = body.get("environment", {})
        listeners = env.get("KAFKA_LISTENERS")
        if not listeners:
            continue
        advertised = dict(item.split("://", 1) for item in env.get("KAFKA_ADVERTISED_LISTENERS", "").split(","))
        published = {str(p).rsplit(":", 1)[-1]: str(p).rsplit(":", 1)[0] for p in body.get("ports", [])}
        for item in listeners.split(","):
            name, address = item.split("://", 1)
            port = address.rsplit(":", 1)[-1]
            rows.append({"container": service, "listener": name, "binds (in the container)": address,
                         "advertised": advertised.get(name, "(not advertised)"),
                         "published on the host": published.get(port, "no")})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Endpoint:
    owner: str      # "kafka node 1", "rabbitmq node 1", ...
    what: str       # listener name or protocol, short: PLAINTEXT, CONTROLLER, AMQP, ...
    port: int
    pid: int | None
    purpose: str = ""


def stack_endpoints(stack: Any) -> list[Endpoint]:
    """Every port the local stack's processes listen on, with the pid that owns it."""
    found: list[Endpoint] = []
    kafka = stack.parts.get("kafka")
    for node in getattr(kafka, "nodes", []):
        pid = node.pid()
        found.append(Endpoint(f"kafka node {node.index}", "PLAINTEXT", node.port, pid,
                              "clients, and replication between brokers"))
        found.append(Endpoint(f"kafka node {node.index}", "CONTROLLER", node.controller_port, pid,
                              "the KRaft quorum: votes, metadata log, broker heartbeats"))
    rabbit = stack.parts.get("rabbitmq")
    for node in getattr(rabbit, "nodes", []):
        pid = node.pid()
        found.append(Endpoint(f"rabbitmq node {node.index}", "AMQP", node.port, pid, "clients (AMQP 0-9-1)"))
        found.append(Endpoint(f"rabbitmq node {node.index}", "HTTP", node.mgmt_port, pid,
                              "management API and web UI"))
        found.append(Endpoint(f"rabbitmq node {node.index}", "distribution", node.dist_port, pid,
                              "Erlang distribution: clustering, rabbitmqctl"))
    if rabbit is not None and hasattr(rabbit, "epmd_port"):
        epmd_pid = procs_read_pid(rabbit.root / "epmd.pid")
        found.append(Endpoint("epmd", "epmd", rabbit.epmd_port, epmd_pid,
                              "Erlang port mapper: node name → distribution port"))
    return found


def procs_read_pid(path: Path) -> int | None:
    from ..stack import procs

    return procs.read_pid(path)


def listening_addresses() -> dict[int, list[str]]:
    """Port → the local addresses something listens on, from the kernel's socket table."""
    import psutil

    found: dict[int, set[str]] = {}
    for conn in psutil.net_connections(kind="inet"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr:
            ip = conn.laddr.ip.removeprefix("::ffff:")
            found.setdefault(conn.laddr.port, set()).add(ip)
    return {port: sorted(ips) for port, ips in found.items()}


def port_checks(endpoints: Sequence[Endpoint], host: str = "127.0.0.1", timeout_s: float = 1.0) -> pd.DataFrame:
    """Connect to every endpoint once: does it accept, how long the TCP handshake takes, what it binds.

    ``binds`` is the kernel's view: ``127.0.0.1`` (or ``::1``) only on this
    machine; ``0.0.0.0`` / ``::`` on every interface, i.e. reachable from other
    machines unless a firewall says otherwise.
    """
    bound = listening_addresses()
    rows = []
    for ep in endpoints:
        started = time.perf_counter()
        try:
            with socket.create_connection((host, ep.port), timeout=timeout_s):
                ok, error = True, ""
        except OSError as exc:
            ok, error = False, exc.strerror or str(exc)
        rows.append({"process": ep.owner, "listener": ep.what, "for": ep.purpose, "port": ep.port,
                     "binds": ", ".join(bound.get(ep.port, [])) or "?",
                     "accepts": "yes" if ok else f"no ({error})",
                     "connect (ms)": round((time.perf_counter() - started) * 1000, 2)})
    return pd.DataFrame(rows)


def live_connections(endpoints: Sequence[Endpoint], clients: Mapping[str, int] | None = None) -> pd.DataFrame:
    """Established TCP connections between the stack's processes: who connects to whose listener.

    Read from the kernel's socket table (psutil) for each broker process and
    for ``clients`` (name → pid, e.g. this notebook): a connection counts once,
    from the process that opened it to the listener it reached.
    """
    import psutil

    by_port = {ep.port: ep for ep in endpoints}
    processes: dict[int, str] = {ep.pid: ep.owner for ep in endpoints if ep.pid}
    processes.update({pid: name for name, pid in (clients or {}).items()})
    counts: Counter[tuple[str, str, str]] = Counter()
    for pid, owner in processes.items():
        try:
            connections = psutil.Process(pid).net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for conn in connections:
            if conn.status != psutil.CONN_ESTABLISHED or not conn.raddr:
                continue
            if conn.laddr.port in by_port and by_port[conn.laddr.port].pid == pid:
                continue  # the accepting side of a connection: counted at the side that opened it
            target = by_port.get(conn.raddr.port)
            if target is None:
                continue
            counts[(owner, target.owner, target.what)] += 1
    rows = [{"from": src, "to": dst, "listener": what, "connections": n}
            for (src, dst, what), n in sorted(counts.items())]
    return pd.DataFrame(rows, columns=["from", "to", "listener", "connections"])


def connections_chart(connections: pd.DataFrame, title: str = "Open TCP connections between the processes") -> Any:
    """A grid: who opened connections (rows) to which listener of which process (columns), with counts."""
    import altair as alt

    from .. import plots

    data = connections.assign(target=connections["to"] + " · " + connections["listener"])
    order_to = sorted(data["target"].unique(), key=lambda t: (t.startswith("epmd"), t))
    order_from = sorted(data["from"].unique(), key=lambda f: (f == "this notebook", f))
    heading = alt.TitleParams(title, subtitle="opened by (rows) → listener reached (columns)")
    base = alt.Chart(data, title=heading).encode(
        x=alt.X("target:N", sort=order_to, title=None,
                axis=alt.Axis(labelAngle=-40, orient="top", labelLimit=240, labelOverlap=False)),
        y=alt.Y("from:N", sort=order_from, title=None),
    )
    cells = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color("connections:Q", title="connections", scale=alt.Scale(scheme="blues", domainMin=0),
                        legend=None))
    text = base.mark_text(fontSize=13).encode(
        text="connections:Q",
        color=alt.condition(alt.datum.connections > data["connections"].max() / 2, alt.value("white"),
                            alt.value("#1f2933")))
    return alt.layer(cells, text).properties(width=max(300, 46 * len(order_to)), height=34 * len(order_from))


def advertised_view(bootstrap_one: str) -> pd.DataFrame:
    """What a client learns from a single bootstrap address: every broker and the address it advertises."""
    metadata = _admin(bootstrap_one).list_topics(timeout=10)
    return pd.DataFrame([{"broker": b.id, "advertised address": f"{b.host}:{b.port}",
                          "learnt from": bootstrap_one} for b in sorted(metadata.brokers.values(), key=lambda b: b.id)])


def quorum_table(bootstrap: str) -> pd.DataFrame:
    """The KRaft controller quorum as the cluster describes it (DescribeQuorum): voters, their lag, endpoints."""
    from kafka.admin import KafkaAdminClient

    with quiet_kafka_python():
        client = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000, client_id="streamlab-tour")
        try:
            answer = client.describe_metadata_quorum()
        finally:
            client.close()
    part = answer["topics"][0]["partitions"][0]
    endpoints = {n["node_id"]: ", ".join(f"{l['name']} {l['host']}:{l['port']}" for l in n["listeners"])
                 for n in answer.get("nodes", [])}
    now_ms = time.time() * 1000
    rows = []
    for voter in part["current_voters"]:
        vid = voter["replica_id"]
        last = voter.get("last_fetch_timestamp", -1)
        rows.append({"voter": vid, "role": "leader" if vid == part["leader_id"] else "follower",
                     "controller endpoint": endpoints.get(vid, ""),
                     "metadata log end offset": voter["log_end_offset"],
                     "behind the leader (records)": part["high_watermark"] - voter["log_end_offset"],
                     "last fetch (ms ago)": round(now_ms - last) if last and last > 0 else None})
    frame = pd.DataFrame(rows)
    frame.attrs.update(leader=part["leader_id"], epoch=part["leader_epoch"], high_watermark=part["high_watermark"])
    return frame


# --------------------------------------------------------------------------- RabbitMQ, briefly


def rabbit_overview(mgmt_url: str, amqp_url: str, timeout_s: float = 5.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """RabbitMQ's own view of itself from the management API: the node(s) and the listeners.

    The credentials are the AMQP URL's; the management API is the same HTTP
    interface the web UI uses, so this is what the UI would show.
    """
    url = urlparse(amqp_url)
    user, password = unquote(url.username or "guest"), unquote(url.password or "guest")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()

    def get(path: str) -> Any:
        request = urllib.request.Request(mgmt_url.rstrip("/") + path, headers={"Authorization": f"Basic {token}"})
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return json.loads(response.read())

    overview = get("/api/overview")
    nodes = get("/api/nodes")
    node_rows = [{
        "node": n.get("name"), "running": n.get("running"), "type": n.get("type"),
        "RabbitMQ": overview.get("rabbitmq_version"), "Erlang": overview.get("erlang_version"),
        "uptime (s)": round(n.get("uptime", 0) / 1000), "memory used (MiB)": round(n.get("mem_used", 0) / 2**20, 1),
        "memory alarm at (MiB)": round(n.get("mem_limit", 0) / 2**20), "file descriptors used": n.get("fd_used"),
        "Erlang processes": n.get("proc_used"), "network partitions": len(n.get("partitions", [])),
    } for n in nodes]
    listener_rows = [{"node": item.get("node"), "protocol": item.get("protocol"), "port": item.get("port")}
                     for item in overview.get("listeners", [])]
    return pd.DataFrame(node_rows), pd.DataFrame(listener_rows)


def process_facts(endpoints: Sequence[Endpoint]) -> pd.DataFrame:
    """Each broker process: pid, how long it has run, resident memory, threads."""
    import psutil

    rows = []
    seen: set[int] = set()
    for ep in endpoints:
        if not ep.pid or ep.pid in seen:
            continue
        seen.add(ep.pid)
        try:
            proc = psutil.Process(ep.pid)
            with proc.oneshot():
                rows.append({"process": ep.owner, "pid": ep.pid, "program": proc.name(),
                             "running for (s)": round(time.time() - proc.create_time()),
                             "resident memory (MiB)": round(proc.memory_info().rss / 2**20),
                             "threads": proc.num_threads()})
        except psutil.NoSuchProcess:
            rows.append({"process": ep.owner, "pid": ep.pid, "program": "(gone)"})
    return pd.DataFrame(rows)


__all__ = [
    "BackgroundLoad", "Clock", "ClusterSampler", "Endpoint", "TourPlan", "TourResult", "ack_latency_timeline",
    "advertised_view", "compose_listener_table", "connections_chart", "elect_preferred_leaders", "error_name",
    "error_text", "failover_tour", "group_coordinator", "isr_chart", "latency_chart", "leadership_chart",
    "listening_addresses", "live_connections", "load_timeline", "local_listener_table", "longest_gap", "milestones",
    "phases", "port_checks", "probe_writes", "process_facts", "quorum_table", "rabbit_overview", "restore_cluster",
    "save_results", "set_topic_config", "stack_endpoints", "throughput_chart", "topic_config", "tour_topics",
    "wait_for",
]
