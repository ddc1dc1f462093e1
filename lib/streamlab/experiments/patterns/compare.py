"""The patterns side by side, each difference shown by a small run: replay, fan-out, ordering, routing.

* log with offsets (Kafka): a record stays until retention; a reader is a
  position, so any group can read from the start again (`replay`), and N groups
  cost one copy (`fanout`); order holds per partition, and a key always lands
  on one partition, so one member sees all of a key (`ordering`); a reader
  filters what it does not want itself (`routing`);
* queues with acks (RabbitMQ classic/quorum): a message is gone once acked (no
  replay), N groups are N queues holding N copies, competing consumers of one
  queue split even one key's messages, and the broker routes by key pattern;
* RabbitMQ's own log, the stream queue (`x-queue-type: stream`), read with
  `x-stream-offset`: replay inside RabbitMQ.

All bounded by message counts, uniquely named, deleted afterwards.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd

from ...measure.order import descents
from ...measure.process import ResourceMeter
from ...transport.kafka_confluent import commit_sync
from ...transport.rabbitmq import delete_queues
from ...transport.spec import Endpoints
from .brokers import (
    amqp_channel,
    amqp_port,
    consume_n,
    kafka_cleanup,
    kafka_consumer,
    kafka_join,
    kafka_ports,
    kafka_produce,
    kafka_read,
    kafka_topic,
    listening_pids,
    publish_and_settle,
    seq_payloads,
    tidy_rows,
    unique,
)
from .brokers import dead_letter_exchange as _dlx

COLUMNS = ["experiment", "backend", "variant", "metric", "value"]


def _rows(experiment: str, backend: str, variant: str, **metrics: float) -> list[dict[str, Any]]:
    return tidy_rows("experiment", experiment, backend, variant, **metrics)


_payloads = seq_payloads


# --------------------------------------------------------------------------- replay


def replay(brokers: Endpoints, messages: int = 1000) -> pd.DataFrame:
    """Read everything once, then try to read it again from the start."""
    rows = _rows("replay", "Kafka", "topic (log)", first_read=0, second_read=0)
    topic = kafka_topic(brokers.kafka_bootstrap, unique("replay"), 3)
    groups = [f"{topic}.first", f"{topic}.again"]
    try:
        kafka_produce(brokers.kafka_bootstrap, topic, _payloads(messages))
        reads = []
        for group in groups:                          # a second group starts at offset 0 again
            consumer = kafka_consumer(brokers.kafka_bootstrap, group)
            consumer.subscribe([topic])
            reads.append(len(kafka_read(consumer, messages, 30)))
            if reads[-1]:
                commit_sync(consumer)
            consumer.close()
        rows = _rows("replay", "Kafka", "topic (log)", first_read=reads[0], second_read=reads[1])
    finally:
        kafka_cleanup(brokers.kafka_bootstrap, [topic], groups)
    rows += _rabbit_replay(brokers, messages, stream=False)
    rows += _rabbit_replay(brokers, messages, stream=True)
    return pd.DataFrame(rows, columns=COLUMNS)


def _rabbit_replay(brokers: Endpoints, messages: int, stream: bool) -> list[dict[str, Any]]:
    queue = unique("replay-stream" if stream else "replay-queue")
    variant = "stream queue (x-stream-offset first)" if stream else "quorum queue"
    try:
        with amqp_channel(brokers.amqp_url) as channel:
            channel.queue_declare(queue, durable=True,
                                  arguments={"x-queue-type": "stream" if stream else "quorum"})
            if stream:     # a stream queue answers a passive declare with 0 messages: no depth to wait for
                for _key, value in _payloads(messages):
                    channel.basic_publish("", queue, value)
                time.sleep(1.0)
            else:
                publish_and_settle(channel, "", [(queue, v) for _k, v in _payloads(messages)], [queue], messages)
        reads = []
        for _ in range(2):
            with amqp_channel(brokers.amqp_url) as channel:
                reads.append(len(_read_queue(channel, queue, messages, stream)))
        return _rows("replay", "RabbitMQ", variant, first_read=reads[0], second_read=reads[1])
    finally:
        delete_queues(brokers.amqp_url, [queue])


def _read_queue(channel, queue: str, want: int, stream: bool, timeout_s: float = 15.0) -> list:
    """Consume with manual acks (a stream queue requires them, and a prefetch), acking as it goes."""
    channel.basic_qos(prefetch_count=500)
    arguments = {"x-stream-offset": "first"} if stream else None
    got: list = []
    deadline = time.monotonic() + timeout_s
    for method, _props, body in channel.consume(queue, arguments=arguments, inactivity_timeout=1.0):
        if method is None or time.monotonic() > deadline:
            break
        got.append(body)
        channel.basic_ack(method.delivery_tag)
        if len(got) >= want:
            break
    channel.cancel()
    return got


# --------------------------------------------------------------------------- fan-out


def fanout(brokers: Endpoints, groups: tuple[int, ...] = (1, 4), messages: int = 500, size: int = 1024) -> pd.DataFrame:
    """N consumer groups, nobody reading yet: how many copies of each message does the broker hold?

    Kafka: the log end offsets (one copy per replica whatever N is). RabbitMQ:
    the sum of the groups' queue depths (one copy per queue). For both, what
    the broker processes spent taking the messages in (publish until stored):
    CPU seconds and the change of their resident memory, read from the local
    stack's processes (NaN on a stack whose processes this host cannot see).
    """
    rows: list[dict[str, Any]] = []
    payload = bytes(size)
    kafka_pids = listening_pids(kafka_ports(brokers.kafka_bootstrap))
    rabbit_pids = listening_pids([amqp_port(brokers.amqp_url)])
    for n in groups:
        topic = kafka_topic(brokers.kafka_bootstrap, unique("fanout"), 1)
        names = [f"{topic}.g{i}" for i in range(n)]
        try:
            consumers = []
            for group in names:                       # the groups exist; none of them has read yet
                consumer = kafka_consumer(brokers.kafka_bootstrap, group)
                consumer.subscribe([topic])
                consumers.append(consumer)
            kafka_join(consumers)
            meter = ResourceMeter(kafka_pids).start()
            kafka_produce(brokers.kafka_bootstrap, topic, [("k", payload)] * messages)
            stored = _kafka_messages(brokers.kafka_bootstrap, topic)
            spent = meter.stop()
            for consumer in consumers:
                consumer.close()
            rows += _rows("fan-out", "Kafka", f"{n} groups", groups=n, copies_held=stored,
                          body_bytes_held=stored * size, broker_cpu_s=spent["cpu_s"],
                          broker_rss_delta_mib=spent["rss_delta_mib"])
        finally:
            kafka_cleanup(brokers.kafka_bootstrap, [topic], names)
        exchange = unique("fanout")
        queues = [f"{exchange}.g{i}" for i in range(n)]
        try:
            with amqp_channel(brokers.amqp_url) as channel:
                channel.exchange_declare(exchange, "topic", durable=True)
                for queue in queues:
                    channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
                    channel.queue_bind(queue, exchange, "#")
                meter = ResourceMeter(rabbit_pids).start()
                held = publish_and_settle(channel, exchange, [("k", payload)] * messages, queues, n * messages)
                spent = meter.stop()
            rows += _rows("fan-out", "RabbitMQ", f"{n} groups", groups=n, copies_held=held,
                          body_bytes_held=held * size, broker_cpu_s=spent["cpu_s"],
                          broker_rss_delta_mib=spent["rss_delta_mib"])
        finally:
            delete_queues(brokers.amqp_url, queues, [exchange])
    return pd.DataFrame(rows, columns=COLUMNS)


def _kafka_messages(bootstrap: str, topic: str) -> int:
    from confluent_kafka import TopicPartition

    consumer = kafka_consumer(bootstrap, f"{topic}.probe")
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        total = 0
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            total += high - low
        return total
    finally:
        consumer.close()


# --------------------------------------------------------------------------- ordering


def ordering(brokers: Endpoints, messages: int = 2000, consumers: int = 2, machines: int = 20) -> pd.DataFrame:
    """Two members of one group: does each machine's stream stay with one member, in order?

    Kafka: keys map to partitions, partitions to members: each machine to one
    member, in order. RabbitMQ: competing consumers of one queue take turns,
    so every machine's messages are split between them and a member's
    per-machine state (rolling statistics) sees only part of the stream.
    """
    from ...transport import get_transport
    from ...transport.rabbitmq import RabbitMQTransport
    from ...transport.spec import TopicSpec

    rows: list[dict[str, Any]] = []
    ep = Endpoints(brokers.kafka_bootstrap, brokers.amqp_url, brokers.rabbit_mgmt_url)
    for backend in ("kafka", "rabbitmq"):
        name = f"{unique(f'order-{backend}')}.stream"   # a namespace: its own dead-letter exchange
        group = f"{name}.g"
        if backend == "kafka":
            transport = get_transport("kafka", "confluent", ep)
            transport.ensure_topics([TopicSpec(name, "raw", 4, 1)])
            members = [transport.consumer([name], group, f"c{i}") for i in range(consumers)]
        else:
            transport = RabbitMQTransport([brokers.amqp_url], brokers.rabbit_mgmt_url)
            transport.ensure_topics([TopicSpec(name, "raw", 1, 1)])
            members = [transport.consumer([name], group, f"c{i}", prefetch=20) for i in range(consumers)]
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                for m in members:
                    m.poll(0.1)
                if all(m.assignment_ready() for m in members) and (
                        backend != "kafka" or transport.group_members(group, [name]) == consumers):
                    break
            publisher = transport.publisher("ch03-order-pub")
            for key, value in _payloads(messages, machines):
                publisher.publish(name, key, value)
            publisher.flush(60)
            publisher.close()
            seen: list[list[bytes]] = [[] for _ in members]
            idle_since = time.monotonic()
            while sum(map(len, seen)) < messages and time.monotonic() - idle_since < 5:
                for i, member in enumerate(members):
                    batch = member.poll(0.05, 50)
                    if batch:
                        seen[i] += [r.value for r in batch]
                        member.commit()
                        idle_since = time.monotonic()
            owners: dict[str, set[int]] = {}
            inversions = 0
            for i, values in enumerate(seen):
                pairs = [(machine, int(seq)) for machine, seq in (value.decode().split(":") for value in values)]
                for machine, _seq in pairs:
                    owners.setdefault(machine, set()).add(i)
                inversions += descents(pairs)  # within one member: what it saw go backwards
            label = "Kafka" if backend == "kafka" else "RabbitMQ"
            variant = (f"{consumers} members, 4 partitions" if backend == "kafka"
                       else f"{consumers} competing consumers, one queue")
            rows += _rows("ordering", label, variant, received=sum(map(len, seen)),
                          machines=len(owners), machines_split_between_members=sum(len(o) > 1 for o in owners.values()),
                          order_inversions_within_a_member=inversions)
        finally:
            for member in members:
                member.close()
            transport.delete_topics([name])
            if backend != "kafka":
                delete_queues(brokers.amqp_url, [], [_dlx(name)])
            if backend == "kafka":
                kafka_cleanup(brokers.kafka_bootstrap, [], [group])
            else:
                transport.close()
    return pd.DataFrame(rows, columns=COLUMNS)


# --------------------------------------------------------------------------- routing


def routing(brokers: Endpoints, messages: int = 2000, machines: int = 20, wanted: str = "M007") -> pd.DataFrame:
    """A consumer that wants one machine: the broker routes (RabbitMQ) or the client filters (Kafka)."""
    rows: list[dict[str, Any]] = []
    topic = kafka_topic(brokers.kafka_bootstrap, unique("route"), 3)
    group = f"{topic}.one-machine"
    try:
        kafka_produce(brokers.kafka_bootstrap, topic, _payloads(messages, machines))
        consumer = kafka_consumer(brokers.kafka_bootstrap, group)
        consumer.subscribe([topic])
        fetched = kafka_read(consumer, messages, 30)
        consumer.close()
        kept = sum(1 for m in fetched if m.key() == wanted.encode())
        rows += _rows("routing", "Kafka", "subscribe to the topic, filter in the client", delivered=len(fetched),
                      kept=kept)
    finally:
        kafka_cleanup(brokers.kafka_bootstrap, [topic], [group])
    exchange = unique("route")
    queue = f"{exchange}.{wanted}"
    try:
        with amqp_channel(brokers.amqp_url) as channel:
            channel.exchange_declare(exchange, "topic", durable=True)
            channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
            channel.queue_bind(queue, exchange, wanted)       # the binding key is the filter
            depth = publish_and_settle(channel, exchange, _payloads(messages, machines), [queue], messages // machines)
            got = consume_n(channel, queue, depth, 15)
        kept = sum(1 for m, _p, _b in got if m.routing_key == wanted)
        rows += _rows("routing", "RabbitMQ", f"topic exchange, binding key {wanted}", delivered=len(got), kept=kept)
    finally:
        delete_queues(brokers.amqp_url, [queue], [exchange])
    return pd.DataFrame(rows, columns=COLUMNS)


def wide(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (experiment, back end, variant), one column per metric."""
    return table.pivot_table(index=["experiment", "backend", "variant"], columns="metric", values="value",
                             sort=False)


def per_experiment(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """`wide` split by experiment, each with only its own metrics: one table of the four patterns had
    16 columns, most of them empty, because each experiment measures different things."""
    return {str(experiment): wide(part).droplevel("experiment").dropna(axis="columns", how="all")
            for experiment, part in table.groupby("experiment", sort=False)}
