"""Kafka's admin API, in one place: every part of streamlab that asks Kafka about its cluster comes here.

Client factory (`admin_client`, with librdkafka's connection noise routed to a quiet logger), metadata,
partition watermarks and their sums, leaders, consumer groups and their lag, creating and deleting
topics, and the KRaft quorum. Results are plain rows (dicts and dataclasses), not DataFrames: the tables
people read are built from them in `streamlab.stack.explorer`.

Clients made here are short-lived: each call makes its own and drops it when done (a fresh client per
question costs a metadata round trip, which no caller notices).

Every Kafka client the library keeps for longer than one call (a lag
probe sampled every second, a tour's metadata loop, a service's publisher)
follows four rules, learnt from a crash (issue 20):

1. **One owner thread.** The client is made by the thread that uses it, lazily
   on first use, and used by that thread only. A helper that samples in a
   background thread makes its clients in that thread and refuses calls from
   any other (`KafkaLagProbe`).
2. **Closed once, by its owner, never used after.** `close()` is idempotent and
   runs on the owner thread (a sampler closes its probe when its loop ends). An
   AdminClient has no `close()`: it is released with its last reference, so
   hold it until every future it returned has resolved, and never wait on one
   of its futures after dropping it.
3. **Logs are served on the owner thread.** With a Python `logger` in the
   config, librdkafka queues its log lines (`log.queue`) and calls the logger
   only inside `poll()`/`flush()`/`consume()` of the thread that calls them,
   never on a librdkafka thread. An AdminClient's calls do not poll, so its
   lines pile up until someone does: a long-lived one is polled by its owner
   after each use (`admin.poll(0)`).
4. **No `AdminClient.list_consumer_group_offsets`.** In librdkafka (2.16.0 here;
   upstream librdkafka#5040, still open) an admin OffsetFetch answered with
   NOT_COORDINATOR or COORDINATOR_NOT_AVAILABLE calls
   `rd_kafka_cgrp_op(rk->rk_cgrp, ...)` on a client that has no consumer
   group: a NULL read on the client's `rdk:main` thread, and the process dies
   with SIGSEGV. Group coordinators move whenever leadership of
   `__consumer_offsets` moves (a broker stops or restarts; the controller's
   preferred-leader rebalance, every 300 s by default), so a probe that asks
   every second dies within minutes of such a move. Committed offsets are read
   with `committed_offsets` instead: a Consumer configured with the group's id
   (never subscribed, so never a member of the group) asks through the
   consumer's own coordinator code, which handles the move and retries.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..polling import wait_until
from .base import TransportError, co_partition_count
from .retry import RetryPolicy, call_with_retries
from .spec import TopicSpec, TopicTable

#: What to run when Kafka is not there.
START_HINT = "start it with `streamlab stack up --broker kafka`"

#: How long a broker holds a consumer's fetch when it has nothing new (librdkafka ``fetch.wait.max.ms``,
#: kafka-python ``fetch_max_wait_ms``; both default to 500). With 500, a run's first readings reached the
#: processor ~0.5 s late (chapter 04 measured the start of a run): its first fetches ran the full wait,
#: likely because a partition still looking up its offset is not in a fetch already sent. Data still ends a
#: fetch at once; the cost is a few more empty fetches while idle.
FETCH_WAIT_MS = 100


def fetch_wait_ms() -> int:
    """`FETCH_WAIT_MS`, or ``STREAMLAB_KAFKA_FETCH_WAIT_MS`` (chapter 04's *before* sets the clients' 500)."""
    value = os.environ.get("STREAMLAB_KAFKA_FETCH_WAIT_MS", "").strip()
    return int(value) if value else FETCH_WAIT_MS


def quiet_logger() -> logging.Logger:
    """librdkafka prints every refused connection while a node is down; probes expect those."""
    logger = logging.getLogger("streamlab.librdkafka")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger


class _ConnectionNoise(logging.Filter):
    """librdkafka's own log lines, levelled for a user.

    librdkafka logs every failed connection attempt as an error (`%3|…|FAIL|…`), including a bootstrap
    address it merely tried and the reconnects after a broker restart. Those become DEBUG; an address
    that still refuses one client UNREACHABLE_S after its first failure is reported once, as one WARNING."""

    UNREACHABLE_S = 3.0
    CONNECT = re.compile(r"Connect to (?:ipv[46]#)?(\S+) failed: ([^(]+)")

    def __init__(self) -> None:
        super().__init__()
        self.first_failure: dict[tuple[str, str], float] = {}
        self.reported: set[tuple[str, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if not args or args[0] != "FAIL":
            return True
        connect = self.CONNECT.search(record.getMessage())
        if connect:
            key = (str(args[1]), connect.group(1))
            first = self.first_failure.setdefault(key, time.monotonic())
            if key not in self.reported and time.monotonic() - first >= self.UNREACHABLE_S:
                self.reported.add(key)
                record.msg, record.args = "Kafka broker %s is unreachable: %s (%s keeps retrying)", (
                    connect.group(1), connect.group(2).strip(), args[1])
                record.levelno, record.levelname = logging.WARNING, "WARNING"
                return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def client_logger() -> logging.Logger:
    """The `logger` of the app's and the benchmarks' confluent clients: librdkafka's lines through our logging,
    connection noise at DEBUG, a broker that stays unreachable as one WARNING (see `_ConnectionNoise`)."""
    logger = logging.getLogger("streamlab.kafka_client")
    if not any(isinstance(f, _ConnectionNoise) for f in logger.filters):
        logger.addFilter(_ConnectionNoise())
    logger.propagate = True
    return logger


def admin_client(bootstrap: str, socket_timeout_ms: int | None = None):
    """A confluent-kafka AdminClient for `bootstrap`: the one place in the package that makes one."""
    from confluent_kafka.admin import AdminClient

    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "logger": quiet_logger()}
    if socket_timeout_ms is not None:
        config["socket.timeout.ms"] = socket_timeout_ms
    return AdminClient(config)


def quorum_client(bootstrap: str, client_id: str = "streamlab-stack", timeout_ms: int = 3000, **options: Any):
    """kafka-python's KafkaAdminClient, for the one question confluent-kafka cannot ask: DescribeQuorum
    (the KRaft controller quorum). The one place the package makes one; the caller closes it."""
    from kafka.admin import KafkaAdminClient

    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms, client_id=client_id, **options)


def offsets_consumer(bootstrap: str, group: str = "streamlab-admin"):
    """A consumer that reads watermarks and `group`'s committed offsets (rule 4 above).

    It never subscribes, so it never joins the group nor disturbs its members, and never commits."""
    from confluent_kafka import Consumer

    return Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                     "logger": quiet_logger()})


#: Errors of an offset fetch or commit that mean "ask again": the group's coordinator is moving (a broker
#: stopped or was killed, the offsets partition's leader changed) or still loading the group's offsets, or
#: a request timed out on the way (librdkafka's names).
COORDINATOR_MOVING = frozenset({"NOT_COORDINATOR", "COORDINATOR_NOT_AVAILABLE", "COORDINATOR_LOAD_IN_PROGRESS",
                                "REQUEST_TIMED_OUT", "NETWORK_EXCEPTION", "_TIMED_OUT", "_TRANSPORT",
                                "_WAIT_COORD"})


def coordinator_moving(exc: BaseException) -> bool:
    """A librdkafka error that passes if asked again: one librdkafka marks retriable, or one of
    `COORDINATOR_MOVING` (a commit's or offset fetch's error is built without librdkafka's retriable flag)."""
    from confluent_kafka import KafkaException

    if not isinstance(exc, KafkaException) or not exc.args:
        return False
    error = exc.args[0]
    return bool(error.retriable()) or error.name() in COORDINATOR_MOVING


def committed_offsets(reader, partitions: list[tuple[str, int]], timeout: float = 10.0) -> dict[tuple[str, int], int]:
    """The committed offset of each (topic, partition) for the reader's group; -1 where it committed nothing.

    librdkafka hands a consumer's offset fetch back with NOT_COORDINATOR when the group's coordinator moved
    under it (chapter 06 kills brokers while the runner reads lag), instead of finding the new one: asked
    again, it does. So the fetch is retried until ``timeout`` (`transport.retry`); any other error is raised
    at once.
    """
    from confluent_kafka import TopicPartition

    if not partitions:
        return {}
    wanted = [TopicPartition(topic, partition) for topic, partition in partitions]
    policy = RetryPolicy(first_backoff_s=0.25, max_backoff_s=1.0, deadline_s=timeout)
    answer = call_with_retries(lambda: reader.committed(wanted, timeout=timeout), coordinator_moving,
                               "fetch committed offsets", policy)
    return {(tp.topic, tp.partition): tp.offset if tp.offset >= 0 else -1 for tp in answer}


def group_committed(bootstrap: str, group: str, partitions: list[tuple[str, int]],
                    timeout: float = 10.0) -> dict[tuple[str, int], int]:
    """`committed_offsets` with a reader made and closed for this one call."""
    reader = offsets_consumer(bootstrap, group)
    try:
        return committed_offsets(reader, partitions, timeout)
    finally:
        reader.close()


def metadata(bootstrap: str, topic: str | None = None, timeout: float = 5.0):
    """Cluster metadata (brokers, topics, partitions); a clear one-line error when nobody answers."""
    from confluent_kafka import KafkaException

    try:
        return admin_client(bootstrap, socket_timeout_ms=5000).list_topics(topic=topic, timeout=timeout)
    except KafkaException as exc:
        raise TransportError(f"Kafka does not answer at {bootstrap} ({exc.args[0].str()}): {START_HINT}") from None


def broker_count(bootstrap: str, timeout: float = 10.0) -> int:
    return len(metadata(bootstrap, timeout=timeout).brokers)


# -- partitions ----------------------------------------------------------------------------------

def partition_rows(bootstrap: str, include_internal: bool = False) -> list[dict[str, Any]]:
    """One dict per partition: topic, partition, leader, replicas, isr, under_replicated, error."""
    rows = []
    for name, topic in sorted(metadata(bootstrap).topics.items()):
        if name.startswith("__") and not include_internal:
            continue
        for pid, part in sorted(topic.partitions.items()):
            rows.append({
                "topic": name, "partition": pid, "leader": part.leader,
                "replicas": list(part.replicas), "isr": list(part.isrs),
                "under_replicated": len(part.isrs) < len(part.replicas),
                "error": str(part.error) if part.error else "",
            })
    return rows


def watermarks(bootstrap: str, partitions: Iterable[tuple[str, int]], timeout: float = 5.0,
               group: str = "streamlab-explorer") -> dict[tuple[str, int], tuple[int, int]]:
    """(low, high) offsets per (topic, partition); (-1, -1) for a partition without a leader right now."""
    from confluent_kafka import TopicPartition

    partitions = list(partitions)
    if not partitions:
        return {}
    consumer = offsets_consumer(bootstrap, group)
    try:
        marks = {}
        for topic, partition in partitions:
            try:
                marks[(topic, partition)] = consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                                           timeout=timeout)
            except Exception:  # noqa: BLE001 - leaderless partition while a broker is down: report it, don't fail the table
                marks[(topic, partition)] = (-1, -1)
        return marks
    finally:
        consumer.close()


