"""RabbitMQ: nothing the app publishes goes nowhere (issue 18).

A message published into an exchange no queue is bound to would be dropped by the broker and still
confirmed; the publisher sets `mandatory`, so RabbitMQ returns it and the publisher reports a failed
delivery. A stream no group reads gets a holding queue, which `peek_held` reads without emptying.
"""

from __future__ import annotations

import pytest

from streamlab.transport import get_transport
from streamlab.transport.rabbitmq import UNROUTABLE
from streamlab.transport.spec import TopicSpec

pytestmark = pytest.mark.rabbitmq


@pytest.fixture
def transport(rabbit_stack):
    transport = get_transport("rabbitmq", "pika", rabbit_stack.endpoints)
    yield transport
    transport.close()


def test_a_publish_into_an_exchange_without_a_queue_fails_loudly(transport, unique_name):
    unbound, bound = f"{unique_name}.nowhere", f"{unique_name}.somewhere"
    transport.ensure_topics([TopicSpec(unbound, "raw", replication=1), TopicSpec(bound, "raw", replication=1)])
    transport.ensure_held([bound])
    outcomes: dict[int, str | None] = {}
    publisher = transport.publisher("unroutable-test")
    try:
        for i in range(20):   # interleaved, so a returned message must fail exactly its own delivery
            topic = unbound if i % 4 == 0 else bound
            publisher.publish(topic, "M001", str(i).encode(), None, lambda error, i=i: outcomes.__setitem__(i, error))
        assert publisher.flush(20) == 0
    finally:
        publisher.close()
        transport.delete_topics([unbound, bound])
    failed = sorted(i for i, error in outcomes.items() if error is not None)
    assert len(outcomes) == 20
    assert failed == [0, 4, 8, 12, 16]
    assert all(UNROUTABLE in outcomes[i] and unbound in outcomes[i] for i in failed)
    assert publisher.returned == 5


def test_a_holding_queue_keeps_what_nobody_reads_and_peeking_leaves_it_there(transport, unique_name):
    topic = f"{unique_name}.dead-letter"
    transport.ensure_topics([TopicSpec(topic, "raw", replication=1)])
    assert transport.ensure_held([topic]) == [f"{topic}.held"]
    publisher = transport.publisher("held-test")
    try:
        for i in range(5):
            publisher.publish(topic, f"M{i:03d}", f"letter-{i}".encode(), {"error": b"bad"})
        assert publisher.flush(20) == 0
        publisher.close()
        assert transport.held_backlog(topic) == 5
        first = transport.peek_held(topic, 3)
        assert [r.value for r in first] == [b"letter-0", b"letter-1", b"letter-2"]
        assert first[0].headers["error"] == b"bad" and first[0].key == b"M000"
        assert transport.held_backlog(topic) == 5     # peeked, not consumed
        assert sorted(r.value for r in transport.peek_held(topic, 10)) == [f"letter-{i}".encode() for i in range(5)]
        assert transport.held_backlog(topic) == 5
    finally:
        publisher.close()
        transport.delete_topics([topic])
    assert transport.held_backlog(topic) is None
