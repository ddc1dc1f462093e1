"""The raw-client helpers the experiments need beyond the transport interface.

The transport interface is deliberately small (publish, consume, commit); the
known issues of chapter 03 live in the knobs it hides: queue arguments
(`x-max-length`, `x-overflow`, `x-queue-type: stream`), nack/requeue, a
consumer that dies without leaving its group. Those are built here on the raw
clients (pika, confluent-kafka) rather than in `transport/`, so the
application's back ends stay as they are.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

from ...stack import StackConfig
from ...transport.spec import Endpoints, scratch_name


@contextlib.contextmanager
def private_rabbit_cluster(nodes: int = 3, port_offset: int = 5) -> Iterator[Endpoints]:
    """`streamlab.stack.private_rabbit_cluster` as Endpoints (the first node's URLs; `amqp_urls` lists every
    node's): a 3-node cluster measures what replicating a quorum queue costs."""
    from ...stack import private_rabbit_cluster as private_cluster

    base = StackConfig.from_env()
    with private_cluster(nodes, port_offset) as stack:
        config = stack.config
        yield Endpoints(base.kafka_bootstrap, config.amqp_url, config.rabbit_mgmt_url,
                        amqp_urls=tuple(config.amqp_urls))


def unique(what: str) -> str:
    """A name no other run uses: ``ch03-<what>-<8 hex>``."""
    return scratch_name("ch03", what)


def zmq_base_port() -> int:
    """ZeroMQ endpoints: STREAMLAB_ZMQ_BASE_PORT if set, else a port below the ephemeral range."""
    return int(os.environ.get("STREAMLAB_ZMQ_BASE_PORT", "26900"))


# --------------------------------------------------------------------------- what the brokers spend


def listening_pids(ports: list[int]) -> list[int]:
    """The processes listening on these local ports: the broker processes of a local stack. Empty where the
    port is held by something else (podman's port forwarder, a remote broker): then nothing is measured."""
    import psutil

    try:
        connections = psutil.net_connections("tcp")
    except psutil.AccessDenied:
        return []
    return sorted({c.pid for c in connections if c.status == psutil.CONN_LISTEN and c.pid and c.laddr.port in ports})


def kafka_ports(bootstrap: str) -> list[int]:
    return [int(address.rsplit(":", 1)[1]) for address in bootstrap.split(",") if ":" in address]


def amqp_port(amqp_url: str) -> int:
    import pika

    return int(pika.URLParameters(amqp_url).port)


@contextlib.contextmanager
def amqp_channel(amqp_url: str, confirms: bool = False) -> Iterator:
    """A BlockingChannel on its own connection, closed on exit."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        if confirms:
            channel.confirm_delivery()
        yield channel
    finally:
        with contextlib.suppress(Exception):
            connection.close()


def dead_letter_exchange(stream: str) -> str:
    """The dead-letter exchange the RabbitMQ back end declares for a stream's group queues (to delete it)."""
    from ...transport.rabbitmq import Topology

    return Topology().dead_letter_exchange(stream) or ""


def queue_depth(amqp_url: str, queue: str) -> int:
    """Ready messages of a queue, live (passive declare)."""
    with amqp_channel(amqp_url) as channel:
        return channel.queue_declare(queue=queue, passive=True).method.message_count


def drain_queue(channel, queue: str, timeout_s: float, limit: int = 1_000_000, ack: bool = True) -> list:
    """(method, properties, body) of every message until the queue is idle for 0.5 s or `timeout_s` passes."""
    got: list = []
    deadline = time.monotonic() + timeout_s
    idle_since = time.monotonic()
    while time.monotonic() < deadline and len(got) < limit:
        method, props, body = channel.basic_get(queue, auto_ack=ack)
        if method is None:
            if time.monotonic() - idle_since > 0.5:
                break
            time.sleep(0.02)
            continue
        idle_since = time.monotonic()
        got.append((method, props, body))
    return got


def publish_and_settle(channel, exchange: str, items: list[tuple[str, bytes]], queues: list[str],
                       expected: int, timeout_s: float = 20.0) -> int:
    """Publish without per-message confirms (a blocking channel waits a round trip for each), then wait
    until the queues hold `expected` messages or stop growing; returns what they hold."""
    for key, value in items:
        channel.basic_publish(exchange, key, value)
    deadline = time.monotonic() + timeout_s
    held, before, stable_since = 0, -1, time.monotonic()
    while time.monotonic() < deadline:
        held = sum(channel.queue_declare(q, passive=True).method.message_count for q in queues)
        if held >= expected:
            break
        if held != before:
            before, stable_since = held, time.monotonic()
        elif time.monotonic() - stable_since > 2.0:
            break
        time.sleep(0.1)
    return held


def consume_n(channel, queue: str, want: int, timeout_s: float, prefetch: int = 500) -> list:
    """Consume (auto-ack) until `want` messages arrived or `timeout_s` passed: faster than basic_get."""
    got: list = []
    if want <= 0:
        return got
    channel.basic_qos(prefetch_count=prefetch)
    deadline = time.monotonic() + timeout_s
    for method, props, body in channel.consume(queue, auto_ack=True, inactivity_timeout=0.5):
        if method is not None:
            got.append((method, props, body))
        if len(got) >= want or time.monotonic() > deadline:
            break
    channel.cancel()
    return got


# --------------------------------------------------------------------------- Kafka (confluent-kafka)


def kafka_topic(bootstrap: str, name: str, partitions: int = 1, replication: int = 1,
                config: dict[str, str] | None = None, assignment: list[list[int]] | None = None) -> str:
    """Create a topic; `assignment` (partition → broker ids) places its replicas and overrides both counts."""
    from ...transport import kafka_admin
    from ...transport.spec import TopicSpec

    if assignment is None:
        kafka_admin.ensure_topics(bootstrap, [TopicSpec(name, "raw", partitions, replication, dict(config or {}))])
        return name
    from confluent_kafka.admin import NewTopic

    topic = NewTopic(name, num_partitions=len(assignment), replica_assignment=assignment, config=dict(config or {}))
    admin = kafka_admin.admin_client(bootstrap)      # kept referenced until the futures are done
    futures = admin.create_topics([topic], request_timeout=30)
    for future in futures.values():
        future.result(timeout=30)
    return name


def kafka_cleanup(bootstrap: str, topics: list[str], groups: list[str] = ()) -> None:
    """Delete the experiment's topics and consumer groups (best effort: a group may still be leaving)."""
    from ...transport import kafka_admin

    with contextlib.suppress(Exception):
        kafka_admin.delete_topics(bootstrap, topics)
    if groups:
        admin = kafka_admin.admin_client(bootstrap)
        with contextlib.suppress(Exception):
            for future in admin.delete_consumer_groups(list(groups), request_timeout=10).values():
                with contextlib.suppress(Exception):
                    future.result()


def kafka_produce(bootstrap: str, topic: str, values: list[tuple[str, bytes]], **config) -> int:
    """Produce (key, value) pairs with acks=all; returns how many were not acknowledged."""
    from confluent_kafka import Producer

    from ...transport.kafka_admin import quiet_logger
    from ...transport.kafka_confluent import JAVA_PARTITIONER

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                         "partitioner": JAVA_PARTITIONER, "logger": quiet_logger(), **config})
    failed = [0]

    def report(err, _msg):
        if err is not None:
            failed[0] += 1

    for key, value in values:
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    return producer.flush(30) + failed[0]