def topic_partitions(bootstrap: str, topic: str) -> list[int]:
    meta = metadata(bootstrap, topic)
    if topic not in meta.topics or meta.topics[topic].error is not None:
        raise TransportError(f"topic {topic!r} does not exist at {bootstrap}: `streamlab topics` lists the topics")
    return sorted(meta.topics[topic].partitions)


def message_count(bootstrap: str, topics: str | Iterable[str], attempts: int = 3, timeout: float = 10.0) -> int:
    """Records held by `topics`: the sum over their partitions of high minus low watermark.

    Asked up to `attempts` times: a loaded broker may drop the first request, and a count that
    silently skipped a partition would be wrong rather than late.
    """
    from confluent_kafka import TopicPartition

    names = [topics] if isinstance(topics, str) else list(topics)
    keys = [(name, pid) for name in names for pid in topic_partitions(bootstrap, name)]
    last_error: Exception | None = None
    for _attempt in range(attempts):
        consumer = offsets_consumer(bootstrap, "streamlab-count")
        try:
            total = 0
            for topic, pid in keys:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, pid), timeout=timeout)
                total += max(0, high - low)
            return total
        except Exception as exc:  # noqa: BLE001 - KafkaException: timeouts, destroyed broker handles
            last_error = exc
            time.sleep(1)
        finally:
            consumer.close()
    raise TransportError(f"cannot read the offsets of {', '.join(names)}: {last_error}")


