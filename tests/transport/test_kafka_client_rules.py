"""The rules for long-lived Kafka clients (streamlab.transport.kafka_admin), checked without a broker."""

from __future__ import annotations

from pathlib import Path

import pytest

import streamlab
from streamlab.transport.base import TransportError
from streamlab.transport.kafka_confluent import ConfluentConsumer, ConfluentPublisher

NOBODY = "127.0.0.1:1"   # nothing listens here: the clients are made, never connected


def test_no_module_reads_group_offsets_through_the_admin_client():
    """Rule 4: librdkafka's admin OffsetFetch segfaults the process when a group coordinator moves (issue 20)."""
    package = Path(streamlab.__file__).parent
    offenders = [str(path.relative_to(package)) for path in package.rglob("*.py")
                 if ".list_consumer_group_offsets(" in path.read_text(encoding="utf-8")]
    assert offenders == [], f"use transport.kafka_admin.committed_offsets instead, in {offenders}"


def test_a_publisher_is_closed_once_and_refuses_to_publish_after():
    publisher = ConfluentPublisher(NOBODY, "rules-test")
    publisher.close()
    publisher.close()
    with pytest.raises(TransportError, match="closed"):
        publisher.publish("t", b"k", b"v")
    with pytest.raises(TransportError, match="closed"):
        publisher.flush(1)


def test_a_consumer_is_closed_once_and_refuses_to_poll_after():
    consumer = ConfluentConsumer(NOBODY, ["t"], "rules-test", "rules-test")
    consumer.close()
    consumer.close()
    with pytest.raises(TransportError, match="closed"):
        consumer.poll(0.1)


class _Reader:
    """A consumer whose offset fetch fails with the given errors first (a coordinator moving), then answers."""

    def __init__(self, errors: list[int]) -> None:
        self.errors, self.calls = list(errors), 0

    def committed(self, partitions, timeout):
        from confluent_kafka import KafkaError, KafkaException, TopicPartition

        self.calls += 1
        if self.errors:
            raise KafkaException(KafkaError(self.errors.pop(0)))
        return [TopicPartition(tp.topic, tp.partition, 7) for tp in partitions]


def test_an_offset_fetch_is_asked_again_while_the_coordinator_moves():
    """Chapter 06 once died here: a broker killed, the group's coordinator moving, NOT_COORDINATOR raised."""
    from confluent_kafka import KafkaError

    from streamlab.transport.kafka_admin import committed_offsets

    reader = _Reader([KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS])
    assert committed_offsets(reader, [("t", 0), ("t", 1)], timeout=5.0) == {("t", 0): 7, ("t", 1): 7}
    assert reader.calls == 3


def test_an_offset_fetch_gives_up_at_its_timeout_and_raises_other_errors_at_once():
    from confluent_kafka import KafkaError, KafkaException

    from streamlab.transport.kafka_admin import committed_offsets

    moving = _Reader([KafkaError.NOT_COORDINATOR] * 1000)
    # the deadline's error is the transport's one line (issue 36), naming the last error
    with pytest.raises(TransportError, match=r"fetch committed offsets still failing .*Not coordinator"):
        committed_offsets(moving, [("t", 0)], timeout=1.0)
    assert 2 <= moving.calls < 10
    denied = _Reader([KafkaError.GROUP_AUTHORIZATION_FAILED])
    with pytest.raises(KafkaException):
        committed_offsets(denied, [("t", 0)], timeout=5.0)
    assert denied.calls == 1


def test_a_warm_up_without_a_broker_says_what_to_do():
    """The warm-up is the first thing a producer asks of the cluster: with none there, one line, no traceback."""
    publisher = ConfluentPublisher("127.0.0.1:9", "warm-up-test")
    try:
        with pytest.raises(TransportError, match="make up"):
            publisher.warm_up(["telemetry"], timeout=1.0)
    finally:
        publisher.close()
