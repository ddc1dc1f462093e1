"""Every transport back end honours the same contract; parametrized, not copied.

Contract: what is published is consumed; commit() marks everything polled so
far as handled; what was polled but not committed comes back to the next
consumer of the group.
"""

from __future__ import annotations

import time

import pytest

from streamlab.topics import TopicSpec
from streamlab.transport import get_transport

BACKENDS = [
    pytest.param(("kafka", "confluent"), marks=pytest.mark.kafka, id="kafka-confluent"),
    pytest.param(("kafka", "kafka-python"), marks=pytest.mark.kafka, id="kafka-python"),
]


@pytest.fixture(params=BACKENDS)
def transport(request):
    broker, client = request.param
    stack = request.getfixturevalue("kafka_stack" if broker == "kafka" else "rabbit_stack")
    return get_transport(broker, client, stack.endpoints)


def _drain(consumer, want: int, timeout: float = 30.0) -> list:
    got, deadline = [], time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got += consumer.poll(timeout=0.5)
    return got


def test_publish_consume_commit_and_redelivery(transport, unique_name):
    topic = unique_name
    assert transport.ensure_topics([TopicSpec(topic, "raw", partitions=3, replication=3)]) == [topic]
    assert transport.ensure_topics([TopicSpec(topic, "raw", partitions=3)]) == []  # idempotent

    acks: list[str | None] = []
    publisher = transport.publisher("test-publisher")
    for i in range(200):
        publisher.publish(topic, f"machine-{i % 7}", f"{i}".encode(), {"seq": str(i).encode()}, acks.append)
    assert publisher.flush(30) == 0
    publisher.close()
    assert acks == [None] * 200

    group = f"g-{topic}"
    first = transport.consumer([topic], group, "c1")
    records = _drain(first, 200)
    assert sorted(int(r.value) for r in records) == list(range(200))
    assert all(r.headers["seq"] == r.value for r in records)
    # per key order is kept (same key, same partition)
    for key in {r.key for r in records}:
        values = [int(r.value) for r in records if r.key == key]
        assert values == sorted(values)
    first.commit()
    first.close()

    publisher = transport.publisher("test-publisher-2")
    for i in range(200, 250):
        publisher.publish(topic, f"machine-{i % 7}", f"{i}".encode())
    assert publisher.flush(30) == 0
    publisher.close()

    second = transport.consumer([topic], group, "c2")
    records = _drain(second, 50)
    assert sorted(int(r.value) for r in records) == list(range(200, 250))  # nothing committed comes back
    second.close()  # closed WITHOUT commit: these 50 must be redelivered

    third = transport.consumer([topic], group, "c3")
    redelivered = _drain(third, 50)
    assert sorted(int(r.value) for r in redelivered) == list(range(200, 250))
    third.commit()
    third.close()
    transport.delete_topics([topic])
