"""Known issues of the messaging patterns, each provoked and then mitigated in one run.

Every function runs a *before* (the issue provoked) and an *after* (the
mitigation in place) on live brokers and returns a tidy frame: one row per
(issue, back end, variant) with the counts that show the effect. Everything is
bounded (message counts, a time window) and uniquely named; queues, exchanges,
topics and groups are deleted at the end.

Why raw pika here and not the transport: the mitigations are queue arguments
(`x-delivery-limit`, `x-max-length` + `x-overflow`) and broker reactions
(nack, dead-lettering) that the application's transport interface does not
expose. The app's own queues carry `x-delivery-limit` and a DLX with a holding queue bound
(`pipeline.declare`); the poison experiment declares and binds its own, on raw pika.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from ...transport.rabbitmq import delete_queues
from ...transport.spec import Endpoints
from .brokers import (
    amqp_channel,
    consume_n,
    drain_queue,
    kafka_cleanup,
    kafka_consumer,
    kafka_topic,
    queue_depth,
    seq_payloads,
    tidy_rows,
    unique,
    zmq_base_port,
)
from .brokers import dead_letter_exchange as _dlx

COLUMNS = ["issue", "backend", "variant", "metric", "value"]


def _rows(issue: str, backend: str, variant: str, **metrics: float) -> list[dict[str, Any]]:
    return tidy_rows("issue", issue, backend, variant, **metrics)


_seq_payloads = seq_payloads


# --------------------------------------------------------------------------- 1. slow consumer


def slow_consumer(brokers: Endpoints, messages: int = 5000, hwm: int = 100) -> pd.DataFrame:
    """A subscriber that does not read while a burst is published: who keeps it, who drops it.

    ZeroMQ PUB/SUB with a high-water mark of `hwm` drops what does not fit,
    silently (the publisher's hand-off "succeeds" for every message); the
    mitigation is a HWM sized to the burst (memory in the sockets, no broker).
    Kafka keeps everything in the log (the group's lag grows); RabbitMQ keeps
    it in the group's queue (its depth grows — until the memory alarm, see
    `max_length`).
    """
    rows: list[dict[str, Any]] = []
    for stream, variant, water in (("telemetry", f"before: HWM {hwm}", hwm),
                                   ("vibration", "after: HWM ≥ burst", messages + 100)):
        sent, received = _zmq_burst(messages, water, stream)
        rows += _rows("slow consumer", "ZeroMQ", variant, sent=sent, handed_off=sent, received=received,
                      lost=sent - received, held_by_broker=0)
    rows += _broker_burst(brokers, "kafka", messages)
    rows += _broker_burst(brokers, "rabbitmq", messages)
    return pd.DataFrame(rows, columns=COLUMNS)


def _zmq_burst(messages: int, hwm: int, stream: str) -> tuple[int, int]:
    """`stream` is an app stream's name, so the endpoint is a fixed port of ours (base + its index);
    each variant uses its own, since a closed socket frees its port asynchronously."""
    from ...transport.zeromq import ZmqTransport

    transport = ZmqTransport(base_port=zmq_base_port())
    topic = f"{unique('zmq-slow')}.{stream}"
    publisher = transport.publisher("ch03-slow-pub", hwm=hwm)
    publisher.publish(topic, None, b"warm-up")            # binds the endpoint
    consumer = transport.consumer([topic], "slow", "ch03-slow-sub", hwm=hwm)
    try:
        time.sleep(0.5)                                     # slow joiner: let the subscription arrive
        for i in range(messages):                           # the subscriber reads nothing meanwhile
            publisher.publish(topic, None, str(i).encode())
        time.sleep(0.3)
        got, idle_since = 0, time.monotonic()
        while time.monotonic() - idle_since < 0.5:
            batch = [r for r in consumer.poll(0.1, 5000) if r.value != b"warm-up"]
            if batch:
                got += len(batch)
                idle_since = time.monotonic()
        return messages, got
    finally:
        publisher.close()
        consumer.close()


def _broker_burst(brokers: Endpoints, backend: str, messages: int) -> list[dict[str, Any]]:
    """Publish the burst with nobody reading, record what the broker holds, then read it all."""
    from ...transport import get_transport
    from ...transport.rabbitmq import RabbitMQTransport
    from ...transport.spec import TopicSpec

    name = f"{unique(f'slow-{backend}')}.stream"   # a namespace: its own dead-letter exchange
    group = f"{name}.g"
    if backend == "kafka":
        transport = get_transport("kafka", "confluent", _ep(brokers))
        transport.ensure_topics([TopicSpec(name, "raw", 3, 1)])
    else:
        transport = RabbitMQTransport([brokers.amqp_url], brokers.rabbit_mgmt_url)
        transport.ensure_topics([TopicSpec(name, "raw", 1, 1)])
    consumer = transport.consumer([name], group, "ch03-slow")
    try:
        deadline = time.monotonic() + 30
        while not consumer.assignment_ready() and time.monotonic() < deadline:
            consumer.poll(0.2)
        publisher = transport.publisher("ch03-slow-pub")
        failed = []
        for key, value in _seq_payloads(messages):
            publisher.publish(name, key, value, None, lambda err: err and failed.append(err))
        publisher.flush(60)
        publisher.close()
        held = transport.group_backlog(group, [name]) or 0
        got = 0
        idle_since = time.monotonic()
        while got < messages and time.monotonic() - idle_since < 5:
            batch = consumer.poll(0.5, 2000)
            if batch:
                got += len(batch)
                consumer.commit()
                idle_since = time.monotonic()
        label = "Kafka" if backend == "kafka" else "RabbitMQ"
        return _rows("slow consumer", label, "broker keeps the backlog", sent=messages,
                     handed_off=messages - len(failed), received=got, lost=messages - got, held_by_broker=held)
    finally:
        consumer.close()
        transport.delete_topics([name])
        if backend != "kafka":
            delete_queues(brokers.amqp_url, [], [_dlx(name)])
        if backend == "kafka":
            kafka_cleanup(brokers.kafka_bootstrap, [], [group])
        if hasattr(transport, "close"):
            transport.close()


def mqtt_slow_subscriber(messages: int = 2000, queue: int = 100, payload_bytes: int = 4096,
                         read_delay_s: float = 0.001, port: int | None = None) -> pd.DataFrame:
    """MQTT under a slow subscriber and an absent one, on a private Mosquitto per queue bound.

    Mosquitto keeps, per subscriber, an in-flight window and a queue of at most
    `max_queued_messages`; what does not fit is dropped ("Outgoing messages are
    being dropped", in its log only). A *connected* subscriber that reads one
    message per `read_delay_s` fills its socket, then that queue: with the queue
    bounded at `queue`, QoS 0 loses what does not fit, and on this Mosquitto so
    does QoS 1 — the bound is per client, not per QoS. Where QoS decides is a
    subscriber that is *away* during the burst (a persistent session, reconnected
    after): QoS 1 messages wait in its session queue, QoS 0 ones are never queued.
    The mitigation measured: QoS 1, a persistent session and a queue sized for the
    burst. Losses are counted by sequence number. `port`: the private broker's
    (default MQTT_PORT + 1, beside the stack's own Mosquitto).

    Why raw paho, not the transport: the transport's consumer reads its socket
    eagerly into an unbounded inbox (so the broker never sees it as slow), and it
    always uses QoS 1; the effect lives in the QoS and in the client's reading pace.
    """
    rows: list[dict[str, Any]] = []
    for bound in (queue, messages + 100):
        label = f"queue {bound}" if bound == queue else "queue ≥ burst"
        with _private_mosquitto(bound, port) as url:
            runs = [(qos, False) for qos in (0, 1)] + ([(qos, True) for qos in (0, 1)] if bound != queue else [])
            for qos, away in runs:
                if away:
                    variant = f"away during the burst: QoS {qos}, {label}"
                else:
                    when = {(0, True): "before: ", (1, False): "after: "}.get((qos, bound == queue), "")
                    variant = f"{when}QoS {qos}, {label}, slow reader"
                got = _mqtt_burst(url, messages, qos, payload_bytes, 0.0 if away else read_delay_s, away)
                rows += _rows("slow consumer", "MQTT", variant, sent=messages, handed_off=messages,
                              received=len(got), lost=messages - len(got), queue_bound=bound)
    return pd.DataFrame(rows, columns=COLUMNS)


@contextlib.contextmanager
def _private_mosquitto(max_queued: int, port: int | None) -> Iterator[str]:
    """A Mosquitto of the experiment's own (on `port`, in a temporary directory), its queue bound set,
    stopped by pid at the end: the stack's broker keeps its roomy default for the application."""
    import dataclasses
    import tempfile
    from pathlib import Path

    from ...stack import StackConfig
    from ...stack.mosquitto_local import LocalMosquitto

    base = StackConfig.from_env()
    with tempfile.TemporaryDirectory(prefix="ch03-mqtt-") as folder:
        config = dataclasses.replace(base, stack_dir=Path(folder), mqtt_port=port or base.mqtt_port + 1)
        broker = LocalMosquitto(config, max_queued_messages=max_queued)
        broker.up()
        try:
            yield f"mqtt://127.0.0.1:{config.mqtt_port}"
        finally:
            broker.down()


#: seconds without a new message after which a burst's subscriber has received all it will
IDLE_END_S = 3.0


def _mqtt_burst(url: str, messages: int, qos: int, payload_bytes: int, read_delay_s: float,
                away: bool) -> set[int]:
    """Sequence numbers the subscriber received of a burst published at `qos` (subscription at the same QoS)."""
    from urllib.parse import urlparse

    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    address = urlparse(url)
    topic = f"{unique('mqtt-slow')}/telemetry"
    got: set[int] = set()
    subscribed = threading.Event()

    def on_message(_client, _userdata, msg) -> None:
        got.add(int(msg.payload[:10]))
        if read_delay_s:
            time.sleep(read_delay_s)                 # the slow reader: its network loop waits too

    def client(client_id: str):
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        c.on_message = on_message
        c.on_subscribe = lambda *_a: subscribed.set()
        return c

    def connect(c, persistent: bool) -> None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 300 if persistent else 0
        c.connect(address.hostname, address.port, keepalive=30, clean_start=not persistent, properties=properties)
        c.loop_start()

    sub_id = f"{topic}-sub"
    subscriber = client(sub_id)
    connect(subscriber, persistent=away)
    subscriber.subscribe(topic, qos)
    subscribed.wait(10)
    if away:
        gone = threading.Event()
        subscriber.on_disconnect = lambda *_a: gone.set()
        subscriber.disconnect()                      # the session (and its subscription) stays on the broker
        gone.wait(5)
        subscriber.loop_stop()
        time.sleep(0.2)                              # the broker has closed the connection before the burst
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{topic}-pub", protocol=mqtt.MQTTv5)
    publisher.max_inflight_messages_set(1000)
    publisher.max_queued_messages_set(0)
    connect(publisher, persistent=False)
    try:
        padding = b"x" * max(0, payload_bytes - 10)
        sent = [publisher.publish(topic, f"{i:010d}".encode() + padding, qos=qos) for i in range(messages)]
        for info in sent:
            info.wait_for_publish(30)                # QoS 1: the broker's PUBACK; QoS 0: written to the socket
        # a QoS 1 marker on the same connection: once it is PUBACKed the broker has taken in the whole burst
        publisher.publish(f"{topic}-end", b"", qos=1).wait_for_publish(30)
        if away:
            back = threading.Event()
            subscriber = client(sub_id)
            subscriber.on_connect = lambda *_a: back.set()
            connect(subscriber, persistent=True)     # the same session: its queue is delivered now
            back.wait(10)                            # the CONNACK: delivery starts from here, not from connect()
        # 3 s without a new message ends the wait: 1 s cut a loaded CI worker's redelivery short (545 of 1,000)
        seen, idle_since = -1, time.monotonic()
        while time.monotonic() - idle_since < IDLE_END_S and len(got) < messages:
            if len(got) != seen:
                seen, idle_since = len(got), time.monotonic()
            time.sleep(0.05)
        return set(got)
    finally:
        for c in (publisher, subscriber):
            with contextlib.suppress(Exception):
                c.disconnect()
                c.loop_stop()


def _ep(brokers: Endpoints):

    return Endpoints(brokers.kafka_bootstrap, brokers.amqp_url, brokers.rabbit_mgmt_url)


# --------------------------------------------------------------------------- 2. redelivery duplicates


def redelivery_duplicates(brokers: Endpoints, messages: int = 2000, batch: int = 100,
                          crash_after_batches: int = 5) -> pd.DataFrame:
    """A consumer processes batches and dies after processing one but before committing it.

    The next consumer of the group gets the uncommitted batch again: at-least-once
    delivery means duplicates downstream (both brokers). The mitigation is an
    idempotent consumer: remember the (machine, seq) pairs already applied and
    skip them — what the app's Parquet sink does.
    """
    rows: list[dict[str, Any]] = []
    for backend in ("kafka", "rabbitmq"):
        delivered = _crash_before_commit(brokers, backend, messages, batch, crash_after_batches)
        label = "Kafka" if backend == "kafka" else "RabbitMQ"
        unique_values = set(delivered)
        rows += _rows("redelivery after a crash", label, "before: apply every delivery", sent=messages,
                      applied=len(delivered), duplicates=len(delivered) - len(unique_values),
                      missing=messages - len(unique_values))
        rows += _rows("redelivery after a crash", label, "after: idempotent (machine, seq) dedup",
                      sent=messages, applied=len(unique_values), duplicates=0,
                      missing=messages - len(unique_values))
    return pd.DataFrame(rows, columns=COLUMNS)


def _crash_before_commit(brokers: Endpoints, backend: str, messages: int, batch: int,
                         crash_after_batches: int) -> list[bytes]:
    from ...transport import get_transport
    from ...transport.rabbitmq import RabbitMQTransport
    from ...transport.spec import TopicSpec

    name = f"{unique(f'redeliver-{backend}')}.stream"   # a namespace: its own dead-letter exchange
    group = f"{name}.g"
    if backend == "kafka":
        transport = get_transport("kafka", "confluent", _ep(brokers))
        transport.ensure_topics([TopicSpec(name, "raw", 1, 1)])
    else:
        transport = RabbitMQTransport([brokers.amqp_url], brokers.rabbit_mgmt_url)
        transport.ensure_topics([TopicSpec(name, "raw", 1, 1)])
    applied: list[bytes] = []
    try:
        first = transport.consumer([name], group, "ch03-first")
        deadline = time.monotonic() + 30
        while not first.assignment_ready() and time.monotonic() < deadline:
            first.poll(0.2)
        publisher = transport.publisher("ch03-redeliver-pub")
        for key, value in _seq_payloads(messages):
            publisher.publish(name, key, value)
        publisher.flush(60)
        publisher.close()
        batches = 0
        deadline = time.monotonic() + 30
        while batches < crash_after_batches and time.monotonic() < deadline:
            records = first.poll(1.0, batch)
            if not records:
                continue
            applied += [r.value for r in records]            # the work is done (written, sent on) ...
            batches += 1
            if batches < crash_after_batches:
                first.commit()                                # ... and committed, except for the last batch
        first.close()                                         # the crash: no commit of the last batch
        second = transport.consumer([name], group, "ch03-second")
        idle_since = time.monotonic()
        while len(applied) < messages + batch and time.monotonic() - idle_since < 5:
            records = second.poll(0.5, 1000)
            if records:
                applied += [r.value for r in records]
                second.commit()
                idle_since = time.monotonic()
        second.close()
        return applied
    finally:
        transport.delete_topics([name])
        if backend != "kafka":
            delete_queues(brokers.amqp_url, [], [_dlx(name)])
        if backend == "kafka":
            kafka_cleanup(brokers.kafka_bootstrap, [], [group])
        if hasattr(transport, "close"):
            transport.close()


# --------------------------------------------------------------------------- 3. poison message


def poison_message(brokers: Endpoints, good: int = 50, window_s: float = 3.0,
                   delivery_limit: int = 3) -> pd.DataFrame:
    """One message its consumer can never handle (it nacks it back, as a crash-and-restart would).

    Before: a queue without a delivery limit redelivers it for ever, for the
    whole window, and the consumer burns its time on it. After: a quorum queue
    with `x-delivery-limit` hands it out `delivery_limit + 1` times, then the
    broker dead-letters it to the queue's DLX, where it waits with its
    `x-death` history; the good messages are all processed either way.
    """
    rows: list[dict[str, Any]] = []
    for variant, limited in (("before: no delivery limit", False),
                             (f"after: x-delivery-limit {delivery_limit} + DLX", True)):
        result = _poison_run(brokers, good, window_s, delivery_limit if limited else None)
        rows += _rows("poison message", "RabbitMQ", variant, **result)
    return pd.DataFrame(rows, columns=COLUMNS)


def _poison_run(brokers: Endpoints, good: int, window_s: float, limit: int | None) -> dict[str, float]:
    import pika

    queue = unique("poison")
    dlx, dlq = f"{queue}.dlx", f"{queue}.dlq"
    try:
        with amqp_channel(brokers.amqp_url) as channel:
            args: dict[str, Any] = {"x-queue-type": "quorum"}
            if limit is not None:
                channel.exchange_declare(dlx, "fanout", durable=True)
                channel.queue_declare(dlq, durable=True, arguments={"x-queue-type": "quorum"})
                channel.queue_bind(dlq, dlx)
                args |= {"x-delivery-limit": limit, "x-dead-letter-exchange": dlx}
            channel.queue_declare(queue, durable=True, arguments=args)
            channel.basic_publish("", queue, b"poison", pika.BasicProperties(headers={"kind": "poison"}))
            for i in range(good):
                channel.basic_publish("", queue, f"good:{i}".encode())
            channel.basic_qos(prefetch_count=10)
            poison_deliveries = processed = 0
            deadline = time.monotonic() + window_s
            for method, _props, body in channel.consume(queue, inactivity_timeout=0.2):
                if time.monotonic() > deadline:
                    break
                if method is None:
                    continue
                if body == b"poison":
                    poison_deliveries += 1
                    channel.basic_nack(method.delivery_tag, requeue=True)   # the handler fails every time
                else:
                    processed += 1
                    channel.basic_ack(method.delivery_tag)
            channel.cancel()
        in_queue = queue_depth(brokers.amqp_url, queue)
        dead = []
        if limit is not None:
            with amqp_channel(brokers.amqp_url) as channel:
                dead = drain_queue(channel, dlq, timeout_s=2.0)
        return {"poison_deliveries": poison_deliveries, "good_processed": processed,
                "poison_still_in_queue": in_queue, "dead_lettered": len(dead),
                "window_s": window_s}
    finally:
        delete_queues(brokers.amqp_url, [queue, dlq], [dlx])


# --------------------------------------------------------------------------- 4. unbounded queue growth


def max_length(brokers: Endpoints, messages: int = 1000, limit: int = 200) -> pd.DataFrame:
    """Nobody consumes a queue: it grows without bound, until the broker's memory alarm blocks every publisher.

    The mitigation is a bound, `x-max-length`, with an overflow policy:
    `drop-head` keeps the newest `limit` and discards the oldest *silently*
    (every publish is confirmed); `reject-publish` keeps the oldest and *nacks*
    the publishes that do not fit, so the publisher knows and can slow down,
    retry or divert. Publishes are confirmed one by one (a blocking channel), on
    a classic queue so that a confirm costs no fsync; quorum queues apply both
    policies the same way.
    """
    rows: list[dict[str, Any]] = []
    for variant, overflow in (("before: unbounded", None), (f"after: x-max-length {limit}, drop-head", "drop-head"),
                              (f"after: x-max-length {limit}, reject-publish", "reject-publish")):
        rows += _rows("unbounded queue", "RabbitMQ", variant, **_fill_queue(brokers, messages, limit, overflow))
    return pd.DataFrame(rows, columns=COLUMNS)


def _fill_queue(brokers: Endpoints, messages: int, limit: int, overflow: str | None) -> dict[str, float]:
    import pika

    queue = unique("maxlen")
    try:
        with amqp_channel(brokers.amqp_url, confirms=True) as channel:
            args: dict[str, Any] = {"x-queue-type": "classic"}
            if overflow:
                args |= {"x-max-length": limit, "x-overflow": overflow}
            channel.queue_declare(queue, durable=False, arguments=args)
            confirmed = nacked = 0
            for i in range(messages):
                try:
                    channel.basic_publish("", queue, str(i).encode())
                    confirmed += 1
                except pika.exceptions.NackError:
                    nacked += 1
            depth = channel.queue_declare(queue, passive=True).method.message_count
            kept = consume_n(channel, queue, depth, timeout_s=20.0)
        values = sorted(int(body) for _m, _p, body in kept)
        return {"published": messages, "confirmed": confirmed, "nacked": nacked, "in_queue": len(values),
                "oldest_kept": values[0] if values else -1,
                "lost_silently": confirmed - len(values)}
    finally:
        delete_queues(brokers.amqp_url, [queue])


# --------------------------------------------------------------------------- 5. head-of-line blocking


def head_of_line(brokers: Endpoints, fast: int = 100, slow: int = 4, slow_s: float = 0.25) -> pd.DataFrame:
    """Slow jobs at the head of one FIFO queue hold up every fast job behind them.

    Before: one queue, one consumer with prefetch 1, the slow jobs published
    first. After: the slow jobs are routed (topic exchange, routing key
    `job.slow`) to a queue of their own with its own consumer, so the fast
    queue never waits behind them. Latency = publish → processed, same clock.
    """
    rows: list[dict[str, Any]] = []
    for variant, split in (("before: one queue", False), ("after: slow jobs routed to their own queue", True)):
        latency = _hol_run(brokers, fast, slow, slow_s, split)
        rows += _rows("head-of-line blocking", "RabbitMQ", variant, fast_jobs=len(latency),
                      fast_p50_ms=float(np.percentile(latency, 50)) if latency else float("nan"),
                      fast_p99_ms=float(np.percentile(latency, 99)) if latency else float("nan"),
                      slow_jobs=slow, slow_job_s=slow_s)
    return pd.DataFrame(rows, columns=COLUMNS)


def _hol_run(brokers: Endpoints, fast: int, slow: int, slow_s: float, split: bool) -> list[float]:
    import pika

    exchange = unique("hol")
    fast_queue, slow_queue = f"{exchange}.fast", f"{exchange}.slow"
    latencies: list[float] = []
    total = fast + slow
    done = threading.Event()
    lock = threading.Lock()
    counted = [0]

    def worker(queue: str) -> None:
        with amqp_channel(brokers.amqp_url) as channel:
            channel.basic_qos(prefetch_count=1)
            deadline = time.monotonic() + 30
            for method, props, _body in channel.consume(queue, inactivity_timeout=0.1):
                if done.is_set() or time.monotonic() > deadline:
                    break
                if method is None:
                    continue
                if method.routing_key == "job.slow":
                    time.sleep(slow_s)
                else:
                    with lock:
                        latencies.append((time.time_ns() - int(props.headers["sent_ns"])) / 1e6)
                channel.basic_ack(method.delivery_tag)
                with lock:
                    counted[0] += 1
                    if counted[0] >= total:
                        done.set()
            channel.cancel()

    try:
        with amqp_channel(brokers.amqp_url) as channel:
            channel.exchange_declare(exchange, "topic", durable=False, auto_delete=False)
            channel.queue_declare(fast_queue, durable=False)   # classic: an ack costs no fsync
            if split:
                channel.queue_declare(slow_queue, durable=False)
                channel.queue_bind(fast_queue, exchange, "job.fast")
                channel.queue_bind(slow_queue, exchange, "job.slow")
            else:
                channel.queue_bind(fast_queue, exchange, "job.*")
        workers = [threading.Thread(target=worker, args=(q,), daemon=True)
                   for q in ([fast_queue, slow_queue] if split else [fast_queue])]
        for w in workers:
            w.start()
        time.sleep(0.3)
        with amqp_channel(brokers.amqp_url) as channel:
            jobs = ["job.slow"] * slow + ["job.fast"] * fast
            for key in jobs:
                channel.basic_publish(exchange, key, b"x",
                                      pika.BasicProperties(headers={"sent_ns": str(time.time_ns())}))
        done.wait(30)
        done.set()
        for w in workers:
            w.join(5)
        return latencies
    finally:
        delete_queues(brokers.amqp_url, [fast_queue, slow_queue], [exchange])


# --------------------------------------------------------------------------- 6. dead group member


def dead_member(brokers: Endpoints, session_timeouts_ms: tuple[int, ...] = (15_000, 6_000),
                partitions: int = 4) -> pd.DataFrame:
    """A Kafka group member dies without leaving (SIGKILL): its partitions are read by nobody.

    The group coordinator notices only when the member's session times out
    (`session.timeout.ms`, 45 s by default), then rebalances; until then its
    partitions' lag grows. Chapter 00 met the same wait when the coordinator
    itself died. The mitigation measured: a shorter session timeout (the broker
    allows down to `group.min.session.timeout.ms`, 6 s). Metric: seconds from
    the kill until the survivor owns every partition.
    """
    rows: list[dict[str, Any]] = []
    for i, timeout_ms in enumerate(session_timeouts_ms):
        variant = f"{'before' if i == 0 else 'after'}: session.timeout.ms {timeout_ms}"
        rows += _rows("dead group member", "Kafka", variant, session_timeout_s=timeout_ms / 1000,
                      partitions_orphaned_s=_orphaned_for(brokers, timeout_ms, partitions))
    return pd.DataFrame(rows, columns=COLUMNS)


def _orphaned_for(brokers: Endpoints, session_ms: int, partitions: int) -> float:
    topic = unique("member")
    group = f"{topic}.g"
    kafka_topic(brokers.kafka_bootstrap, topic, partitions)
    member = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlab.experiments.patterns.killable_member",
            brokers.kafka_bootstrap,
            topic,
            group,
            str(session_ms),
        ],
        stdout=subprocess.PIPE,
        text=True,
        stderr=subprocess.DEVNULL,
    )
    survivor = kafka_consumer(brokers.kafka_bootstrap, group, **{"session.timeout.ms": session_ms,
                                                            "heartbeat.interval.ms": max(500, session_ms // 6)})
    try:
        # the other member first gets everything, then gives half to the survivor when it joins
        line = member.stdout.readline()
        deadline = time.monotonic() + 30
        while not line.startswith("assigned") or line.strip() == "assigned 0":
            line = member.stdout.readline()
            if time.monotonic() > deadline:
                raise RuntimeError("the member process never got an assignment")
        survivor.subscribe([topic])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            survivor.poll(0.1)
            if 0 < len(survivor.assignment()) < partitions:
                break
        else:
            raise RuntimeError("the group never split its partitions between two members")
        time.sleep(1.0)                                # both members stable
        member.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        while time.monotonic() - killed < session_ms / 1000 * 3 + 30:
            survivor.poll(0.1)
            if len(survivor.assignment()) == partitions:
                return time.monotonic() - killed
        return float("nan")
    finally:
        if member.poll() is None:
            member.kill()
        member.wait()
        member.stdout.close()
        survivor.close()
        kafka_cleanup(brokers.kafka_bootstrap, [topic], [group])


def verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """Wide view for the chapter: one row per (issue, back end, variant), one column per metric."""
    return table.pivot_table(index=["issue", "backend", "variant"], columns="metric", values="value",
                             sort=False)


def verdicts_per_issue(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """`verdicts` split by issue, each with only its own metrics: one wide table of every issue's
    metrics has more columns than a page shows, and most of its cells are empty."""
    wide = verdicts(table)
    return {issue: rows.droplevel("issue").dropna(axis=1, how="all")
            for issue, rows in wide.groupby(level="issue", sort=False)}


def value(table: pd.DataFrame, backend: str, variant_start: str, metric: str) -> float:
    """One figure of an issues table: the first row of `backend` whose variant starts with `variant_start`."""
    rows = table[(table["backend"] == backend) & table["variant"].str.startswith(variant_start)
                 & (table["metric"] == metric)]
    if rows.empty:
        raise KeyError(f"no {metric!r} for {backend} / {variant_start!r}")
    return float(rows["value"].iloc[0])
