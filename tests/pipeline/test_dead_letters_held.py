"""Dead letters stay on the broker after the app has stopped, on every broker that can hold them (issue 18).

Undecodable messages go into `telemetry` through a client that is not the app's (a raw confluent
Producer, raw pika), while the app runs in its own namespace; after it has stopped, the broker still
holds exactly as many dead letters as the processor says it dead-lettered. The test declares and binds
nothing: whatever holds the letters (Kafka's topic, RabbitMQ's holding queue) is the app's own doing.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from streamlab.pipeline.declare import app_transport
from streamlab.pipeline.runner import AppConfig, AppRun
from streamlab.pipeline.topics import ALL_TOPICS

MACHINES = 3
DURATION_S = 10.0
UNDECODABLE = 40

BROKERS = [pytest.param("kafka", marks=pytest.mark.kafka, id="kafka"),
           pytest.param("rabbitmq", marks=pytest.mark.rabbitmq, id="rabbitmq")]


def _stack_env(broker: str, stack) -> dict[str, str]:
    return stack.service_env(broker)


def _payload(i: int) -> bytes:
    return [b"\xff\xfe not json", b"", b"[1, 2, 3]", b'{"machine_id": 1}'][i % 4] + str(i).encode()


def _publish_raw_kafka(stack, topic: str) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": stack.endpoints.kafka_bootstrap, "acks": "all"})
    for i in range(UNDECODABLE):
        producer.produce(topic, _payload(i), key=b"M000")
    assert producer.flush(30) == 0


def _publish_raw_rabbit(stack, exchange: str) -> None:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(stack.endpoints.amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for i in range(UNDECODABLE):
            channel.basic_publish(exchange, "M000", _payload(i), pika.BasicProperties(delivery_mode=2),
                                  mandatory=True)
    finally:
        connection.close()


def _held_kafka(stack, topic: str) -> list[bytes]:
    """Every record of the topic, read from the beginning by a fresh group."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": stack.endpoints.kafka_bootstrap, "group.id": f"audit-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    values, idle = [], time.monotonic()
    try:
        while time.monotonic() - idle < 8:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                values.append(msg.value())
                idle = time.monotonic()
    finally:
        consumer.close()
    return values


def _held_rabbit(stack, exchange: str) -> list[bytes]:
    """Every message queued behind the dead-letter exchange, taken with basic.get (found, not bound here)."""
    import pika

    from streamlab.transport.rabbitmq.management import mgmt_get

    vhost = "%2F"
    bindings = mgmt_get(
        f"{stack.endpoints.rabbit_mgmt_url.rstrip('/')}/api/exchanges/{vhost}/{exchange}/bindings/source",
        stack.endpoints.amqp_url,
    )
    queues = [b["destination"] for b in bindings if b["destination_type"] == "queue"]
    assert queues == [f"{exchange}.held"], bindings
    connection = pika.BlockingConnection(pika.URLParameters(stack.endpoints.amqp_url))
    values = []
    try:
        channel = connection.channel()
        while True:
            method, _props, body = channel.basic_get(queues[0], auto_ack=True)
            if method is None:
                return values
            values.append(body)
    finally:
        connection.close()


@pytest.mark.parametrize("broker", BROKERS)
def test_the_broker_holds_every_dead_letter_after_the_app_stopped(broker, request, tmp_path):
    stack = request.getfixturevalue("kafka_stack" if broker == "kafka" else "rabbit_stack")
    env = _stack_env(broker, stack)
    namespace = f"held-{uuid.uuid4().hex[:6]}"
    config = AppConfig(broker=broker, machines=MACHINES, duration_s=DURATION_S, data_dir=tmp_path,
                       namespace=namespace, seed=5, extra_env=env)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        run = AppRun(config)
        run.start()
        try:
            time.sleep(2)
            publish = _publish_raw_kafka if broker == "kafka" else _publish_raw_rabbit
            publish(stack, f"{namespace}.telemetry")
            run.wait_for_generators()
            codes = run.stop()
        except BaseException:
            run.kill_all()
            raise
    transport = app_transport(broker, ep=stack.endpoints)
    try:
        assert all(code == 0 for code in codes.values()), codes
        metrics = json.loads((tmp_path / "metrics" / "health-processor.jsonl").read_text().strip().splitlines()[-1])
        dead = f"{namespace}.dead-letter"
        held = _held_kafka(stack, dead) if broker == "kafka" else _held_rabbit(stack, dead)
        print(f"\n{broker}: published {UNDECODABLE} undecodable, processor dead-lettered "
              f"{metrics.get('dead_lettered')}, broker held {len(held)} after the app stopped")
        assert metrics["dead_lettered"] == UNDECODABLE
        assert sorted(held) == sorted(_payload(i) for i in range(UNDECODABLE))
    finally:
        transport.delete_topics([f"{namespace}.{spec.name}" for spec in ALL_TOPICS])
        getattr(transport, "close", lambda: None)()
