"""The live Kafka side of a run: consumer lag, the topics as the cluster reports them, records really readable,
and the clean-up of a run's namespace. Everything else in this package is pure (files in, frames out).

Admin clients come from `streamlab.transport.kafka_admin.admin_client`, the one factory.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ...stack.kafka_local import quiet_logger
from ...transport.kafka_admin import admin_client, delete_topics


class KafkaLagProbe:
    """Consumer lag of a few groups, cheaply: committed offsets of the given topics vs. their end offsets.

    ``groups`` maps a group id to the topics it consumes. Lag of a partition
    is end − committed, or end − earliest when the group has committed
    nothing there yet (as `kafka-consumer-groups` shows it).
    """

    def __init__(self, bootstrap: str, groups: Mapping[str, Sequence[str]], timeout_s: float = 5.0) -> None:
        self.admin = admin_client(bootstrap)
        self.groups = {group: list(topics) for group, topics in groups.items()}
        self.timeout_s = timeout_s
        self._partitions: dict[str, list[int]] = {}

    def _partitions_of(self, topic: str) -> list[int]:
        if topic not in self._partitions:
            metadata = self.admin.list_topics(topic, timeout=self.timeout_s)
            self._partitions[topic] = sorted(metadata.topics[topic].partitions)
        return self._partitions[topic]

    def __call__(self) -> dict[str, int | None]:
        from confluent_kafka import TopicPartition
        from confluent_kafka.admin import OffsetSpec
        from confluent_kafka import ConsumerGroupTopicPartitions

        topics = sorted({t for ts in self.groups.values() for t in ts})
        parts = [TopicPartition(t, p) for t in topics for p in self._partitions_of(t)]
        ends = self._offsets(parts, OffsetSpec.latest())
        starts = self._offsets(parts, OffsetSpec.earliest())
        result: dict[str, int | None] = {}
        for group, group_topics in self.groups.items():
            wanted = [TopicPartition(t, p) for t in group_topics for p in self._partitions_of(t)]
            future = self.admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group, wanted)],
                                                            request_timeout=self.timeout_s)[group]
            committed = {(tp.topic, tp.partition): tp.offset for tp in future.result().topic_partitions}
            lag = 0
            for tp in wanted:
                key = (tp.topic, tp.partition)
                done = committed.get(key, -1)
                lag += ends[key] - (done if done >= 0 else starts[key])
            result[group] = lag
        return result

    def _offsets(self, parts: list[Any], spec: Any) -> dict[tuple[str, int], int]:
        futures = self.admin.list_offsets({tp: spec for tp in parts}, request_timeout=self.timeout_s)
        return {(tp.topic, tp.partition): fut.result().offset for tp, fut in futures.items()}


def cluster_topics(bootstrap: str, names: Sequence[str]) -> pd.DataFrame:
    """What the cluster reports for ``names``: partitions, replication, ISR, leaders, messages and topic configs."""
    from confluent_kafka.admin import ConfigResource

    from ...explorer import describe_topics

    parts = describe_topics(bootstrap)
    parts = parts[parts["topic"].isin(list(names))]
    admin = admin_client(bootstrap)
    resources = [ConfigResource("topic", name) for name in names]
    configs = {res.name: fut.result(timeout=10) for res, fut in admin.describe_configs(resources).items()}
    rows = []
    for name in names:
        mine = parts[parts["topic"] == name]
        config = configs.get(name, {})

        def value(key: str) -> str:
            entry = config.get(key)
            return str(entry.value) if entry is not None else ""

        rows.append({
            "topic": name,
            "partitions": int(len(mine)),
            "replication": int(mine["replicas"].map(len).max()) if len(mine) else 0,
            "min ISR size seen": int(mine["isr"].map(len).min()) if len(mine) else 0,
            "leaders on brokers": ", ".join(str(b) for b in sorted(set(mine["leader"]))),
            "messages": int(mine["messages"].sum()) if "messages" in mine else 0,
            "min.insync.replicas": value("min.insync.replicas"),
            "retention.ms": value("retention.ms"),
            "cleanup.policy": value("cleanup.policy"),
        })  # fmt: skip
    return pd.DataFrame(rows)


def count_records(bootstrap: str, topic: str, timeout_s: float = 30.0) -> tuple[int, int]:
    """Records a reader from the beginning really gets from ``topic`` now, and how many distinct keys they have.

    For a compacted topic the first number shrinks towards the second once the
    log cleaner has run; the offset range (what ``describe_topics`` counts)
    does not, because compaction leaves holes in the offsets.
    """
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "streamlab-count", "enable.auto.commit": False,
                         "enable.partition.eof": True, "logger": quiet_logger()})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {}
        assignment = []
        for pid in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, pid), timeout=10)
            if high > low:
                ends[pid] = high
                assignment.append(TopicPartition(topic, pid, low))
        consumer.assign(assignment)
        records, keys = 0, set()
        open_parts = set(ends)
        deadline = time.monotonic() + timeout_s
        while open_parts and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=10_000, timeout=0.5):
                if msg.error():
                    if msg.error().code() == -191:  # _PARTITION_EOF
                        open_parts.discard(msg.partition())
                    continue
                records += 1
                keys.add(msg.key())
                if msg.offset() + 1 >= ends[msg.partition()]:
                    open_parts.discard(msg.partition())
        return records, len(keys)
    finally:
        consumer.close()


def delete_namespace(bootstrap: str, topics: Sequence[str], groups: Sequence[str]) -> None:
    """Remove a run's consumer groups and topics from the cluster (best effort)."""
    if groups:
        admin = admin_client(bootstrap)  # keep a reference while waiting: a future dies with its client
        for future in admin.delete_consumer_groups(list(groups), request_timeout=10).values():
            try:
                future.result(timeout=30)
            except Exception:
                pass  # already gone, or a group with members left: nothing to do for a report
    delete_topics(bootstrap, list(topics))
