"""confluent-kafka (librdkafka) producers and consumers, the Python fast path.

Configured like kafka-producer-perf-test's Java producer: acks, batch.size,
linger.ms and compression from the workload, idempotence on with acks=all (the
Java default), at most 5 requests in flight per connection, and a 32 MB send
buffer without a record-count cap (Java's buffer.memory).

At max rate the producer asks librdkafka for error-only delivery reports and
counts acknowledged records as `sent − len(producer) − errors`: a Python callback
per record would cost more than the produce call itself. In fixed-rate mode a
callback per record is affordable and records the send→ack latency as well.
"""

from __future__ import annotations

import time
from typing import Any

from ...measure.latency import LatencyRecorder, Timeline
from ...transport import kafka_admin
from ...transport.kafka_confluent import JAVA_PARTITIONER
from ..workload import Workload
from .processes import (
    STAMP,
    ChildSpec,
    Control,
    KafkaProcessDriver,
    Schedule,
    consumer_payload,
    payload_template,
    producer_payload,
)


def producer_main(spec: ChildSpec, ctl: Control) -> None:
    from confluent_kafka import Producer

    wl = spec.workload
    topic = spec.target["topic"]
    fixed = spec.rate is not None
    errors = [0]
    acked_cb = [0]
    latency = LatencyRecorder() if fixed else None

    def on_delivery(err, msg) -> None:
        if err is not None:
            errors[0] += 1
        elif latency is not None:
            acked_cb[0] += 1
            latency.append_ns(int(msg.latency() * 1e9))

    conf = {"partitioner": JAVA_PARTITIONER, **spec.settings, "bootstrap.servers": spec.endpoint,
            "on_delivery": on_delivery, "logger": kafka_admin.client_logger()}
    if not fixed:
        conf["delivery.report.only.error"] = True
    producer = Producer(conf)
    producer.list_topics(topic, timeout=15)           # connections and metadata before the clock starts
    ctl.ready(spec)
    start = ctl.wait_start(spec)
    end = start + wl.warmup_s + wl.duration_s
    end_ns = int(end * 1e9)

    produce, poll, time_ns, pack = producer.produce, producer.poll, time.time_ns, STAMP.pack_into
    buf = payload_template(wl.message_size, seed=spec.index)
    size = len(buf)
    timeline = Timeline(start)
    limit = spec.max_records if spec.max_records is not None else 1 << 62
    slot = spec.index
    counters = ctl.counters
    stop = ctl.stop
    sent = acked = 0
    chunk = 1000 if size <= 2048 else 200

    def acked_now() -> int:
        return acked_cb[0] if fixed else sent - len(producer) - errors[0]

    if not fixed:
        while sent < limit:
            if time.time() >= end or stop.is_set():
                break
            n = min(chunk, limit - sent)
            for _ in range(n):
                pack(buf, 0, time_ns())
                while True:
                    try:
                        produce(topic, bytes(buf))
                        break
                    except BufferError:            # send buffer full: wait, as Java's send() blocks.
                        poll(0.01)                 # (error-only reports: poll sleeps the whole 10 ms,
                                                   # a small share of the 32 MB buffer's worth of sending)
            sent += n
            poll(0)
            now_acked = acked_now()
            timeline.add(time.time(), now_acked - acked, (now_acked - acked) * size)
            acked = now_acked
            counters[slot] = sent
    else:
        schedule = Schedule(spec.rate, int(start * 1e9))
        while sent < limit and not stop.is_set():
            now = time_ns()
            if now >= end_ns:
                break
            due = schedule.due(now, limit - sent)
            for _ in range(due):
                pack(buf, 0, schedule.next_due_ns())   # the intended time: coordinated omission stays visible
                schedule.index += 1
                while True:
                    try:
                        produce(topic, bytes(buf))
                        break
                    except BufferError:
                        poll(0.001)
            sent += due
            poll(0)
            now_acked = acked_now()
            if now_acked != acked:
                timeline.add(time.time(), now_acked - acked, (now_acked - acked) * size)
                acked = now_acked
            counters[slot] = sent
            wait = (schedule.next_due_ns() - time_ns()) / 1e9
            if wait > 0:
                poll(min(wait, 0.005))                 # sleep by serving delivery reports
    send_end = time.time()
    deadline = send_end + 30
    while len(producer) > 0 and time.time() < deadline:
        poll(0.05)
        now_acked = acked_now()
        timeline.add(time.time(), now_acked - acked, (now_acked - acked) * size)
        acked = now_acked
    producer.flush(1)
    now_acked = acked_now()
    timeline.add(time.time(), now_acked - acked, (now_acked - acked) * size)
    ctl.report(spec, producer_payload(records=now_acked, errors=errors[0] + len(producer), timeline=timeline,
                                      send_end=send_end, latency=latency, extra={"sent": sent}))


