"""A small cluster explorer in place of Kafdrop: topics, partitions, ISR, offsets, groups, lag, messages.

Each function returns a tidy pandas DataFrame, so the same call feeds the CLI's
tables and the book's plots. The questions to Kafka are asked by
`streamlab.transport.kafka_admin` (the one admin module); this module turns its
rows into tables and reads a few messages for `streamlab tail`. On RabbitMQ the
questions go to the transport: a group's backlog is its queues' ready messages,
and a stream no group reads is tailed from its holding queue, without consuming it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd

from ..transport import kafka_admin
from ..transport.kafka_admin import GROUP_COLUMNS

PARTITION_COLUMNS = ["topic", "partition", "leader", "replicas", "isr", "under_replicated", "error"]


def describe_topics(bootstrap: str, include_internal: bool = False, offsets: bool = True) -> pd.DataFrame:
    """One row per partition: leader, replicas, ISR, under-replication, and its offsets."""
    frame = pd.DataFrame(kafka_admin.partition_rows(bootstrap, include_internal), columns=PARTITION_COLUMNS)
    if offsets and not frame.empty:
        marks = kafka_admin.watermarks(bootstrap, list(zip(frame["topic"], frame["partition"])))
        frame["earliest"] = [marks[(t, p)][0] for t, p in zip(frame["topic"], frame["partition"])]
        frame["latest"] = [marks[(t, p)][1] for t, p in zip(frame["topic"], frame["partition"])]
        frame["messages"] = (frame["latest"] - frame["earliest"]).where(frame["latest"] >= 0)
    return frame


def wait_for_leaders(bootstrap: str, topic: str, timeout_s: float = 30.0) -> pd.DataFrame:
    """Block until every partition of `topic` has a leader; its partitions, as `describe_topics` shows them."""
    kafka_admin.wait_for_leaders(bootstrap, [topic], timeout_s)
    frame = describe_topics(bootstrap, offsets=False)
    return frame[frame["topic"] == topic].reset_index(drop=True)


def describe_brokers(bootstrap: str) -> pd.DataFrame:
    metadata = kafka_admin.metadata(bootstrap)
    leaders: dict[int, int] = {}
    for topic in metadata.topics.values():
        for part in topic.partitions.values():
            leaders[part.leader] = leaders.get(part.leader, 0) + 1
    return pd.DataFrame([
        {"broker": b.id, "address": f"{b.host}:{b.port}", "partition_leaders": leaders.get(b.id, 0)}
        for b in sorted(metadata.brokers.values(), key=lambda b: b.id)
    ], columns=["broker", "address", "partition_leaders"])


def describe_groups(bootstrap: str) -> pd.DataFrame:
    """One row per (group, topic, partition): committed offset, end offset, lag, and the member that owns it."""
    return pd.DataFrame(kafka_admin.group_rows(bootstrap), columns=GROUP_COLUMNS)


@dataclass(frozen=True)
class TailedMessage:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]


def tail(bootstrap: str, topic: str, count: int = 10, from_beginning: bool = False,
         timeout_s: float = 5.0) -> list[TailedMessage]:
    """The last `count` messages of each partition (or the first, with `from_beginning`), without joining a group."""
    from confluent_kafka import TopicPartition

    partitions = kafka_admin.topic_partitions(bootstrap, topic)
    marks = kafka_admin.watermarks(bootstrap, [(topic, pid) for pid in partitions])
    consumer = kafka_admin.offsets_consumer(bootstrap, "streamlab-explorer-tail")
    try:
        assignment, remaining = [], 0
        for pid in partitions:
            low, high = marks[(topic, pid)]
            start = low if from_beginning else max(low, high - count)
            stop = min(high, start + count)
            if stop > start:
                assignment.append(TopicPartition(topic, pid, start))
                remaining += stop - start
        consumer.assign(assignment)
        messages: list[TailedMessage] = []
        deadline = time.monotonic() + timeout_s
        while remaining > 0 and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            messages.append(TailedMessage(msg.topic(), msg.partition(), msg.offset(), msg.timestamp()[1],
                                          msg.key(), msg.value(), dict(msg.headers() or [])))
            remaining -= 1
        return sorted(messages, key=lambda m: (m.timestamp_ms, m.partition, m.offset))[-count:] \
            if not from_beginning else messages[:count]
    finally:
        consumer.close()


RABBIT_QUEUE_COLUMNS = ["kind", "name", "topics", "consumers", "backlog"]


def describe_rabbit_queues(transport, group_topics: dict[str, list[str]], held: list[str]) -> pd.DataFrame:
    """One row per consumer group (its queues' consumers and ready messages) and per holding queue (the
    messages a stream no group reads keeps, e.g. the dead letters); a backlog of None: no queue yet."""
    rows = [{"kind": "group", "name": group, "topics": ", ".join(topics),
             "consumers": transport.group_members(group, topics), "backlog": transport.group_backlog(group, topics)}
            for group, topics in group_topics.items()]
    rows += [{"kind": "held", "name": f"{topic}.held", "topics": topic, "consumers": None,
              "backlog": transport.held_backlog(topic)} for topic in held]
    return pd.DataFrame(rows, columns=RABBIT_QUEUE_COLUMNS)


def tail_held(transport, topic: str, count: int = 10) -> list[TailedMessage]:
    """The first `count` messages of a RabbitMQ stream's holding queue, left in the queue (basic.get, then a
    requeue); a stream without one is a UserError, since a group's queue belongs to its consumers."""
    from ..errors import UserError

    if transport.held_backlog(topic) is None:
        raise UserError(f"RabbitMQ holds no queue of its own for {topic!r}: only the streams no group reads "
                        "(dead-letter, machine-health-latest) can be tailed there; a group's queue belongs to "
                        "its consumers (check --namespace)")
    return [TailedMessage(r.topic, r.partition, r.offset, r.timestamp_ms, r.key, r.value, r.headers)
            for r in transport.peek_held(topic, count)]


def preview(value: bytes | None, width: int = 100) -> str:
    """Readable text when the payload is text (JSON), otherwise its size and first bytes in hex."""
    if value is None:
        return "(null)"
    try:
        text = value.decode("utf-8")
        if text.isprintable():
            return text if len(text) <= width else text[: width - 1] + "…"
    except UnicodeDecodeError:
        pass
    return f"<{len(value)} bytes> {value[:24].hex(' ')}"
