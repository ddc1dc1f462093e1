"""The live Kafka side of a run: consumer lag, the topics as the cluster reports them, records really readable,
and the clean-up of a run's namespace. Everything else in this package is pure (files in, frames out).

Admin clients come from `streamlab.transport.kafka_admin.admin_client`, the one factory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ...transport.kafka_admin import admin_client, delete_topics, quiet_logger


class KafkaLagProbe:
    """Consumer lag of a few groups, cheaply: committed offsets of the given topics vs. their end offsets.

    ``groups`` maps a group id to the topics it consumes. Lag of a partition
    is end − committed, or end − earliest when the group has committed
    nothing there yet (as `kafka-consumer-groups` shows it).

    Its Kafka clients belong to the thread that first calls it (a
    :class:`RunSampler`'s thread): made there, used there only, closed there by
    :meth:`close`, which the sampler calls when its loop ends. Committed offsets
    come from one offsets reader per group, not from the AdminClient, whose
    ``list_consumer_group_offsets`` kills the process when a group coordinator
    moves (issue 20; the rules are in :mod:`streamlab.transport.kafka_admin`).
    """

    def __init__(self, bootstrap: str, groups: Mapping[str, Sequence[str]], timeout_s: float = 5.0) -> None:
        self.bootstrap = bootstrap
        self.groups = {group: list(topics) for group, topics in groups.items()}
        self.timeout_s = timeout_s
        self._partitions: dict[str, list[int]] = {}
        self._owner: int | None = None
        self._admin: Any = None
        self._readers: dict[str, Any] = {}
        self._closed = False

    def _check_owner(self) -> None:
        if self._closed:
            raise RuntimeError("this KafkaLagProbe is closed")
        me = threading.get_ident()
        if self._owner is None:
            self._owner = me
        elif self._owner != me:
            raise RuntimeError("a KafkaLagProbe is used only by the thread that first called it")

    def _partitions_of(self, topic: str) -> list[int]:
        if topic not in self._partitions:
            metadata = self._admin.list_topics(topic, timeout=self.timeout_s)
            self._partitions[topic] = sorted(metadata.topics[topic].partitions)
        return self._partitions[topic]

    def __call__(self) -> dict[str, int | None]:
        from confluent_kafka import TopicPartition
        from confluent_kafka.admin import OffsetSpec

        from ...transport.kafka_admin import admin_client, committed_offsets, offsets_consumer

        self._check_owner()
        if self._admin is None:
            self._admin = admin_client(self.bootstrap)
        try:
            topics = sorted({t for ts in self.groups.values() for t in ts})
            parts = [TopicPartition(t, p) for t in topics for p in self._partitions_of(t)]
            ends = self._offsets(parts, OffsetSpec.latest())
            starts = self._offsets(parts, OffsetSpec.earliest())
            result: dict[str, int | None] = {}
            for group, group_topics in self.groups.items():
                if group not in self._readers:
                    self._readers[group] = offsets_consumer(self.bootstrap, group)
                reader = self._readers[group]
                wanted = [(t, p) for t in group_topics for p in self._partitions_of(t)]
                try:
                    committed = committed_offsets(reader, wanted, self.timeout_s)
                finally:
                    reader.poll(0)  # serve its queued log lines here, on the owner thread
                result[group] = sum(ends[key] - (committed[key] if committed.get(key, -1) >= 0 else starts[key])
                                    for key in wanted)
            return result
        finally:
            self._admin.poll(0)  # the same for the admin client, whose calls never poll

    def _offsets(self, parts: list[Any], spec: Any) -> dict[tuple[str, int], int]:
        futures = self._admin.list_offsets({tp: spec for tp in parts}, request_timeout=self.timeout_s)
        return {(tp.topic, tp.partition): fut.result().offset for tp, fut in futures.items()}

    def close(self) -> None:
        """Close the clients, on the owner thread, once; later calls do nothing."""
        if self._closed:
            return
        if self._owner is not None and self._owner != threading.get_ident():
            raise RuntimeError("a KafkaLagProbe is closed by the thread that used it")
        self._closed = True
        readers, self._readers = self._readers, {}
        for reader in readers.values():
            reader.close()
        self._admin = None  # no future of it is pending: every call above waited for its own



def cluster_topics(bootstrap: str, names: Sequence[str]) -> pd.DataFrame:
    """What the cluster reports for ``names``: partitions, replication, ISR, leaders, messages and topic configs."""
    from confluent_kafka.admin import ConfigResource

    from ...stack.explorer import describe_topics

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
            entry = config.get(key)  # noqa: B023 - value() is called within this iteration
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
            except Exception:  # noqa: BLE001 - clean-up: see the line below
                pass  # already gone, or a group with members left: nothing to do for a report
    delete_topics(bootstrap, list(topics))