def consumer_main(spec: ChildSpec, ctl: Control) -> None:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    wl = spec.workload
    topic = spec.target["topic"]
    conf = dict(spec.settings, **{"bootstrap.servers": spec.endpoint, "logger": kafka_admin.client_logger(),
                                  "group.id": f"streamlab-bench-{spec.run_tag}"})
    consumer = Consumer(conf)
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in spec.assignment])
    consumer.list_topics(topic, timeout=15)
    ctl.ready(spec)
    start = ctl.wait_start(spec)

    record_latency = not spec.sequential
    latency = LatencyRecorder() if record_latency else None
    append = latency.append_ns if latency is not None else None
    warm_ns = int((start + wl.warmup_s) * 1e9)
    unpack = STAMP.unpack_from
    time_ns = time.time_ns
    timeline = Timeline(start)
    consume, poll = consumer.consume, consumer.poll
    stop = ctl.stop
    counters = ctl.counters
    slot = wl.producers + spec.index
    received = nbytes = errors = 0
    first_poll = time.time()
    last_receive = first_poll
    while True:
        # consume(n, timeout) waits for n messages or the timeout: never block in it, or the
        # batch's first record waits up to `timeout` (latency); block in poll() for one instead
        msgs = consume(1000, 0)
        if not msgs:
            first = poll(0.1)
            if first is None:
                if stop.is_set():
                    break
                continue
            msgs = [first]
            msgs.extend(consume(999, 0))
        now = time_ns()
        n = b = 0
        for msg in msgs:
            if msg.error() is not None:
                errors += 1
                continue
            value = msg.value()
            n += 1
            b += len(value)
            if record_latency:
                sent_ns = unpack(value)[0]
                if sent_ns >= warm_ns:
                    append(now - sent_ns)
        received += n
        nbytes += b
        last_receive = now / 1e9
        timeline.add(last_receive, n, b)
        counters[slot] = received
        if latency is not None:
            latency.maybe_flush()
    consumer.close()
    ctl.report(spec, consumer_payload(records=received, nbytes=nbytes, timeline=timeline, first_poll=first_poll,
                                      last_receive=last_receive, latency=latency, errors=errors))


class ConfluentDriver(KafkaProcessDriver):
    name = "confluent-kafka"
    description = "confluent-kafka (librdkafka) producer and consumer processes"
    producer_entry = staticmethod(producer_main)
    consumer_entry = staticmethod(consumer_main)

    def client_version(self) -> str:
        import confluent_kafka

        return f"confluent-kafka {confluent_kafka.version()[0]} (librdkafka {confluent_kafka.libversion()[0]})"

    def client_settings(self, workload: Workload) -> dict[str, Any]:
        # queue.buffering.*: the Java producer buffers up to buffer.memory = 32 MB whatever the record
        # count; librdkafka's default also caps the queue at 100,000 messages, which a max-rate
        # producer of small records hits at once and then spins on BufferError (measured here:
        # up to 2× fewer records/s and more CPU per record). Same limit as Java: 32 MB, no count cap.
        producer = {
            "acks": workload.acks, "batch.size": workload.batch_size, "linger.ms": workload.linger_ms,
            "compression.type": workload.compression, "enable.idempotence": workload.acks == "all",
            "max.in.flight.requests.per.connection": 5, "queue.buffering.max.kbytes": 32768,
            "queue.buffering.max.messages": 10_000_000, "client.id": "streamlab-bench-producer",
        }
        # fetch.queue.backoff.ms: librdkafka pauses fetching for 1 s (its default) whenever its prefetch
        # queue is over threshold, which a Python consumer slower than the fetcher hits all the time:
        # the consumer then idles in bursts. 10 ms keeps the queue fed.
        consumer = {"enable.auto.commit": False, "auto.offset.reset": "earliest",
                    "client.id": "streamlab-bench-consumer", "fetch.queue.backoff.ms": 10}
        return {"producer": producer, "consumer": consumer}
