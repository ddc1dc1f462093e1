"""What every deep dive needs: scratch topics, parameter checks, clients, reading a topic back, restoring brokers.

One home for these so that each deep-dive module holds only its experiment.
Clients are confluent-kafka (librdkafka), the application's fast path; admin
calls go through `transport.kafka_admin`, the one place that builds an
AdminClient.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from ...errors import UserError
from ...polling import holds_within, wait_until
from ...transport import kafka_admin
from ...transport.kafka_admin import quiet_logger
from ...transport.spec import TopicSpec, scratch_name


def require(condition: bool, message: str) -> None:
    """Raise the one-line `UserError` for a parameter the reader can change."""
    if not condition:
        raise UserError(message)


def unique(prefix: str) -> str:
    """A topic or group name no other run uses: ``dd-<prefix>-<6 hex>``."""
    return scratch_name("dd", prefix, 6)


def brokers(bootstrap: str) -> int:
    return kafka_admin.broker_count(bootstrap)


def require_replication(bootstrap: str, replication: int) -> int:
    """The cluster's broker count, or a `UserError` when ``replication`` cannot be placed on it."""
    count = brokers(bootstrap)
    require(1 <= replication <= count,
            f"replication factor {replication} needs {replication} brokers, but the cluster at {bootstrap} "
            f"has {count}: lower it or start more (`streamlab stack up --broker kafka --brokers 3`)")
    return count


@contextmanager
def scratch_topics(bootstrap: str, specs: Sequence[TopicSpec],
                   assignments: dict[str, list[list[int]]] | None = None) -> Iterator[list[str]]:
    """Create the topics (exact replication, checked against the cluster) and delete them afterwards.

    ``assignments`` places chosen topics' replicas explicitly (partition → broker
    ids, the first one the preferred leader), so an experiment can know in
    advance which broker leads what.
    """
    count = brokers(bootstrap)
    for spec in specs:
        require(spec.replication <= count, f"topic {spec.name}: replication factor {spec.replication} is above "
                                           f"the {count} broker(s) of the cluster at {bootstrap}")
    names = [spec.name for spec in specs]
    assignments = assignments or {}
    try:
        kafka_admin.ensure_topics(bootstrap, [s for s in specs if s.name not in assignments])
        placed = [s for s in specs if s.name in assignments]
        if placed:
            _create_assigned(bootstrap, placed, assignments)
        yield names
    finally:
        kafka_admin.delete_topics(bootstrap, names)


def _create_assigned(bootstrap: str, specs: Sequence[TopicSpec], assignments: dict[str, list[list[int]]]) -> None:
    from confluent_kafka.admin import NewTopic

    admin = kafka_admin.admin_client(bootstrap)
    futures = admin.create_topics(
        [
            NewTopic(
                s.name, num_partitions=len(assignments[s.name]), replica_assignment=assignments[s.name], config=s.config
            )
            for s in specs
        ],
        request_timeout=30,
    )
    for future in futures.values():
        future.result(timeout=30)
    holds_within(lambda: all(min(partition_leaders(bootstrap, s.name).values()) >= 0 for s in specs), 30)


def rotated_assignment(broker_ids: Sequence[int], partitions: int, replication: int,
                       first: int) -> list[list[int]]:
    """Replicas spread round-robin, partition 0 led by ``first``: the layout Kafka would choose, pinned."""
    ids = sorted(broker_ids)
    start = ids.index(first)
    return [[ids[(start + p + r) % len(ids)] for r in range(replication)] for p in range(partitions)]


def broker_ids(bootstrap: str) -> list[int]:
    return sorted(kafka_admin.admin_client(bootstrap).list_topics(timeout=10).brokers)


def topic(name: str, partitions: int, replication: int = 1, **config: str) -> TopicSpec:
    return TopicSpec(name, "raw", partitions, replication, {k.replace("_", "."): str(v) for k, v in config.items()},
                     "deep-dive scratch topic")


def producer(bootstrap: str, **settings):
    """A confluent-kafka Producer; ``settings`` use librdkafka names with ``_`` for ``.``. Keys are placed as
    Java's producer places them (`JAVA_PARTITIONER`) unless ``partitioner`` says otherwise."""
    from confluent_kafka import Producer

    from ...transport.kafka_confluent import JAVA_PARTITIONER

    conf = {"bootstrap.servers": bootstrap, "logger": quiet_logger(), "partitioner": JAVA_PARTITIONER}
    conf.update({k.replace("_", "."): v for k, v in settings.items()})
    return Producer(conf)


