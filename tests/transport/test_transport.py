"""Every transport back end honours the same contract; parametrized, not copied.

Contract: what is published after a group subscribed is consumed; commit()
marks everything polled so far as handled; what was polled but not committed
comes back to the next consumer of the group. (Subscribing first is what makes
the test broker-neutral: Kafka would also deliver older records to a new
group, RabbitMQ drops what is published before the group's queue exists.)
"""

from __future__ import annotations

import time

import pytest

from streamlab.transport import get_transport
from streamlab.transport.spec import TopicSpec, TopicTable

BACKENDS = [
    pytest.param(("kafka", "confluent"), marks=pytest.mark.kafka, id="kafka-confluent"),
    pytest.param(("kafka", "kafka-python"), marks=pytest.mark.kafka, id="kafka-python"),
    pytest.param(("rabbitmq", "pika"), marks=pytest.mark.rabbitmq, id="rabbitmq-pika"),
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

    group = f"g-{topic}"
    first = transport.consumer([topic], group, "c1")   # subscribe before anything is published

    acks: list[str | None] = []
    publisher = transport.publisher("test-publisher")
    for i in range(200):
        publisher.publish(topic, f"machine-{i % 7}", f"{i}".encode(), {"seq": str(i).encode()}, acks.append)
    assert publisher.flush(30) == 0
    publisher.close()
    assert acks == [None] * 200

    records = _drain(first, 200)
    assert sorted(int(r.value) for r in records) == list(range(200))
    assert all(r.headers["seq"] == r.value for r in records)
    # per key order is kept (Kafka: same key, same partition; RabbitMQ: one queue, one consumer)
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
    assert transport.group_backlog(group, [topic]) == 0   # all committed
    transport.delete_topics([topic])


@pytest.mark.rabbitmq
def test_rabbitmq_dead_letters_a_message_that_keeps_coming_back(rabbit_stack, unique_name):
    """No Kafka counterpart: a quorum queue dead-letters a message redelivered more than its delivery limit
    (a poison message that kills every consumer) to the namespace's dead-letter exchange, saying why."""
    from streamlab.transport.rabbitmq import DELIVERY_LIMIT

    # the caller names its dead-letter stream: the back end knows no stream by name
    transport = get_transport("rabbitmq", "pika", rabbit_stack.endpoints, TopicTable(dead_letter="dead-letter"))
    topic, dead = f"{unique_name}.telemetry", f"{unique_name}.dead-letter"
    audit = transport.consumer([dead], f"{unique_name}.audit", "audit")
    transport.consumer([topic], f"{unique_name}.g", "declare").close()
    publisher = transport.publisher("poison")
    publisher.publish(topic, "M001", b"poison", {"codec": b"orjson"})
    assert publisher.flush(10) == 0
    publisher.close()
    deliveries = 0
    while True:   # every consumer takes it and dies without acking
        consumer = transport.consumer([topic], f"{unique_name}.g", f"victim-{deliveries}")
        records = consumer.poll(timeout=3.0)
        consumer.close()
        if not records:
            break
        deliveries += 1
    assert deliveries == DELIVERY_LIMIT + 1
    letters = _drain(audit, 1, timeout=10)
    audit.commit()
    audit.close()
    assert [(r.topic, r.key, r.value) for r in letters] == [(dead, b"M001", b"poison")]
    assert letters[0].headers["codec"] == b"orjson"
    assert letters[0].headers["x-first-death-reason"] == b"delivery_limit"
    transport.delete_topics([topic, dead])