def leaders_ready(bootstrap: str, names: Iterable[str]) -> bool:
    """True when every partition of every topic in `names` exists and has a leader."""
    topics = metadata(bootstrap).topics
    return all(name in topics and topics[name].partitions and
               all(p.leader >= 0 for p in topics[name].partitions.values()) for name in names)


def wait_for_leaders(bootstrap: str, names: str | Iterable[str], timeout: float = 30.0) -> None:
    """Block until every partition of `names` has a leader: topic creation is asynchronous in Kafka."""
    names = [names] if isinstance(names, str) else list(names)
    wait_until(lambda: leaders_ready(bootstrap, names), timeout,
               f"a leader for every partition of {', '.join(names)}", interval=0.2, error=TransportError)


# -- topics --------------------------------------------------------------------------------------

def ensure_topics(bootstrap: str, specs: list[TopicSpec], timeout: float = 30.0) -> list[str]:
    """Create the missing topics, sized down to the cluster (RF ≤ brokers); wait for their leaders."""
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import NewTopic

    meta = metadata(bootstrap, timeout=timeout)
    wanted = [spec.for_cluster(len(meta.brokers)) for spec in specs if spec.name not in meta.topics]
    if not wanted:
        return []
    admin = admin_client(bootstrap)  # kept until the futures resolve
    futures = admin.create_topics([NewTopic(s.name, num_partitions=s.partitions, replication_factor=s.replication,
                                            config=s.config) for s in wanted], request_timeout=timeout)
    created = []
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
            created.append(name)
        except Exception as exc:  # noqa: BLE001 - the error's code decides, below
            error = exc.args[0] if exc.args else exc
            if getattr(error, "code", lambda: None)() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue  # a concurrent creator won the race: fine, the topic is there
            raise TransportError(f"creating topic {name!r} failed: {error}") from None
    wait_for_leaders(bootstrap, [s.name for s in wanted], timeout)
    return created