def wait_serving(target: float, producers: Sequence) -> None:
    """Sleep until the monotonic time `target`, serving the producers' delivery callbacks meanwhile.

    A paced producer that only slept would learn of failed or acknowledged sends late, and the
    experiments count exactly those moments around a broker fault."""
    while (now := time.monotonic()) < target:
        for writer in producers:
            writer.poll(0)
        time.sleep(min(0.005, max(0.0, target - now)))


def consumer(bootstrap: str, group: str, **settings):
    from confluent_kafka import Consumer

    conf = {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "logger": quiet_logger()}
    conf.update({k.replace("_", "."): v for k, v in settings.items()})
    return Consumer(conf)


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int


def end_offsets(bootstrap: str, topic_name: str, timeout_s: float = 10.0) -> dict[int, int]:
    """The next offset to be written, per partition (the high watermark)."""
    from confluent_kafka import TopicPartition

    reader = consumer(bootstrap, unique("offsets"))
    try:
        parts = reader.list_topics(topic_name, timeout=timeout_s).topics[topic_name].partitions
        return {p: reader.get_watermark_offsets(TopicPartition(topic_name, p), timeout=timeout_s)[1] for p in parts}
    finally:
        reader.close()


def read_all(bootstrap: str, topic_name: str, timeout_s: float = 30.0) -> list[Record]:
    """Every record of every partition, from the beginning to the high watermark, without a group.

    What the log holds, independent of any committed offset: the ground truth the
    deep dives count acknowledged records against.
    """
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    ends = end_offsets(bootstrap, topic_name)
    reader = consumer(bootstrap, unique("read"))
    records: list[Record] = []
    try:
        reader.assign([TopicPartition(topic_name, p, OFFSET_BEGINNING) for p in ends])
        remaining = {p for p, end in ends.items() if end > 0}
        deadline = time.monotonic() + timeout_s
        while remaining and time.monotonic() < deadline:
            for msg in reader.consume(1000, 0.5):
                if msg.error():
                    continue
                records.append(Record(msg.partition(), msg.offset(), msg.key(), msg.value(), msg.timestamp()[1]))
                if msg.offset() + 1 >= ends[msg.partition()]:
                    remaining.discard(msg.partition())
    finally:
        reader.close()
    return records


def partitions_of(bootstrap: str, topic_name: str, timeout_s: float = 30.0) -> dict:
    """The topic's partition metadata (partition → leader, replicas, ISR), once the answering broker knows it.

    A broker whose metadata has not caught up with a topic just created answers with no partitions at all;
    on a loaded machine a quick book's deep dive 3 read such an empty answer as its placement. So an empty
    answer means "ask again", for at most `timeout_s`."""
    def known() -> dict:
        return kafka_admin.admin_client(bootstrap).list_topics(topic_name, timeout=10).topics[topic_name].partitions

    return wait_until(known, timeout_s, f"the partitions of topic {topic_name}", interval=0.2, error=RuntimeError)


def partition_leaders(bootstrap: str, topic_name: str) -> dict[int, int]:
    return {p: part.leader for p, part in partitions_of(bootstrap, topic_name).items()}


def isr_sizes(bootstrap: str, topic_name: str) -> dict[int, int]:
    return {p: len(part.isrs) for p, part in partitions_of(bootstrap, topic_name).items()}


@contextmanager
def restored_brokers(kafka, bootstrap: str, topics: Sequence[str] = (), timeout_s: float = 300.0) -> Iterator[None]:
    """On the way out, whatever happened: resume paused nodes, restart dead ones, wait for full ISRs.

    ``kafka`` is the stack's Kafka part (`Stack.part("kafka")`, a local cluster):
    the only kind of stack whose nodes an experiment may kill.
    """
    try:
        yield
    finally:
        for status in kafka.status():
            if status.state == "paused":
                kafka.resume_node(status.node)
            elif status.state == "stopped":
                kafka.restart_node(status.node, wait=False)
        kafka.wait_ready(timeout=timeout_s)
        for name in topics:
            holds_within(lambda name=name: isr_full(bootstrap, name), timeout_s / 2, 0.5)


def isr_full(bootstrap: str, topic_name: str) -> bool:
    """Every partition of the topic has all its replicas in sync again."""
    return all(len(part.isrs) == len(part.replicas) and part.leader >= 0
               for part in partitions_of(bootstrap, topic_name).values())


def require_killable(kafka) -> None:
    """Experiments that kill a broker need a local stack whose nodes we started (we own their pids)."""
    require(hasattr(kafka, "kill_node") and hasattr(kafka, "nodes"),
            "this experiment kills a broker, which only a local stack allows (STACK=local)")
