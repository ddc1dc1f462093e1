"""The IoT pattern (MQTT via Mosquitto) and the brokerless one (ZeroMQ PUB/SUB) behind the same interface.

What each one promises is tested, and what ZeroMQ does not promise is shown:
a subscriber that falls behind its high-water mark loses messages silently.
"""

from __future__ import annotations

import time
import uuid

import pytest
from plugins.stacks import PORT_SHIFT

from streamlab.polling import wait_until
from streamlab.transport.mqtt import MqttTransport
from streamlab.transport.zeromq import ZmqTransport


@pytest.fixture(scope="module")
def mqtt_transport(mqtt_stack):
    return MqttTransport(mqtt_stack.endpoints.mqtt_url)


def _drain(consumer, want: int, timeout: float = 20.0) -> list:
    got, deadline = [], time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got += consumer.poll(timeout=0.3)
    return got


def _wait_ready(*consumers, timeout: float = 30.0) -> None:
    wait_until(lambda: all(c.assignment_ready() for c in consumers), timeout, "the consumers' subscriptions",
               interval=0.05, error=AssertionError)


def _zmq_subscribed(publisher, consumer, topic: str, timeout: float = 30.0) -> None:
    """PUB/SUB has no handshake: publish warm-ups until one arrives, so the subscription has reached the
    publisher (the slow joiner) before what the test counts is sent."""
    def one_arrived() -> bool:
        publisher.publish(topic, None, b"warm-up")
        return any(r.value == b"warm-up" for r in consumer.poll(timeout=0.1))

    wait_until(one_arrived, timeout, f"a subscription to {topic} that receives", interval=0.05, error=AssertionError)


def _drain_until_quiet(consumer, quiet_s: float = 1.0, timeout: float = 60.0) -> list:
    """Everything that arrives until nothing has for `quiet_s` (what a dropped message never will)."""
    got, last = [], time.monotonic()
    deadline = last + timeout
    while time.monotonic() - last < quiet_s:
        assert time.monotonic() < deadline, f"still receiving after {timeout:.0f} s"
        batch = consumer.poll(timeout=0.1)
        if batch:
            got += batch
            last = time.monotonic()
    return got


@pytest.mark.mqtt
def test_mqtt_qos1_roundtrip_with_keys_and_headers(mqtt_transport):
    topic = f"t{uuid.uuid4().hex[:6]}/telemetry"
    consumer = mqtt_transport.consumer([topic], f"g-{uuid.uuid4().hex[:6]}", "c1")
    _wait_ready(consumer)
    publisher = mqtt_transport.publisher(f"p-{topic}")
    acks: list = []
    for i in range(1000):
        publisher.publish(topic, f"M{i % 5:03d}", str(i).encode(), {"codec": b"raw"}, acks.append)
    assert publisher.flush(30) == 0
    publisher.close()
    assert acks == [None] * 1000
    records = _drain(consumer, 1000)
    consumer.commit()
    consumer.close()
    assert sorted(int(r.value) for r in records) == list(range(1000))
    assert {r.key for r in records} == {f"M{i:03d}".encode() for i in range(5)}
    assert all(r.topic == topic and r.headers == {"codec": b"raw"} for r in records)


@pytest.mark.mqtt
def test_mqtt_shared_subscription_splits_a_group(mqtt_transport):
    topic = f"t{uuid.uuid4().hex[:6]}/telemetry"
    group = f"workers-{uuid.uuid4().hex[:6]}"   # persistent sessions of old members would share the work
    first = mqtt_transport.consumer([topic], group, "a")
    second = mqtt_transport.consumer([topic], group, "b")
    _wait_ready(first, second)
    publisher = mqtt_transport.publisher(f"p-{topic}")
    for i in range(600):
        publisher.publish(topic, f"M{i % 6:03d}", str(i).encode())
    assert publisher.flush(30) == 0
    publisher.close()
    got_a, got_b, deadline = [], [], time.monotonic() + 20
    while len(got_a) + len(got_b) < 600 and time.monotonic() < deadline:
        got_a += first.poll(0.2)
        got_b += second.poll(0.2)
    for consumer in (first, second):
        consumer.commit()
        consumer.close()
    values_a = {int(r.value) for r in got_a}
    values_b = {int(r.value) for r in got_b}
    assert values_a | values_b == set(range(600))
    assert not values_a & values_b           # each message to one member of the group
    assert values_a and values_b             # and both members got work


@pytest.mark.zeromq
def test_zeromq_pubsub_delivers_to_a_connected_subscriber():
    transport = ZmqTransport(base_port=26100 + PORT_SHIFT)  # outside the ephemeral range (32768-60999)
    topic = f"zmq-{uuid.uuid4().hex[:6]}"
    publisher = transport.publisher("p", hwm=100_000)
    publisher.publish(topic, "M000", b"warm-up")   # binds the endpoint
    consumer = transport.consumer([topic], "g", "c", hwm=100_000)
    _zmq_subscribed(publisher, consumer, topic)
    for i in range(2000):
        publisher.publish(topic, f"M{i % 4:03d}", str(i).encode(), {"codec": b"raw"})
    records = [r for r in _drain(consumer, 2000, timeout=10) if r.value != b"warm-up"]
    publisher.close()
    consumer.close()
    assert [int(r.value) for r in records] == list(range(2000))   # one publisher, one subscriber: in order
    assert records[0].headers == {"codec": b"raw"} and records[0].key == b"M000"


@pytest.mark.zeromq
def test_zeromq_slow_subscriber_loses_messages_silently():
    """The known issue of PUB/SUB: past the high-water marks, messages are dropped, and nobody is told."""
    transport = ZmqTransport(base_port=26100 + PORT_SHIFT)  # outside the ephemeral range (32768-60999)
    topic = f"zmq-{uuid.uuid4().hex[:6]}"
    publisher = transport.publisher("p", hwm=100)
    acks: list = []
    publisher.publish(topic, None, b"warm-up")
    consumer = transport.consumer([topic], "g", "c", hwm=100)
    _zmq_subscribed(publisher, consumer, topic)
    _drain_until_quiet(consumer, quiet_s=0.3)        # the warm-ups, so the queues are empty when counting starts
    sent = 50_000
    for i in range(sent):                      # the subscriber does not read while this runs
        publisher.publish(topic, None, str(i).encode(), on_delivery=acks.append)
    received = [r for r in _drain_until_quiet(consumer) if r.value != b"warm-up"]
    publisher.close()
    consumer.close()
    print(f"\nzeromq slow subscriber: sent {sent}, 'delivered' {len(acks)}, received {len(received)}")
    assert len(acks) == sent                   # the publisher believes every send succeeded
    assert 0 < len(received) < sent            # ... but most were dropped at the high-water marks
    values = [int(r.value) for r in received]
    assert values == sorted(values)            # what arrives is in order, with gaps
