"""The brokers the stack starts are real and serve clients: a produce/consume round trip on each."""

from __future__ import annotations

import time

import pytest

pytestmark = []


@pytest.mark.kafka
def test_kafka_roundtrip_with_both_python_clients(kafka_stack, unique_name):
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    from kafka import KafkaConsumer, KafkaProducer

    bootstrap = kafka_stack.endpoints.kafka_bootstrap
    admin = AdminClient({"bootstrap.servers": bootstrap})  # keep a reference: the future dies with the client
    admin.create_topics(
        [NewTopic(unique_name, num_partitions=3, replication_factor=1)])[unique_name].result(timeout=30)

    sent = [f"msg-{i}".encode() for i in range(500)]
    fast = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for value in sent[:250]:
        fast.produce(unique_name, value, key=value[-1:])
    assert fast.flush(30) == 0
    classic = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for value in sent[250:]:
        classic.send(unique_name, value, key=value[-1:])
    classic.flush(30)
    classic.close()

    consumer = KafkaConsumer(unique_name, bootstrap_servers=bootstrap, group_id=f"g-{unique_name}",
                             auto_offset_reset="earliest", consumer_timeout_ms=10000)
    received = [record.value for record in consumer]
    consumer.close()
    assert sorted(received) == sorted(sent)

    second = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g2-{unique_name}",
                       "auto.offset.reset": "earliest"})
    second.subscribe([unique_name])
    got, deadline = [], time.monotonic() + 30
    while len(got) < len(sent) and time.monotonic() < deadline:
        msg = second.poll(0.5)
        if msg is not None and not msg.error():
            got.append(msg.value())
    second.close()
    assert sorted(got) == sorted(sent)


@pytest.mark.rabbitmq
def test_rabbitmq_roundtrip_with_confirms(rabbit_stack, unique_name):
    import pika

    params = pika.URLParameters(rabbit_stack.endpoints.amqp_url)
    connection = pika.BlockingConnection(params)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare(unique_name, durable=True, arguments={"x-queue-type": "quorum"})
        sent = [f"msg-{i}".encode() for i in range(300)]
        for body in sent:
            channel.basic_publish("", unique_name, body, pika.BasicProperties(delivery_mode=2), mandatory=True)
        received = []
        for method, _props, body in channel.consume(unique_name, inactivity_timeout=5):
            if method is None:
                break
            received.append(body)
            channel.basic_ack(method.delivery_tag)
            if len(received) == len(sent):
                break
        channel.cancel()
        assert received == sent  # one queue, one consumer: order is kept
        channel.queue_delete(unique_name)
    finally:
        connection.close()


@pytest.mark.rabbitmq
def test_rabbitmq_status_reports_running(rabbit_stack):
    rows = rabbit_stack.status()
    assert [r.state for r in rows] == ["running"]
    assert "accepting AMQP" in rows[0].detail
