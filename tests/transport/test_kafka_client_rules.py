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
