"""Kafka through confluent-kafka (librdkafka): the fast path.

librdkafka batches and sends on its own threads, so the Python side only
enqueues; this is why it reaches several times kafka-python's rate on the same
machine (see the benchmark chapter).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from . import kafka_admin
from .base import NO_HEADERS, DeliveryCallback, Record, TransportError, as_key
from .kafka_admin import client_logger
from .retry import call_with_retries, log_refused, one_line

#: How long after its creation an idempotent librdkafka producer sends its first batch at the earliest:
#: measured on this stack, the first 20 records of a fresh producer took 458–528 ms in 5 of 8 tries even
#: after a metadata request, and 5–7 ms in 8 of 8 once the producer was this old (its producer-id request
#: waits on a timer of about half a second, it seems, when no connection is up at creation).
IDEMPOTENT_START_S = 0.6

#: librdkafka's partitioner that places a keyed record where Java's producer, Kafka Streams, kafka-python and
#: `kafka-console-producer` place it: ``(murmur2(key) & 0x7fffffff) % partitions``. librdkafka's default,
#: ``consistent_random``, hashes with CRC32, so the same key lands on another partition than a Java client's
#: (librdkafka CONFIGURATION.md, `partitioner`). Every producer of the application, and every experiment that
#: compares with Java or Kafka Streams, uses this one (tests/transport/test_key_placement.py holds it against
#: the Java producer on a live topic).
JAVA_PARTITIONER = "murmur2_random"

#: The assignor of a group that joins its inputs by key (`TopicTable.co_partitioned`). `range` assigns each
#: topic on its own, partitions in order over the members sorted by member id, so with equal partition counts
#: partition p of every topic goes to the same member: the co-partitioning Java's RangeAssignor documents and
#: Kafka Streams relies on (its tasks own partition p of all co-partitioned inputs). `cooperative-sticky`
#: balances all partitions of all topics together and keeps no such promise: partition p of telemetry and of
#: vibration can land on two instances, each holding half a machine's state. The price of range is the eager
#: protocol: every rebalance revokes every partition before reassigning (a short stop of the whole group),
#: which a processor whose per-machine state moves with its partitions pays anyway.
CO_PARTITIONING_ASSIGNOR = "range"


class ConfluentPublisher:
    """``report_failures_only``: ``on_delivery`` runs for failed deliveries only (librdkafka's
    ``delivery.report.only.error``), which saves a Python call per message for a caller that only counts
    failures, as the processor does; a caller that counts acknowledgements needs every report."""

    def __init__(self, bootstrap: str, client_id: str, report_failures_only: bool = False,
                 **options: object) -> None:
        from confluent_kafka import Producer

        config = {
            "bootstrap.servers": bootstrap, "client.id": client_id, "logger": client_logger(),
            "acks": "all", "enable.idempotence": True, "linger.ms": 5, "compression.type": "none",
            "delivery.report.only.error": report_failures_only, "partitioner": JAVA_PARTITIONER,
        }
        config.update({k.replace("_", "."): v for k, v in options.items()})
        self._producer = Producer(config)
        self._made = time.monotonic()
        self._idempotent = bool(config.get("enable.idempotence")) or "transactional.id" in config

    def publish(self, topic: str, key: bytes | str | None, value: bytes,
                headers: dict[str, bytes] | None = None, on_delivery: DeliveryCallback | None = None) -> None:
        callback = None
        if on_delivery is not None:
            def callback(err, _msg, _cb=on_delivery):
                _cb(None if err is None else str(err))
        producer = self._producer
        if producer is None:
            self._live()
        if key is not None and type(key) is not bytes:
            key = as_key(key)
        while True:
            try:
                producer.produce(topic, value, key, headers=list(headers.items()) if headers else None,
                                 on_delivery=callback)
                break
            except BufferError:  # local queue full: serve delivery reports, then try again
                producer.poll(0.05)
        producer.poll(0)

    def flush(self, timeout: float = 30.0) -> int:
        return self._live().flush(timeout)

    def warm_up(self, topics: list[str], timeout: float = 10.0) -> None:
        """A metadata request per topic (connections open, leaders known), then, for an idempotent
        producer, the rest of `IDEMPOTENT_START_S` since its creation: a first batch sent earlier waited
        about half a second, which the first readings of every run paid (chapter 04)."""
        from confluent_kafka import KafkaException

        producer = self._live()
        try:
            for topic in topics:
                producer.list_topics(topic, timeout=timeout)
        except KafkaException as exc:
            raise TransportError(f"Kafka does not answer ({exc.args[0]}): start it with `make up`") from None
        if self._idempotent:
            time.sleep(max(0.0, self._made + IDEMPOTENT_START_S - time.monotonic()))

    @property
    def native(self):
        """The confluent_kafka.Producer underneath (for `kafka_transactions`)."""
        return self._live()

    def _live(self):
        if self._producer is None:
            raise TransportError("this publisher is closed")
        return self._producer

    def close(self) -> None:
        """Deliver what is queued (its callbacks run here, on the caller's thread), then retire the producer.

        Once: a second close does nothing, a publish after it raises (transport.kafka_admin, rule 2)."""
        if self._producer is None:
            return
        producer, self._producer = self._producer, None
        producer.flush(30)


#: Commit errors of a group that is rebalancing or moved on without this member's current generation: no
#: retry without a poll can succeed, so the offsets stay pending for the next commit.
REBALANCE_COMMIT_ERRORS = frozenset({
    "REBALANCE_IN_PROGRESS", "ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID", "STALE_MEMBER_EPOCH", "_ASSIGNMENT_LOST",
})


def commit_sync(consumer, offsets: list | None = None,
                on_retry: Callable[[BaseException], None] | None = None) -> None:
    """A librdkafka consumer's synchronous commit (its current positions, or `offsets`), a moving
    coordinator waited out: for `ConfluentConsumer.commit` and the experiments that drive a native
    consumer. Other errors propagate as librdkafka raised them."""
    options: dict[str, object] = {"asynchronous": False} if offsets is None else {"offsets": offsets,
                                                                                   "asynchronous": False}
    # Commit errors that pass by themselves: the coordinator moved (the leader of the group's
    # `__consumer_offsets` partition changed) or is still loading the offsets. Java's `commitSync` retries
    # the same family (`RetriableCommitFailedException`); librdkafka returns them to the caller.
    call_with_retries(lambda: consumer.commit(**options), kafka_admin.coordinator_moving, "commit offsets",
                      on_retry=on_retry)


def session_timeout_from_env() -> dict[str, object]:
    """`STREAMLAB_KAFKA_SESSION_TIMEOUT_MS`: how long a SIGKILLed member keeps its partitions (Kafka's default
    45 s is the whole outage after a consumer crash; chapter 06 measures both). Unset: the client's default."""
    value = os.environ.get("STREAMLAB_KAFKA_SESSION_TIMEOUT_MS", "").strip()
    return {"session.timeout.ms": int(value), "heartbeat.interval.ms": max(500, int(value) // 3)} if value else {}


class ConfluentConsumer:
    def __init__(self, bootstrap: str, topics: list[str], group: str, client_id: str,
                 from_beginning: bool = True, **options: object) -> None:
        from confluent_kafka import Consumer

        config = {
            "bootstrap.servers": bootstrap, "group.id": group, "client.id": client_id, "logger": client_logger(),
            "enable.auto.commit": False, "auto.offset.reset": "earliest" if from_beginning else "latest",
            "partition.assignment.strategy": "cooperative-sticky",
            # librdkafka's default, spelled out: records of open or aborted transactions are never delivered
            "isolation.level": "read_committed",
            "fetch.wait.max.ms": kafka_admin.fetch_wait_ms(),
        }
        config.update({k.replace("_", "."): v for k, v in options.items()})
        config.update(session_timeout_from_env())
        self._consumer = Consumer(config)
        self._consumer.subscribe(topics)
        self._pending: dict[tuple[str, int], int] = {}
        self.commit_retries = 0       # tries repeated because the coordinator moved or was loading
        self.commits_deferred = 0     # commits refused during a rebalance, their offsets kept for the next

    def poll(self, timeout: float = 1.0, max_records: int = 500) -> list[Record]:
        from confluent_kafka import KafkaError

        # consume() waits for the full timeout unless max_records arrive, which would add up to `timeout`
        # of latency at low rates; so: take what is queued, else wait for the first record only.
        consumer = self._live()
        messages = consumer.consume(num_messages=max_records, timeout=0)
        if not messages:
            first = consumer.poll(timeout)
            if first is None:
                return []
            messages = [first, *consumer.consume(num_messages=max_records - 1, timeout=0)]
        records = []
        append, pending = records.append, self._pending
        for msg in messages:        # the per-message path: every call here costs at 100,000s of records/s
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                if error.fatal():
                    raise TransportError(f"Kafka consumer failed: {error.str()}")
                continue
            topic, partition, offset, headers = msg.topic(), msg.partition(), msg.offset(), msg.headers()
            append(Record(topic, msg.key(), msg.value() or b"", dict(headers) if headers else NO_HEADERS,
                          partition, offset, msg.timestamp()[1]))
            pending[(topic, partition)] = offset
        return records

    def commit(self) -> bool:
        """Commit the offsets of what `poll` returned: True once the group coordinator has them.

        A moved or loading coordinator is waited out (`commit_sync`, `kafka_admin.COORDINATOR_MOVING`). A
        commit the group refuses because it is rebalancing returns False and keeps the offsets pending: they
        go with the next commit, after the poll that completes the rebalance. Offsets of partitions the
        member no longer owns are dropped then: their new owner starts from the last committed offset, and
        redoes at most a commit interval, whose duplicates the sinks drop. Anything else is a
        `TransportError` (one line), and nothing is counted as committed."""
        from confluent_kafka import KafkaException

        if not self._pending:
            return True
        consumer = self._live()
        owned = {(tp.topic, tp.partition) for tp in consumer.assignment()}
        for gone in [key for key in self._pending if key not in owned]:
            del self._pending[gone]
        if not self._pending:
            return True
        offsets = self.uncommitted_offsets()
        try:
            commit_sync(consumer, offsets, on_retry=self._count_retry)
        except KafkaException as exc:
            if exc.args and exc.args[0].name() in REBALANCE_COMMIT_ERRORS:
                self.commits_deferred += 1
                log_refused(exc)
                return False
            raise TransportError(f"Kafka refused the offset commit: {one_line(exc)}") from None
        self._pending.clear()
        return True

    def _count_retry(self, _exc: BaseException) -> None:
        self.commit_retries += 1

    def uncommitted_offsets(self) -> list:
        """The offsets `commit` would commit (next record per partition read since the last commit)."""
        from confluent_kafka import TopicPartition

        return [TopicPartition(t, p, o + 1) for (t, p), o in self._pending.items()]

    def forget_uncommitted(self) -> None:
        """After the offsets were committed elsewhere (a producer's transaction)."""
        self._pending.clear()

    @property
    def native(self):
        """The confluent_kafka.Consumer underneath (for `kafka_transactions`)."""
        return self._live()

    def assignment_ready(self) -> bool:
        return bool(self._live().assignment())

    def _live(self):
        if self._consumer is None:
            raise TransportError("this consumer is closed")
        return self._consumer

    def close(self) -> None:
        """Leave the group and retire the consumer, once (transport.kafka_admin, rule 2)."""
        if self._consumer is None:
            return
        consumer, self._consumer = self._consumer, None
        consumer.close()


class ConfluentKafkaTransport(kafka_admin.KafkaAdminMixin):
    client = "confluent"

    def publisher(self, client_id: str, **options: object) -> ConfluentPublisher:
        return ConfluentPublisher(self.bootstrap, client_id, **options)

    def consumer(self, topics: list[str], group: str, client_id: str, from_beginning: bool = True,
                 **options: object) -> ConfluentConsumer:
        if self.co_partitioned(group, topics):
            options.setdefault("partition_assignment_strategy", CO_PARTITIONING_ASSIGNOR)
        return ConfluentConsumer(self.bootstrap, topics, group, client_id, from_beginning, **options)
