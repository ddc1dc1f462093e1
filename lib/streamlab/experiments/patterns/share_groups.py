"""Kafka's own queue (share groups, KIP-932) beside a consumer group and a RabbitMQ quorum queue.

Three questions, each on the same workload for the three back ends:

* ``spread``: more consumers than partitions. A backlog on a 6-partition topic
  (one quorum queue for RabbitMQ) is drained by 1…12 consumers that spend
  ``delay_ms`` on each record (simulated I/O, a sleep: it frees the GIL, so the
  consumers are threads of one process). A consumer group uses at most one
  consumer per partition; a share group hands records of one partition to
  several members; a queue to any number.
* ``poison``: a record its consumer can never handle, at the head of one
  partition / the queue: how often it comes back, when the broker gives up and
  what happens to the records behind it.
* ``killed``: a consumer SIGKILLed with a batch in hand: what the others get
  again, and when (uncommitted offsets after the session timeout, the share
  group's acquisition lock, RabbitMQ's requeue of unacked messages on a closed
  connection).

The functions return facts (tidy frames with the settings that decided them);
the chapter says what they mean. Topics, queues and groups are uniquely named
and deleted at the end.
"""

from __future__ import annotations

import contextlib
import math
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ...transport import kafka_admin
from ...transport.rabbitmq import delete_queues
from ...transport.spec import Endpoints
from .brokers import amqp_channel, kafka_cleanup, kafka_topic, unique

CONSUMER_GROUP = "Kafka consumer group"
SHARE_GROUP = "Kafka share group"
QUORUM_QUEUE = "RabbitMQ quorum queue"
BACKENDS = (CONSUMER_GROUP, SHARE_GROUP, QUORUM_QUEUE)

#: A share group member gets (and loses) partitions on its heartbeats: 5 s apart at the least
#: (`group.share.min.heartbeat.interval.ms`), after an assignment that runs every second
#: (`group.share.assignment.interval.ms`). Members started together are all assigned within this.
SHARE_SETTLE_S = 7.0
#: A classic consumer group whose members have held all partitions this long has seen its last join: members
#: that join one after another rebalance it again and again, and a second was too short for 12 of them.
GROUP_STABLE_S = 3.0
#: The shortest acquisition lock the brokers allow a group (`group.share.min.record.lock.duration.ms`).
SHARE_LOCK_MS = 15000
#: The shortest session a classic consumer group member may have (`group.min.session.timeout.ms`).
SESSION_MS = 6000
#: The AMQP heartbeat the stopped RabbitMQ consumer asks for (pika's and the server's default: 60 s): a hung
#: consumer's connection, and with it its unacked messages, is given up after about two missed beats.
HEARTBEAT_S = 5


def share_group_config(delivery_limit: int | None = None, lock_ms: int | None = None) -> dict[str, str]:
    """The group configs the experiments set before a share group's first member joins: read from the
    start (the default, `latest`, would skip a backlog published before the join), and the two limits."""
    config = {"share.auto.offset.reset": "earliest"}
    if delivery_limit is not None:
        config["share.delivery.count.limit"] = str(delivery_limit)
    if lock_ms is not None:
        config["share.record.lock.duration.ms"] = str(lock_ms)
    return config


def share_consumer(bootstrap: str, group: str, explicit: bool = False, max_poll_records: int | None = None):
    """A confluent-kafka ShareConsumer; `explicit`: each record acknowledged on its own (accept, release, reject)."""
    from confluent_kafka import ShareConsumer

    from ...transport.kafka_admin import quiet_logger

    settings = {"bootstrap.servers": bootstrap, "group.id": group, "logger": quiet_logger(),
                "share.acknowledgement.mode": "explicit" if explicit else "implicit"}
    if max_poll_records is not None:
        settings["max.poll.records"] = max_poll_records
    return ShareConsumer(settings)


