"""Kafka through kafka-python, the pure-Python client the assignment's template uses.

Everything (batching, serialisation of the protocol, socket I/O) runs in
Python threads under the GIL; it is the reference point for what a pure
Python client costs.
"""

from __future__ import annotations

import threading

from . import kafka_admin
from .base import DeliveryCallback, Record, TransportError, as_key
from .retry import call_with_retries, log_refused, one_line

#: kafka-python's names for a commit refused by a rebalancing group (the confluent consumer's
#: REBALANCE_COMMIT_ERRORS): the positions stay uncommitted for the next commit.
REBALANCE_COMMIT_ERRORS = frozenset({
    "CommitFailedError", "RebalanceInProgressError", "IllegalGenerationError", "UnknownMemberIdError",
})


def retriable_commit_error(exc: BaseException) -> bool:
    """kafka-python marks the passing errors itself (`RetriableError`, `.retriable`)."""
    from kafka.errors import KafkaError

    return isinstance(exc, KafkaError) and bool(getattr(exc, "retriable", False))


class KafkaPythonPublisher:
    """``report_failures_only``: ``on_delivery`` runs for failed deliveries only (as confluent-kafka's)."""

    def __init__(self, bootstrap: str, client_id: str, report_failures_only: bool = False,
                 **options: object) -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        config = {"bootstrap_servers": bootstrap.split(","), "client_id": client_id, "acks": "all",
                  "linger_ms": 5, "enable_idempotence": True}
        config.update(options)
        try:
            self._producer = KafkaProducer(**config)
        except KafkaError:
            raise TransportError(f"Kafka does not answer at {bootstrap}: start it with `make up`") from None
        self._lock = threading.Lock()
        self._in_flight = 0
        self._report_successes = not report_failures_only

    def _done(self, on_delivery: DeliveryCallback | None, error: str | None) -> None:
        with self._lock:
            self._in_flight -= 1
        if on_delivery is not None and (error is not None or self._report_successes):
            on_delivery(error)

    def publish(self, topic: str, key: bytes | str | None, value: bytes,
                headers: dict[str, bytes] | None = None, on_delivery: DeliveryCallback | None = None) -> None:
        with self._lock:
            self._in_flight += 1
        future = self._producer.send(topic, value=value, key=as_key(key), headers=list((headers or {}).items()))
        future.add_callback(lambda _meta: self._done(on_delivery, None))
        future.add_errback(lambda exc: self._done(on_delivery, str(exc)))

    def warm_up(self, topics: list[str], timeout: float = 10.0) -> None:
        """``partitions_for`` blocks until the topic's metadata is in (and the connection open)."""
        from kafka.errors import KafkaError

        try:
            for topic in topics:
                self._producer.partitions_for(topic)
        except KafkaError as exc:
            raise TransportError(f"Kafka does not answer ({exc}): start it with `make up`") from None

    def flush(self, timeout: float = 30.0) -> int:
        from kafka.errors import KafkaTimeoutError

        try:
            self._producer.flush(timeout=timeout)
        except KafkaTimeoutError:
            pass
        with self._lock:
            return self._in_flight

    def close(self) -> None:
        self._producer.close(timeout=30)


class KafkaPythonConsumer:
    def __init__(self, bootstrap: str, topics: list[str], group: str, client_id: str,
                 from_beginning: bool = True, **options: object) -> None:
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError

        config = {"bootstrap_servers": bootstrap.split(","), "group_id": group, "client_id": client_id,
                  "enable_auto_commit": False, "auto_offset_reset": "earliest" if from_beginning else "latest",
                  "fetch_max_wait_ms": kafka_admin.fetch_wait_ms()}
        config.update(options)
        try:
            self._consumer = KafkaConsumer(*topics, **config)
        except KafkaError:
            raise TransportError(f"Kafka does not answer at {bootstrap}: start it with `make up`") from None
        self._uncommitted = False
        self.commit_retries = 0       # as ConfluentConsumer's
        self.commits_deferred = 0

    def poll(self, timeout: float = 1.0, max_records: int = 500) -> list[Record]:
        batches = self._consumer.poll(timeout_ms=int(timeout * 1000), max_records=max_records)
        records = [Record(r.topic, r.key, r.value or b"", dict(r.headers or []), r.partition, r.offset, r.timestamp)
                   for batch in batches.values() for r in batch]
        self._uncommitted = self._uncommitted or bool(records)
        return records

    def commit(self) -> bool:
        """Commit the consumer's positions, i.e. exactly the records poll() has returned; as the confluent
        consumer's `commit`: a moved coordinator waited out, a rebalance's refusal returns False and keeps
        the positions for the next commit, anything else is a one-line `TransportError`.

        kafka-python already retries a retriable commit error inside `commit` until its request timeout;
        the same `transport.retry` policy then gives it the same deadline as the confluent path."""
        from kafka.errors import KafkaError

        if not self._uncommitted:
            return True
        try:
            call_with_retries(self._consumer.commit, retriable_commit_error, "commit offsets",
                              on_retry=self._count_retry)
        except KafkaError as exc:
            if type(exc).__name__ in REBALANCE_COMMIT_ERRORS:
                self.commits_deferred += 1
                log_refused(exc)
                return False
            raise TransportError(f"Kafka refused the offset commit: {one_line(exc)}") from None
        self._uncommitted = False
        return True

    def _count_retry(self, _exc: BaseException) -> None:
        self.commit_retries += 1

    def assignment_ready(self) -> bool:
        return bool(self._consumer.assignment())

    def close(self) -> None:
        self._consumer.close(autocommit=False)


class KafkaPythonTransport(kafka_admin.KafkaAdminMixin):
    client = "kafka-python"

    def publisher(self, client_id: str, **options: object) -> KafkaPythonPublisher:
        return KafkaPythonPublisher(self.bootstrap, client_id, **options)

    def consumer(self, topics: list[str], group: str, client_id: str, from_beginning: bool = True,
                 **options: object) -> KafkaPythonConsumer:
        if self.co_partitioned(group, topics):    # the range assignor, as confluent's (CO_PARTITIONING_ASSIGNOR)
            from kafka.coordinator.assignors.range import RangePartitionAssignor

            options.setdefault("partition_assignment_strategy", (RangePartitionAssignor,))
        return KafkaPythonConsumer(self.bootstrap, topics, group, client_id, from_beginning, **options)
