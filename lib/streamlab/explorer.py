"""A small cluster explorer in place of Kafdrop: topics, partitions, ISR, offsets, groups, lag, messages.

Each function returns a tidy pandas DataFrame, so the same call feeds the CLI's
tables and the book's plots (the cluster tour samples these over time while a
broker is down). Built on confluent-kafka's AdminClient because it reports
leaders, replicas and ISR per partition and retries around dead brokers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd

from .stack.config import StackError
from .stack.kafka_local import quiet_logger


def _admin(bootstrap: str):
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap, "logger": quiet_logger(), "socket.timeout.ms": 5000})


def _metadata(bootstrap: str, topic: str | None = None, timeout: float = 5.0):
    from confluent_kafka import KafkaException

    try:
        return _admin(bootstrap).list_topics(topic=topic, timeout=timeout)
    except KafkaException as exc:
        raise StackError(f"Kafka does not answer at {bootstrap} ({exc.args[0].str()}): start it with `make up`") from None


def _watermarks(bootstrap: str, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], tuple[int, int]]:
    from confluent_kafka import Consumer, TopicPartition

    if not partitions:
        return {}
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "streamlab-explorer",
                         "enable.auto.commit": False, "logger": quiet_logger()})
    try:
        marks = {}
        for topic, partition in partitions:
            try:
                marks[(topic, partition)] = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=5)
            except Exception:  # leaderless partition while a broker is down: show it, don't fail the table
                marks[(topic, partition)] = (-1, -1)
        return marks
    finally:
        consumer.close()


def describe_topics(bootstrap: str, include_internal: bool = False, offsets: bool = True) -> pd.DataFrame:
    """One row per partition: leader, replicas, ISR, under-replication, and its offsets."""
    metadata = _metadata(bootstrap)
    rows = []
    for name, topic in sorted(metadata.topics.items()):
        if name.startswith("__") and not include_internal:
            continue
        for pid, part in sorted(topic.partitions.items()):
            rows.append({
                "topic": name, "partition": pid, "leader": part.leader,
                "replicas": list(part.replicas), "isr": list(part.isrs),
                "under_replicated": len(part.isrs) < len(part.replicas),
                "error": str(part.error) if part.error else "",
            })
    frame = pd.DataFrame(rows, columns=["topic", "partition", "leader", "replicas", "isr",
                                        "under_replicated", "error"])
    if offsets and not frame.empty:
        marks = _watermarks(bootstrap, list(zip(frame["topic"], frame["partition"])))
        frame["earliest"] = [marks[(t, p)][0] for t, p in zip(frame["topic"], frame["partition"])]
        frame["latest"] = [marks[(t, p)][1] for t, p in zip(frame["topic"], frame["partition"])]
        frame["messages"] = (frame["latest"] - frame["earliest"]).where(frame["latest"] >= 0)
    return frame


def wait_for_leaders(bootstrap: str, topic: str, timeout_s: float = 30.0) -> pd.DataFrame:
    """Block until every partition of `topic` has a leader; topic creation is asynchronous in Kafka."""
    deadline = time.monotonic() + timeout_s
    while True:
        frame = describe_topics(bootstrap, offsets=False)
        rows = frame[frame["topic"] == topic]
        if not rows.empty and (rows["leader"] >= 0).all():
            return rows.reset_index(drop=True)
        if time.monotonic() > deadline:
            raise StackError(f"topic {topic!r} has no leader for every partition after {timeout_s:.0f}s")
        time.sleep(0.2)


def describe_brokers(bootstrap: str) -> pd.DataFrame:
    metadata = _metadata(bootstrap)
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
    from .transport.kafka_admin import group_committed

    metadata = _metadata(bootstrap)  # fails with a clear line when nobody answers; listing groups would just be empty
    # what a group may have committed on; read through a consumer, never the admin OffsetFetch that
    # crashes librdkafka when a coordinator moves (transport.kafka_admin, rule 4)
    partitions = [(name, p) for name, topic in metadata.topics.items() if not name.startswith("__")
                  for p in topic.partitions]
    admin = _admin(bootstrap)
    try:
        listing = admin.list_consumer_groups(request_timeout=10).result()
    except Exception as exc:
        raise StackError(f"Kafka does not answer at {bootstrap} ({exc}): start it with `make up`") from None
    group_ids = sorted(g.group_id for g in listing.valid if not g.group_id.startswith("streamlab-explorer"))
    columns = ["group", "state", "members", "topic", "partition", "member", "committed", "end", "lag"]
    if not group_ids:
        return pd.DataFrame(columns=columns)
    descriptions = {gid: fut.result() for gid, fut in admin.describe_consumer_groups(group_ids).items()}
    rows = []
    for gid in group_ids:
        desc = descriptions[gid]
        owner = {(tp.topic, tp.partition): m.client_id
                 for m in desc.members for tp in (m.assignment.topic_partitions if m.assignment else [])}
        committed = {key: offset for key, offset in group_committed(bootstrap, gid, partitions).items() if offset >= 0}
        keys = sorted(set(committed) | set(owner))
        marks = _watermarks(bootstrap, keys)
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
    return pd.DataFrame(rows, columns=columns)


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
    from confluent_kafka import Consumer, TopicPartition

    metadata = _metadata(bootstrap, topic)
    if topic not in metadata.topics or metadata.topics[topic].error is not None:
        raise StackError(f"topic {topic!r} does not exist at {bootstrap}: `streamlab topics` lists the topics")
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "streamlab-explorer-tail",
                         "enable.auto.commit": False, "logger": quiet_logger()})
    try:
        assignment, remaining = [], 0
        for pid in metadata.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, pid), timeout=5)
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