def produce_spread(bootstrap: str, topic: str, partitions: int, values: list[bytes], batch: int = 1) -> None:
    """Produce `values` round-robin over the partitions (no key: the sticky partitioner would fill one), at
    most `batch` records per produced batch.

    Why the batch matters: a share group's broker acquires records for a consumer by whole produced batches
    (the Java client's `share.acquire.mode=batch_optimized`, KIP-1206; librdkafka has no such setting), so a
    consumer's `max.poll.records` only bounds what it takes when batches are at most that small."""
    from confluent_kafka import Producer

    from ...transport.kafka_admin import quiet_logger

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5 if batch > 1 else 0,
                         "batch.num.messages": batch, "logger": quiet_logger()})
    for i, value in enumerate(values):
        producer.produce(topic, value, partition=i % partitions)
        producer.poll(0)
    if producer.flush(30):
        raise RuntimeError(f"{topic}: records not acknowledged within 30 s")


# --------------------------------------------------------------------------- consumers as threads


@dataclass
class Tally:
    """What the consumers of one run did: records handled per consumer, deliveries per record, times."""
    consumers: int
    per_consumer: list[int] = field(default_factory=list)
    deliveries: Counter = field(default_factory=Counter)
    done_at: dict[bytes, float] = field(default_factory=dict)
    handled_at: list[tuple[int, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.per_consumer = [0] * self.consumers

    def handled(self, who: int, value: bytes) -> None:
        with self.lock:
            self.per_consumer[who] += 1
            self.deliveries[value] += 1
            now = time.monotonic()
            self.done_at.setdefault(value, now)
            self.handled_at.append((who, now))


Worker = Callable[[int, threading.Event, threading.Event], None]


def _run_threads(n: int, worker: Worker) -> tuple[list[threading.Event], threading.Event, list[threading.Thread]]:
    ready = [threading.Event() for _ in range(n)]
    stop = threading.Event()
    threads = [threading.Thread(target=worker, args=(i, ready[i], stop), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    return ready, stop, threads


def _kafka_group_worker(bootstrap: str, topic: str, group: str, tally: Tally, delay_s: float, batch: int,
                        assigned: list[int]) -> Worker:
    def work(who: int, ready: threading.Event, stop: threading.Event) -> None:
        from .brokers import kafka_consumer

        consumer = kafka_consumer(bootstrap, group, **{"session.timeout.ms": SESSION_MS})
        consumer.subscribe([topic])
        try:
            while not stop.is_set():
                messages = consumer.consume(num_messages=batch, timeout=0.2)
                assigned[who] = len(consumer.assignment())
                ready.set()
                for msg in messages:
                    if msg.error() is None:
                        time.sleep(delay_s)
                        tally.handled(who, msg.value())
                if messages:
                    consumer.commit(asynchronous=True)
        finally:
            consumer.close()
    return work


def _share_worker(bootstrap: str, topic: str, group: str, tally: Tally, delay_s: float, batch: int) -> Worker:
    def work(who: int, ready: threading.Event, stop: threading.Event) -> None:
        consumer = share_consumer(bootstrap, group, max_poll_records=batch)
        consumer.subscribe([topic])
        try:
            while not stop.is_set():
                messages = consumer.poll(0.2)
                ready.set()
                for msg in messages:
                    if msg.error() is None:
                        time.sleep(delay_s)
                        tally.handled(who, msg.value())
        finally:
            consumer.close()
    return work


def _rabbit_worker(amqp_url: str, queue: str, tally: Tally, delay_s: float, prefetch: int) -> Worker:
    def work(who: int, ready: threading.Event, stop: threading.Event) -> None:
        with amqp_channel(amqp_url) as channel:
            channel.basic_qos(prefetch_count=prefetch)
            ready.set()
            for method, _props, body in channel.consume(queue, inactivity_timeout=0.2):
                if stop.is_set():
                    break
                if method is None:
                    continue
                time.sleep(delay_s)
                tally.handled(who, body)
                channel.basic_ack(method.delivery_tag)
            with contextlib.suppress(Exception):
                channel.cancel()
    return work


# --------------------------------------------------------------------------- (a) more consumers than partitions


def spread(brokers: Endpoints, consumers: tuple[int, ...] = (1, 3, 6, 12), partitions: int = 6,
           delay_ms: float = 10.0, batch: int = 10, warm_s: float = 0.5, measure_s: float = 3.0,
           backends: tuple[str, ...] = BACKENDS) -> pd.DataFrame:
    """N consumers drain a backlog, spending `delay_ms` on each record; per back end and N.

    The backlog is published once every consumer has joined and is larger than N consumers can handle in
    the run; the rate is the records handled in a window of `measure_s` seconds that opens `warm_s` after
    the first record was handled. Columns: backend, consumers, partitions, delay_ms, batch, handled,
    seconds, msgs_per_s, ceiling_msgs_per_s (N / delay: every consumer busy all the time), busy_consumers
    (those that handled a record in the window), largest_share_pct (the busiest consumer's part of the
    window's work; 100/N is an even spread), redelivered (records handled twice in the whole run).
    `batch` is each consumer's `max.poll.records` (share group), `consume(num_messages)` (consumer group)
    and prefetch (RabbitMQ): how much one consumer takes at a time."""
    rows = []
    for backend in backends:
        for n in consumers:
            backlog = int(1.5 * n * (warm_s + measure_s + 1.0) * 1000 / max(delay_ms, 1.0)) + 10 * batch * n
            tally = _drain(brokers, backend, n, partitions, backlog, delay_ms / 1000, batch, warm_s + measure_s)
            first = min(tally.done_at.values()) if tally.done_at else 0.0
            window = [who for who, at in tally.handled_at if first + warm_s <= at < first + warm_s + measure_s]
            per = Counter(window)
            rows.append({"backend": backend, "consumers": n, "partitions": partitions, "delay_ms": delay_ms,
                         "batch": batch, "handled": len(window), "seconds": measure_s,
                         "msgs_per_s": len(window) / measure_s,
                         "ceiling_msgs_per_s": n * 1000 / max(delay_ms, 1e-3),
                         "busy_consumers": len(per),
                         "largest_share_pct": 100 * max(per.values()) / len(window) if window else float("nan"),
                         "redelivered": sum(tally.deliveries.values()) - len(tally.deliveries)})
    return pd.DataFrame(rows)


def _drain(brokers: Endpoints, backend: str, n: int, partitions: int, messages: int, delay_s: float,
           batch: int, run_s: float, timeout_s: float = 30.0) -> Tally:
    values = [f"r{i:06d}".encode() for i in range(messages)]
    tally = Tally(n)
    name = unique("share-spread")
    assigned = [0] * n
    if backend == QUORUM_QUEUE:
        worker = _rabbit_worker(brokers.amqp_url, name, tally, delay_s, batch)
        with amqp_channel(brokers.amqp_url) as channel:
            channel.queue_declare(name, durable=True, arguments={"x-queue-type": "quorum"})
    else:
        kafka_topic(brokers.kafka_bootstrap, name, partitions=partitions)
        if backend == SHARE_GROUP:
            kafka_admin.set_group_config(brokers.kafka_bootstrap, name, share_group_config())
            worker = _share_worker(brokers.kafka_bootstrap, name, name, tally, delay_s, batch)
        else:
            worker = _kafka_group_worker(brokers.kafka_bootstrap, name, name, tally, delay_s, batch, assigned)
    ready, stop, threads = _run_threads(n, worker)
    try:
        _wait_joined(backend, ready, assigned, partitions)
        if backend == QUORUM_QUEUE:
            with amqp_channel(brokers.amqp_url) as channel:
                for value in values:
                    channel.basic_publish("", name, value)
        else:
            produce_spread(brokers.kafka_bootstrap, name, partitions, values)
        deadline = time.monotonic() + timeout_s
        while not tally.done_at and time.monotonic() < deadline:
            time.sleep(0.05)
        if tally.done_at:
            time.sleep(max(0.0, min(tally.done_at.values()) + run_s - time.monotonic()))
        return tally
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        if backend == QUORUM_QUEUE:
            delete_queues(brokers.amqp_url, [name], [])
        else:
            kafka_cleanup(brokers.kafka_bootstrap, [name], [name])


def _wait_joined(backend: str, ready: list[threading.Event], assigned: list[int], partitions: int,
                 timeout_s: float = 30.0) -> None:
    """Until every consumer has polled once and the group has settled: a consumer group until its partitions
    are spread over as many members as can hold one, unchanged for GROUP_STABLE_S (a member that joins late
    would otherwise find one member holding everything); a share group for SHARE_SETTLE_S (its client does
    not show its assignment); a queue at once."""
    deadline = time.monotonic() + timeout_s
    for event in ready:
        event.wait(max(0.0, deadline - time.monotonic()))
    if backend == SHARE_GROUP:
        time.sleep(SHARE_SETTLE_S)
    elif backend == CONSUMER_GROUP:
        stable_since = None
        while time.monotonic() < deadline:
            holders = sum(1 for a in assigned if a)
            if sum(assigned) == partitions and holders == min(len(assigned), partitions):
                stable_since = stable_since or time.monotonic()
                if time.monotonic() - stable_since >= GROUP_STABLE_S:
                    return
            else:
                stable_since = None
            time.sleep(0.1)


# --------------------------------------------------------------------------- (b) the poison record


def poison(brokers: Endpoints, behind: int = 20, delivery_limit: int = 3, delay_ms: float = 10.0,
           window_s: float = 10.0) -> pd.DataFrame:
    """A record that always fails, at the head of one partition / the queue, with `behind` good records
    after it. Its handler fails each time: the consumer group's consumer seeks back to it (a crash and
    restart at the committed offset, without the restart's cost); the share group's consumer RELEASEs it
    (share.delivery.count.limit = `delivery_limit`); RabbitMQ's consumer nacks it with requeue
    (x-delivery-limit = `delivery_limit`, a dead-letter exchange with a queue bound).

    Columns: backend, setting, poison_deliveries, given_up (1: archived or dead-lettered by the broker),
    give_up_s (first to last delivery of the poison record), good_processed, good_behind, last_good_s
    (from the first delivery to the last good record handled), window_s."""
    rows = [_poison_group(brokers, behind, delay_ms / 1000, window_s),
            _poison_share(brokers, behind, delivery_limit, delay_ms / 1000, window_s),
            _poison_rabbit(brokers, behind, delivery_limit, delay_ms / 1000, window_s)]
    return pd.DataFrame(rows)


POISON = b"poison"


def _good(behind: int) -> list[bytes]:
    return [f"good:{i}".encode() for i in range(behind)]


@dataclass
class PoisonLog:
    """Deliveries of the poison record and good records handled, in time."""
    first: float | None = None
    poison_at: list[float] = field(default_factory=list)
    good_at: list[float] = field(default_factory=list)

    def delivered(self, value: bytes) -> bool:
        """Note a delivery; True if it was the poison record."""
        now = time.monotonic()
        self.first = self.first or now
        if value == POISON:
            self.poison_at.append(now)
            return True
        self.good_at.append(now)
        return False

    def row(self, backend: str, setting: str, behind: int, given_up: bool, window_s: float) -> dict[str, Any]:
        first = self.first or 0.0
        return {"backend": backend, "setting": setting, "poison_deliveries": len(self.poison_at),
                "given_up": int(given_up),
                "give_up_s": (self.poison_at[-1] - self.poison_at[0]) if given_up and self.poison_at else float("nan"),
                "good_processed": len(self.good_at), "good_behind": behind,
                "last_good_s": (self.good_at[-1] - first) if self.good_at else float("nan"), "window_s": window_s}


def _poison_group(brokers: Endpoints, behind: int, delay_s: float, window_s: float) -> dict[str, Any]:
    from confluent_kafka import TopicPartition

    from .brokers import kafka_consumer

    topic = unique("poison-cg")
    log = PoisonLog()
    try:
        kafka_topic(brokers.kafka_bootstrap, topic, partitions=1)
        produce_spread(brokers.kafka_bootstrap, topic, 1, [POISON, *_good(behind)])
        consumer = kafka_consumer(brokers.kafka_bootstrap, topic)
        consumer.subscribe([topic])
        deadline = None
        try:
            while deadline is None or time.monotonic() < deadline:
                for msg in consumer.consume(num_messages=10, timeout=0.2):
                    if msg.error() is not None:
                        continue
                    deadline = deadline or time.monotonic() + window_s
                    time.sleep(delay_s)
                    if log.delivered(msg.value()):
                        # the handler failed: start again at the committed offset, as a restarted consumer would
                        consumer.seek(TopicPartition(topic, msg.partition(), msg.offset()))
                        break
                    consumer.commit(msg, asynchronous=False)
        finally:
            consumer.close()
        return log.row(CONSUMER_GROUP, "no limit in the broker: the app must skip or dead-letter", behind,
                       False, window_s)
    finally:
        kafka_cleanup(brokers.kafka_bootstrap, [topic], [topic])


def _poison_share(brokers: Endpoints, behind: int, limit: int, delay_s: float, window_s: float) -> dict[str, Any]:
    from confluent_kafka import AcknowledgeType

    topic = unique("poison-sg")
    log = PoisonLog()
    try:
        kafka_topic(brokers.kafka_bootstrap, topic, partitions=1)
        kafka_admin.set_group_config(brokers.kafka_bootstrap, topic, share_group_config(delivery_limit=limit))
        produce_spread(brokers.kafka_bootstrap, topic, 1, [POISON, *_good(behind)])
        consumer = share_consumer(brokers.kafka_bootstrap, topic, explicit=True, max_poll_records=10)
        consumer.subscribe([topic])
        deadline = time.monotonic() + window_s + 15      # the first poll includes joining the group
        try:
            while time.monotonic() < deadline:
                messages = consumer.poll(0.2)
                for msg in messages:
                    if msg.error() is not None:
                        continue
                    time.sleep(delay_s)
                    failed = log.delivered(msg.value())
                    consumer.acknowledge(msg, AcknowledgeType.RELEASE if failed else AcknowledgeType.ACCEPT)
                if messages:
                    consumer.commit_sync(10)
                    deadline = min(deadline, (log.first or time.monotonic()) + window_s)
                if len(log.good_at) >= behind and len(log.poison_at) >= limit:
                    break
        finally:
            consumer.close()
        given_up = len(log.poison_at) >= limit and _share_backlog_settled(brokers.kafka_bootstrap, topic)
        return log.row(SHARE_GROUP, f"share.delivery.count.limit={limit}, RELEASE on failure", behind,
                       given_up, window_s)
    finally:
        kafka_cleanup(brokers.kafka_bootstrap, [topic], [topic])


def _share_backlog_settled(bootstrap: str, topic: str, wait_s: float = 3.0) -> bool:
    """True if a fresh member of the same share group gets nothing more: the poison record was archived."""
    consumer = share_consumer(bootstrap, topic)
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if any(m.error() is None for m in consumer.poll(0.2)):
                return False
        return True
    finally:
        consumer.close()


def _poison_rabbit(brokers: Endpoints, behind: int, limit: int, delay_s: float, window_s: float) -> dict[str, Any]:
    from .brokers import drain_queue

    queue = unique("poison-qq")
    dlx, dlq = f"{queue}.dlx", f"{queue}.dlq"
    log = PoisonLog()
    try:
        with amqp_channel(brokers.amqp_url) as channel:
            channel.exchange_declare(dlx, "fanout", durable=True)
            channel.queue_declare(dlq, durable=True, arguments={"x-queue-type": "quorum"})
            channel.queue_bind(dlq, dlx)
            channel.queue_declare(queue, durable=True, arguments={
                "x-queue-type": "quorum", "x-delivery-limit": limit, "x-dead-letter-exchange": dlx})
            for value in [POISON, *_good(behind)]:
                channel.basic_publish("", queue, value)
            channel.basic_qos(prefetch_count=10)
            deadline = time.monotonic() + window_s
            for method, _props, body in channel.consume(queue, inactivity_timeout=0.2):
                if time.monotonic() > deadline:
                    break
                if method is None:
                    if len(log.good_at) >= behind and log.poison_at and time.monotonic() - log.poison_at[-1] > 1:
                        break
                    continue
                time.sleep(delay_s)
                if log.delivered(body):
                    channel.basic_nack(method.delivery_tag, requeue=True)
                else:
                    channel.basic_ack(method.delivery_tag)
            channel.cancel()
        with amqp_channel(brokers.amqp_url) as channel:
            dead = drain_queue(channel, dlq, timeout_s=2.0)
        return log.row(QUORUM_QUEUE, f"x-delivery-limit={limit} + dead-letter exchange, nack requeue on failure",
                       behind, any(body == POISON for _m, _p, body in dead), window_s)
    finally:
        delete_queues(brokers.amqp_url, [queue, dlq], [dlx])


# --------------------------------------------------------------------------- (c) a consumer killed mid-batch


def killed(brokers: Endpoints, messages: int = 30, batch: int = 10, handled: int = 4, timeout_s: float = 40.0,
           signals: tuple[str, ...] = ("SIGKILL",)) -> pd.DataFrame:
    """A consumer takes a batch of `batch` records, handles and acknowledges (commits) `handled` of them
    and is stopped holding the rest: SIGKILL (a crash: its connections close) or SIGSTOP (a hang: its
    connections stay open, it answers nothing); a second consumer of the same group/queue, running from
    before, takes over. Columns: backend, signal, setting, messages, in_hand (taken, not acknowledged),
    redelivered (of those, the records the survivor got), duplicates (acknowledged records delivered
    again), survivor_got, stop_to_redelivery_s (the stop to the first of the held records at the
    survivor), taken_to_redelivery_s (from when the stopped member had taken its batch), stop_to_all_s."""
    return pd.DataFrame([_killed_run(brokers, backend, sig, messages, batch, handled, timeout_s)
                         for sig in signals for backend in BACKENDS])


#: What decides when held records come back, per back end and signal.
SETTINGS = {
    (CONSUMER_GROUP, "SIGKILL"): f"uncommitted offsets, reassigned after session.timeout.ms={SESSION_MS}",
    (CONSUMER_GROUP, "SIGSTOP"): f"uncommitted offsets, reassigned after session.timeout.ms={SESSION_MS}",
    (SHARE_GROUP, "SIGKILL"): "acquired records released when the member's connection closes",
    (SHARE_GROUP, "SIGSTOP"): f"acquisition lock, share.record.lock.duration.ms={SHARE_LOCK_MS}",
    (QUORUM_QUEUE, "SIGKILL"): "unacked messages requeued when the connection closes",
    (QUORUM_QUEUE, "SIGSTOP"): "unacked until the connection is closed: AMQP heartbeat "
                               f"{HEARTBEAT_S} s (default 60 s) or consumer_timeout (default 30 min)",
}


def _killed_run(brokers: Endpoints, backend: str, sig: str, messages: int, batch: int, handled: int,
                timeout_s: float) -> dict[str, Any]:
    name = unique("share-killed")
    values = [f"k{i:04d}".encode() for i in range(messages)]
    target = brokers.amqp_url if backend == QUORUM_QUEUE else brokers.kafka_bootstrap
    tally = Tally(1)
    try:
        if backend == QUORUM_QUEUE:
            with amqp_channel(brokers.amqp_url, confirms=True) as channel:
                channel.queue_declare(name, durable=True, arguments={"x-queue-type": "quorum"})
                for value in values:
                    channel.basic_publish("", name, value)
        else:
            kafka_topic(brokers.kafka_bootstrap, name, partitions=1)
            if backend == SHARE_GROUP:
                kafka_admin.set_group_config(brokers.kafka_bootstrap, name,
                                             share_group_config(lock_ms=SHARE_LOCK_MS))
            produce_spread(brokers.kafka_bootstrap, name, 1, values)
        with _member(backend, target, name, batch, handled) as (proc, taken, taken_at):
            worker = {CONSUMER_GROUP: lambda: _kafka_group_worker(target, name, name, tally, 0.0, batch, [0]),
                      SHARE_GROUP: lambda: _share_worker(target, name, name, tally, 0.0, batch),
                      QUORUM_QUEUE: lambda: _rabbit_worker(target, name, tally, 0.0, batch)}[backend]()
            ready, stop, threads = _run_threads(1, worker)
            try:
                ready[0].wait(30)
                if backend == SHARE_GROUP:
                    time.sleep(SHARE_SETTLE_S)
                stopped_at = time.monotonic()
                proc.send_signal(getattr(signal, sig))
                deadline = stopped_at + timeout_s
                unhandled = set(values) - set(taken[:handled])
                while time.monotonic() < deadline and not unhandled <= set(tally.deliveries):
                    time.sleep(0.05)
            finally:
                stop.set()
                threads[0].join(30)
        in_hand = set(taken[handled:])
        again = [tally.done_at[v] for v in in_hand if v in tally.done_at]
        return {"backend": backend, "signal": sig, "setting": SETTINGS[(backend, sig)], "messages": messages,
                "in_hand": len(in_hand), "redelivered": len(again),
                "duplicates": sum(1 for v in taken[:handled] if v in tally.deliveries),
                "survivor_got": len(tally.deliveries),
                "stop_to_redelivery_s": (min(again) - stopped_at) if again else float("nan"),
                "taken_to_redelivery_s": (min(again) - taken_at) if again else float("nan"),
                "stop_to_all_s": (max(tally.done_at.values()) - stopped_at) if tally.done_at else float("nan")}
    finally:
        if backend == QUORUM_QUEUE:
            delete_queues(brokers.amqp_url, [name], [])
        else:
            kafka_cleanup(brokers.kafka_bootstrap, [name], [name])


@contextlib.contextmanager
def _member(backend: str, target: str, name: str, batch: int,
            handled: int) -> Iterator[tuple[subprocess.Popen, list[bytes], float]]:
    """The member to be stopped, as its own process (killable_reader): yields it with the records it took
    and when it reported them; killed (also when stopped) and reaped on exit."""
    cmd = [sys.executable, "-m", "streamlab.experiments.patterns.killable_reader", backend, target, name,
           str(batch), str(handled)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("holding "):
            raise RuntimeError(f"{backend}: the member to be killed did not take a batch ({line.strip()!r})")
        yield proc, [v.encode() for v in line.split()[1:]], time.monotonic()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


# --------------------------------------------------------------------------- the comparison table's rows


def comparison_rows(spread_table: pd.DataFrame, poison_table: pd.DataFrame, killed_table: pd.DataFrame,
                    versions: dict[str, str]) -> pd.DataFrame:
    """The comparison table's rows, one per back end: what each run showed and the settings that decided
    it, with the broker (name and version) it ran on."""
    most = spread_table[spread_table["consumers"] == spread_table["consumers"].max()].set_index("backend")
    p = poison_table.set_index("backend")
    rows = []
    for backend in BACKENDS:
        broker = versions["rabbitmq" if backend == QUORUM_QUEUE else "kafka"]
        n = int(most.loc[backend, "consumers"])
        row = {"back end": backend, "broker": broker,
               f"{n} consumers, {int(most.loc[backend, 'partitions'])} partitions: busy":
                   int(most.loc[backend, "busy_consumers"]),
               "records/s": round(float(most.loc[backend, "msgs_per_s"])),
               "poison: deliveries": int(p.loc[backend, "poison_deliveries"]),
               "poison: given up by the broker": "yes" if p.loc[backend, "given_up"] else "no",
               "records behind the poison handled": f"{int(p.loc[backend, 'good_processed'])} of "
                                                    f"{int(p.loc[backend, 'good_behind'])}"}
        for sig, group in killed_table.groupby("signal", sort=False):
            k = group.set_index("backend").loc[backend]
            what = "crashed" if sig == "SIGKILL" else "hung"
            row[f"{what} ({sig}): held records back after (s)"] = round(float(k["stop_to_redelivery_s"]), 1)
            row[f"{what}: duplicates"] = int(k["duplicates"])
        row["decided by"] = "; ".join([str(p.loc[backend, "setting"]),
                                       *killed_table[killed_table["backend"] == backend]["setting"].unique()])
        rows.append(row)
    return pd.DataFrame(rows).set_index("back end")


#: The short names the chapter's glue keys use per back end.
KEYS = {CONSUMER_GROUP: "cg", SHARE_GROUP: "sg", QUORUM_QUEUE: "qq"}


def facts(spread_table: pd.DataFrame, poison_table: pd.DataFrame, killed_table: pd.DataFrame) -> dict[str, Any]:
    """The figures the chapter's prose quotes, by glue key (`share_<backend key>_<what>`): the rate and the
    busy consumers with one consumer, with as many as partitions (where run) and with the most; the poison
    record's deliveries, the time to give up and the records behind it; when held records came back after
    a crash and after a hang (where run); what released the share group's records after the crash
    (`share_sg_crash_how`: "the connection closing" well before the acquisition lock, "the lock elapsing", or
    "not within the run") and how many back ends had a consumer hung with SIGSTOP (`share_hang`, 0 in the
    quick profile)."""
    out: dict[str, Any] = {"share_partitions": int(spread_table["partitions"].iloc[0]),
                             "share_delay_ms": float(spread_table["delay_ms"].iloc[0]),
                             "share_batch": int(spread_table["batch"].iloc[0]),
                             "share_most": int(spread_table["consumers"].max()),
                             "share_behind": int(poison_table["good_behind"].iloc[0]),
                             "share_in_hand": int(killed_table["in_hand"].iloc[0])}
    for backend, key in KEYS.items():
        rows = spread_table[spread_table["backend"] == backend].set_index("consumers")
        out[f"share_{key}_one"] = float(rows["msgs_per_s"].iloc[0])
        out[f"share_{key}_most"] = float(rows.loc[out["share_most"], "msgs_per_s"])
        out[f"share_{key}_busy"] = int(rows.loc[out["share_most"], "busy_consumers"])
        out[f"share_{key}_largest"] = float(rows.loc[out["share_most"], "largest_share_pct"])
        p = poison_table.set_index("backend").loc[backend]
        out[f"share_{key}_poison"] = int(p["poison_deliveries"])
        out[f"share_{key}_good"] = int(p["good_processed"])
        out[f"share_{key}_give_up_s"] = float(p["give_up_s"])
        for sig, what in (("SIGKILL", "crash"), ("SIGSTOP", "hang")):
            k = killed_table[(killed_table["backend"] == backend) & (killed_table["signal"] == sig)]
            if len(k):
                out[f"share_{key}_{what}_s"] = float(k["stop_to_redelivery_s"].iloc[0])
                out[f"share_{key}_{what}_taken_s"] = float(k["taken_to_redelivery_s"].iloc[0])
                out[f"share_{key}_{what}_dups"] = int(k["duplicates"].iloc[0])
    crash_s = out["share_sg_crash_s"]
    out["share_sg_crash_how"] = ("not within the run" if math.isnan(crash_s) else
                                 "the connection closing" if crash_s < SHARE_LOCK_MS / 2000 else
                                 "the lock elapsing")
    out["share_hang"] = int((killed_table["signal"] == "SIGSTOP").sum())
    return out
