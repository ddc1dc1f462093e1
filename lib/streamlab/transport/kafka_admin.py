"""Topic and consumer-group administration shared by both Kafka clients, and how a long-lived Kafka client is owned.

`admin_client` is the one place that makes a confluent-kafka AdminClient, and
`group_offsets_reader` the one that makes a client to read a group's committed
offsets. Every Kafka client the library keeps for longer than one call (a lag
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

import time

from ..stack.kafka_local import quiet_logger
from ..topics import TopicSpec
from .base import TransportError


def admin_client(bootstrap: str):
    """A confluent-kafka AdminClient for `bootstrap`: the one place in the package that makes one."""
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap, "logger": quiet_logger()})


_admin = admin_client


def group_offsets_reader(bootstrap: str, group: str):
    """A Consumer that reads `group`'s committed offsets and partition watermarks (rule 4 above).

    It never subscribes, so it never joins the group nor disturbs its members; closing it leaves nothing behind."""
    from confluent_kafka import Consumer

    return Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                     "logger": quiet_logger()})


def committed_offsets(reader, partitions: list[tuple[str, int]], timeout: float = 10.0) -> dict[tuple[str, int], int]:
    """The committed offset of each (topic, partition) for the reader's group; -1 where it committed nothing."""
    from confluent_kafka import TopicPartition

    if not partitions:
        return {}
    answer = reader.committed([TopicPartition(topic, partition) for topic, partition in partitions], timeout=timeout)
    return {(tp.topic, tp.partition): tp.offset if tp.offset >= 0 else -1 for tp in answer}


def group_committed(bootstrap: str, group: str, partitions: list[tuple[str, int]],
                    timeout: float = 10.0) -> dict[tuple[str, int], int]:
    """`committed_offsets` with a reader made and closed for this one call."""
    reader = group_offsets_reader(bootstrap, group)
    try:
        return committed_offsets(reader, partitions, timeout)
    finally:
        reader.close()


def broker_count(bootstrap: str, timeout: float = 10.0) -> int:
    from confluent_kafka import KafkaException

    try:
        return len(_admin(bootstrap).list_topics(timeout=timeout).brokers)
    except KafkaException:
        raise TransportError(f"Kafka does not answer at {bootstrap}: start it with `make up`") from None


def ensure_topics(bootstrap: str, specs: list[TopicSpec], timeout: float = 30.0) -> list[str]:
    """Create the missing topics, sized down to the cluster (RF ≤ brokers); wait for their leaders."""
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import NewTopic

    admin = _admin(bootstrap)
    brokers = broker_count(bootstrap)
    existing = set(admin.list_topics(timeout=timeout).topics)
    wanted = [spec.for_cluster(brokers) for spec in specs if spec.name not in existing]
    if not wanted:
        return []
    futures = admin.create_topics([NewTopic(s.name, num_partitions=s.partitions, replication_factor=s.replication,
                                            config=s.config) for s in wanted], request_timeout=timeout)
    created = []
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
            created.append(name)
        except Exception as exc:
            error = exc.args[0] if exc.args else exc
            if getattr(error, "code", lambda: None)() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue  # a concurrent creator won the race: fine, the topic is there
            raise TransportError(f"creating topic {name!r} failed: {error}") from None
    _wait_for_leaders(admin, [s.name for s in wanted], timeout)
    return created


def _wait_for_leaders(admin, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        topics = admin.list_topics(timeout=5).topics
        if all(name in topics and topics[name].partitions and
               all(p.leader >= 0 for p in topics[name].partitions.values()) for name in names):
            return
        time.sleep(0.2)
    raise TransportError(f"topics {', '.join(names)} have no leader after {timeout:.0f}s")


def delete_topics(bootstrap: str, names: list[str], timeout: float = 30.0) -> None:
    if not names:
        return
    admin = _admin(bootstrap)
    for future in admin.delete_topics(names, request_timeout=timeout).values():
        try:
            future.result(timeout=timeout)
        except Exception:
            pass  # already gone


def _group_rows(bootstrap: str, group: str, topics: list[str] | None):
    from ..explorer import describe_groups

    frame = describe_groups(bootstrap)
    rows = frame[frame["group"] == group]
    if topics:
        # a group without partitions yet has one row with no topic: keep it, it still counts members
        rows = rows[rows["topic"].isin(topics) | rows["topic"].isna()]
    return rows


def group_members(bootstrap: str, group: str, topics: list[str] | None = None) -> int:
    """Members of the consumer group (0 when it does not exist)."""
    rows = _group_rows(bootstrap, group, topics)
    return int(rows["members"].max()) if not rows.empty else 0


def group_backlog(bootstrap: str, group: str, topics: list[str] | None = None) -> int | None:
    """Total lag of the group on `topics` (end offset minus committed); None while any partition is unknown."""
    rows = _group_rows(bootstrap, group, topics)
    rows = rows[rows["topic"].notna()]
    if rows.empty or rows["lag"].isna().any():
        return None
    return int(rows["lag"].sum())


class KafkaAdminMixin:
    """The admin half of a Kafka transport, the same whichever client produces and consumes."""

    name = "kafka"

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap

    def ensure_topics(self, specs: list[TopicSpec]) -> list[str]:
        return ensure_topics(self.bootstrap, specs)

    def delete_topics(self, names: list[str]) -> None:
        delete_topics(self.bootstrap, names)

    def group_members(self, group: str, topics: list[str]) -> int:
        return group_members(self.bootstrap, group, topics)

    def group_backlog(self, group: str, topics: list[str]) -> int | None:
        return group_backlog(self.bootstrap, group, topics)