def set_group_config(bootstrap: str, group: str, settings: dict[str, str], timeout: float = 30.0) -> None:
    """Set a group's own configuration (KIP-848/KIP-932 group configs: `share.auto.offset.reset`,
    `share.delivery.count.limit`, `share.record.lock.duration.ms`, ...), incrementally: other keys stay.

    Why a group config and not a client setting: a share group's offset reset, delivery limit and lock
    duration are decided by the broker for the whole group, so they are set on the group before its
    consumers join. The broker checks each value against its `group.share.min/max.*` bounds."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    entries = [ConfigEntry(key, str(value), incremental_operation=AlterConfigOpType.SET)
               for key, value in settings.items()]
    resource = ConfigResource(ResourceType.GROUP, group, incremental_configs=entries)
    admin = admin_client(bootstrap)      # kept referenced until the future is done
    admin.incremental_alter_configs([resource], request_timeout=timeout)[resource].result(timeout=timeout)


def delete_topics(bootstrap: str, names: Iterable[str], timeout: float = 30.0) -> None:
    """Delete `names`; a topic that is already gone is fine, and cleanup never hides a caller's result."""
    names = list(names)
    if not names:
        return
    admin = admin_client(bootstrap)
    try:
        for future in admin.delete_topics(names, operation_timeout=timeout, request_timeout=timeout).values():
            try:
                future.result(timeout=timeout)
            except Exception:  # noqa: BLE001 - already gone
                pass
    except Exception:  # noqa: BLE001 - the broker went away during cleanup
        pass


# -- consumer groups -----------------------------------------------------------------------------

GROUP_COLUMNS = ["group", "state", "members", "topic", "partition", "member", "committed", "end", "lag"]