def kafka_consumer(bootstrap: str, group: str, **config):
    from confluent_kafka import Consumer

    from ...transport.kafka_admin import quiet_logger

    return Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                     "enable.auto.commit": False, "logger": quiet_logger(), **config})


def kafka_join(consumers: list, timeout_s: float = 30.0) -> None:
    """Poll each subscribed consumer until its group has given it partitions (the topics are empty: it reads
    nothing). A consumer closed while its first rebalance is still under way can wait in librdkafka's close
    for good: a CI run hung there over a quarter of an hour on one that had subscribed and never polled."""
    deadline = time.monotonic() + timeout_s
    for consumer in consumers:
        while not consumer.assignment() and time.monotonic() < deadline:
            consumer.poll(0.1)


def kafka_read(consumer, want: int, timeout_s: float) -> list:
    """Messages (no errors) until `want` arrived or `timeout_s` passed."""
    got: list = []
    deadline = time.monotonic() + timeout_s
    while len(got) < want and time.monotonic() < deadline:
        for msg in consumer.consume(num_messages=min(500, want - len(got)), timeout=0.2):
            if msg.error() is None:
                got.append(msg)
    return got


def seq_payloads(n: int, machines: int = 20) -> list[tuple[str, bytes]]:
    """(key, value) with a per-machine sequence number, `M003:17`: what dedup, loss and order checks read."""
    return [(f"M{i % machines:03d}", f"M{i % machines:03d}:{i // machines}".encode()) for i in range(n)]


def tidy_rows(kind_column: str, kind: str, backend: str, variant: str, **metrics: float) -> list[dict[str, Any]]:
    """One row per metric: ``{kind_column: kind, "backend", "variant", "metric", "value"}``, the chapter's tables."""
    return [{kind_column: kind, "backend": backend, "variant": variant, "metric": k, "value": float(v)}
            for k, v in metrics.items()]


def broker_versions(brokers: Endpoints) -> dict[str, str]:
    """The brokers a table ran on, by name and version: Kafka from the jars the local stack and the podman
    image run (the `kafka_2.13` jar), RabbitMQ as the server announces itself on an AMQP connection."""
    from ...bench.drivers.kafka_java_tools import jar_version
    from ...bench.drivers.pika_driver import rabbit_version

    return {"kafka": f"Apache Kafka {jar_version('kafka', 'kafka_2.13') or '?'}",
            "rabbitmq": f"RabbitMQ {rabbit_version(brokers.amqp_url) or '?'}"}
