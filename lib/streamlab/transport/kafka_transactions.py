"""Kafka transactions for a consume → transform → produce loop (confluent-kafka): exactly once on the topics.

At-least-once commits the input offsets after the outputs are acknowledged, so
a crash between the two publishes that stretch again. In a transaction the
outputs and the input offsets (`send_offsets_to_transaction`) commit together
or not at all: a consumer with `isolation.level=read_committed` (the confluent
consumers' setting here) sees the outputs of committed transactions only, and a
restarted instance with the same `transactional.id` fences its dead
predecessor and aborts its open transaction (`init_transactions`). The price
is a transaction commit (a round trip to the transaction coordinator and
markers in every partition written) per commit interval, and read_committed
consumers see records only once their transaction commits.
"""

from __future__ import annotations

from ..errors import UserError
from .base import TransportError
from .kafka_confluent import ConfluentConsumer, ConfluentPublisher
from .retry import call_with_retries, one_line


def producer_options(broker: str, client: str, group: str, instance: str) -> dict[str, object]:
    """The publisher options of a transactional producer, its id stable across restarts of one instance.

    Only Kafka through confluent-kafka: RabbitMQ has no transactions spanning a consumer's acks and a
    publisher's messages, and the kafka-python transport here does not implement them."""
    if broker != "kafka" or client != "confluent":
        raise UserError(f"exactly-once (Kafka transactions) needs --broker kafka --client confluent, "
                        f"not {broker}/{client}")
    return {"transactional_id": f"{group}.{instance or 'default'}"}


class Transactions:
    """The open transaction of one consumer/publisher pair: `commit` ends it with the inputs' offsets and opens
    the next. Create it after both, with a publisher made with `producer_options`."""

    def __init__(self, publisher: ConfluentPublisher, consumer: ConfluentConsumer, timeout_s: float = 30.0) -> None:
        self.publisher, self.consumer, self.timeout_s = publisher, consumer, timeout_s
        self.committed = 0
        publisher.native.init_transactions(timeout_s)   # fences a predecessor, aborts its open transaction
        publisher.native.begin_transaction()

    def commit(self) -> None:
        """Commit what was published since the last commit together with the offsets of what was read.

        A moved transaction or group coordinator is waited out: librdkafka marks those errors retriable, and
        calling the same step again is what its docs prescribe. An error that requires an abort aborts, and
        is a `TransportError`: the service exits, its restart fences nothing left open and resumes from the
        last committed offsets (the outputs of the aborted transaction are never seen by read_committed)."""
        from confluent_kafka import KafkaException

        producer = self.publisher.native
        offsets = self.consumer.uncommitted_offsets()
        try:
            if offsets:
                metadata = self.consumer.native.consumer_group_metadata()
                call_with_retries(lambda: producer.send_offsets_to_transaction(offsets, metadata, self.timeout_s),
                                  retriable_transaction_error, "send offsets to the transaction")
            call_with_retries(lambda: producer.commit_transaction(self.timeout_s), retriable_transaction_error,
                              "commit the transaction")
        except KafkaException as exc:
            if exc.args and exc.args[0].txn_requires_abort():
                producer.abort_transaction(self.timeout_s)
            raise TransportError(f"Kafka transaction failed: {one_line(exc)}; a restart resumes from the last "
                                 "committed offsets") from None
        self.consumer.forget_uncommitted()
        self.committed += 1
        producer.begin_transaction()


def retriable_transaction_error(exc: BaseException) -> bool:
    """Transactional calls report `rd_kafka_error_t`s, whose retriable flag librdkafka sets itself."""
    from confluent_kafka import KafkaException

    return isinstance(exc, KafkaException) and bool(exc.args) and bool(exc.args[0].retriable())