def group_rows(bootstrap: str, groups: Iterable[str] | None = None,
               topics: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """One dict per (group, topic, partition): committed offset, end offset, lag, and the member owning it.

    A group without partitions yet gives one row without a topic (it still counts its members).
    `groups` limits the answer to those groups (all but the explorer's own when None), `topics` to those
    topics. Committed offsets are read by `group_committed` over the topics' partitions (rule 4 above).
    """
    metadata(bootstrap)  # fails with a clear line when nobody answers; listing groups would just be empty
    admin = admin_client(bootstrap, socket_timeout_ms=5000)
    try:
        listing = admin.list_consumer_groups(request_timeout=10).result()
    except Exception as exc:  # noqa: BLE001 - any failure means Kafka does not answer
        raise TransportError(f"Kafka does not answer at {bootstrap} ({exc}): {START_HINT}") from None
    group_ids = sorted(g.group_id for g in listing.valid if not g.group_id.startswith("streamlab-explorer"))
    if groups is not None:
        wanted = set(groups)
        group_ids = [gid for gid in group_ids if gid in wanted]
    if not group_ids:
        return []
    # a group whose coordinator is moving answers NOT_COORDINATOR for a moment: asked again, it answers
    descriptions = call_with_retries(
        lambda: {gid: fut.result() for gid, fut in admin.describe_consumer_groups(group_ids).items()},
        coordinator_moving, "describe consumer groups")
    wanted_topics = None if topics is None else set(topics)
    partitions = [(r["topic"], r["partition"]) for r in partition_rows(bootstrap)
                  if wanted_topics is None or r["topic"] in wanted_topics]
    rows: list[dict[str, Any]] = []
    for gid in group_ids:
        desc = descriptions[gid]
        owner = {(tp.topic, tp.partition): m.client_id
                 for m in desc.members for tp in (m.assignment.topic_partitions if m.assignment else [])}
        asked = sorted(set(partitions) | set(owner))
        committed = {key: offset for key, offset in group_committed(bootstrap, gid, asked).items() if offset >= 0}
        keys = sorted(set(committed) | set(owner))
        marks = watermarks(bootstrap, keys)
        state = str(desc.state).rsplit(".", 1)[-1]
        if not keys:
            rows.append({"group": gid, "state": state, "members": len(desc.members)})
        for topic, partition in keys:
            start, end = marks[(topic, partition)]
            done = committed.get((topic, partition), -1)
            # nothing committed yet: everything still in the partition is waiting for this group
            position = done if done >= 0 else start
            rows.append({
                "group": gid, "state": state, "members": len(desc.members),
                "topic": topic, "partition": partition, "member": owner.get((topic, partition), ""),
                "committed": done, "end": end, "lag": (end - position) if end >= 0 and position >= 0 else None,
            })
    return rows


def _rows_of(bootstrap: str, group: str, topics: list[str] | None) -> list[dict[str, Any]]:
    rows = group_rows(bootstrap, [group], topics or None)
    if topics:
        rows = [r for r in rows if r.get("topic") is None or r["topic"] in topics]
    return rows


def group_members(bootstrap: str, group: str, topics: list[str] | None = None) -> int:
    """Members of the consumer group (0 when it does not exist)."""
    return max((int(r["members"]) for r in _rows_of(bootstrap, group, topics)), default=0)


def group_backlog(bootstrap: str, group: str, topics: list[str] | None = None) -> int | None:
    """Total lag of the group on `topics` (end offset minus committed); None while any partition is unknown."""
    rows = [r for r in _rows_of(bootstrap, group, topics) if r.get("topic") is not None]
    if not rows or any(r["lag"] is None for r in rows):
        return None
    return int(sum(r["lag"] for r in rows))


# -- the KRaft quorum ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ClusterView:
    unfenced: set[int]
    quorum_leader: int
    voters: dict[int, int]      # node id -> log end offset of the metadata log
    high_watermark: int


def describe_kafka_cluster(bootstrap: str, attempts: int = 3) -> ClusterView:
    """One view of the cluster from two admin calls, retried: a dead node may be asked first.

    confluent-kafka reports the unfenced brokers; kafka-python is the client that describes the
    metadata quorum (leader, voters and their log end offsets).
    """
    admin = admin_client(bootstrap)   # held until the future resolves: a dropped client cancels it
    cluster = admin.describe_cluster(request_timeout=5).result()
    last_error: Exception | None = None
    for _ in range(attempts):
        quorum_admin = None
        try:
            quorum_admin = quorum_client(bootstrap)
            partition = quorum_admin.describe_metadata_quorum()["topics"][0]["partitions"][0]
            break
        except Exception as exc:  # noqa: BLE001 - connection refused by a node that is down: ask again
            last_error = exc
        finally:
            if quorum_admin is not None:
                quorum_admin.close()
    else:
        raise TransportError(f"could not describe the KRaft quorum at {bootstrap}: {last_error}")
    return ClusterView(
        unfenced={node.id for node in cluster.nodes},
        quorum_leader=partition["leader_id"],
        voters={v["replica_id"]: v["log_end_offset"] for v in partition["current_voters"]},
        high_watermark=partition["high_watermark"],
    )


class KafkaAdminMixin:
    """The admin half of a Kafka transport, the same whichever client produces and consumes."""

    name = "kafka"

    def __init__(self, bootstrap: str, table: TopicTable | None = None) -> None:
        self.bootstrap = bootstrap
        self.table = table or TopicTable()

    def co_partitioned(self, group: str, topics: list[str]) -> bool:
        """True for a group the table names co-partitioned, once its topics' partition counts on the broker
        are equal (else a one-line TransportError: no assignment can co-locate unequal partitionings)."""
        if not self.table.is_co_partitioned(group):
            return False
        co_partition_count(group, {topic: len(topic_partitions(self.bootstrap, topic)) for topic in topics})
        return True

    def ensure_topics(self, specs: list[TopicSpec]) -> list[str]:
        return ensure_topics(self.bootstrap, specs)

    def delete_topics(self, names: list[str]) -> None:
        delete_topics(self.bootstrap, names)

    def ensure_groups(self, group_topics: dict[str, list[str]]) -> list[str]:
        """Nothing to declare: a topic keeps its records for every group, and a group exists once a member joins."""
        return []

    def ensure_held(self, topics: list[str]) -> list[str]:
        """Nothing to declare: a topic keeps its records until retention ends, read or not."""
        return []

    def group_members(self, group: str, topics: list[str]) -> int:
        return group_members(self.bootstrap, group, topics)

    def group_backlog(self, group: str, topics: list[str]) -> int | None:
        return group_backlog(self.bootstrap, group, topics)
