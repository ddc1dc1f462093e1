"""kafka-python producers and consumers (pure Python: the project owner's client).

Configured like kafka-producer-perf-test's Java producer (acks, batch_size,
linger_ms, compression from the workload; idempotence with acks=all; 5 requests
in flight). Each send gets one callback (`add_both`) that counts the ack or the
error and records the send→ack latency; next to kafka-python's own cost per
send (record accumulator, a background sender thread sharing the GIL) that is small.
"""

from __future__ import annotations

import time
from typing import Any

from ...measure.latency import LatencyRecorder, Timeline
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


def _acks(value: str) -> int | str:
    return "all" if value == "all" else int(value)


def producer_main(spec: ChildSpec, ctl: Control) -> None:
    from kafka import KafkaProducer

    wl = spec.workload
    topic = spec.target["topic"]
    conf = dict(spec.settings)
    conf["acks"] = _acks(conf["acks"])
    producer = KafkaProducer(bootstrap_servers=spec.endpoint.split(","), **conf)
    producer.partitions_for(topic)                    # metadata before the clock starts
    ctl.ready(spec)
    start = ctl.wait_start(spec)
    end = start + wl.warmup_s + wl.duration_s
    end_ns = int(end * 1e9)

    fixed = spec.rate is not None
    state = [0, 0]                                   # acked, errors
    latency = LatencyRecorder()
    lat_append = latency.append_ns
    time_ns = time.time_ns

    def on_done(sent_ns: int, outcome: Any) -> None:
        if isinstance(outcome, BaseException):
            state[1] += 1
        else:
            state[0] += 1
            lat_append(time_ns() - sent_ns)

    send, pack = producer.send, STAMP.pack_into
    buf = payload_template(wl.message_size, seed=spec.index)
    size = len(buf)
    timeline = Timeline(start)
    limit = spec.max_records if spec.max_records is not None else 1 << 62
    counters, slot, stop = ctl.counters, spec.index, ctl.stop
    sent = acked = 0
    chunk = 200
    schedule = Schedule(spec.rate, int(start * 1e9)) if fixed else None
    while sent < limit and not stop.is_set():
        now = time_ns()
        if now >= end_ns:
            break
        if schedule is None:
            n = min(chunk, limit - sent)
            for _ in range(n):
                t0 = time_ns()
                pack(buf, 0, t0)
                send(topic, bytes(buf)).add_both(on_done, t0)
        else:
            n = schedule.due(now, limit - sent)
            for _ in range(n):
                intended = schedule.next_due_ns()
                schedule.index += 1
                pack(buf, 0, intended)          # the intended time: coordinated omission stays visible
                send(topic, bytes(buf)).add_both(on_done, time_ns())
        sent += n
        if state[0] != acked:
            timeline.add(time.time(), state[0] - acked, (state[0] - acked) * size)
            acked = state[0]
        counters[slot] = sent
        latency.maybe_flush()
        if schedule is not None:
            wait = (schedule.next_due_ns() - time_ns()) / 1e9
            if wait > 0:
                time.sleep(min(wait, 0.005))
    send_end = time.time()
    deadline = send_end + 30
    producer.flush(timeout=30)
    while state[0] + state[1] < sent and time.time() < deadline:
        time.sleep(0.01)
    timeline.add(time.time(), state[0] - acked, (state[0] - acked) * size)
    producer.close(timeout=5)
    ctl.report(spec, producer_payload(records=state[0], errors=state[1] + (sent - state[0] - state[1]),
                                      timeline=timeline, send_end=send_end, latency=latency,
                                      extra={"sent": sent}))


def consumer_main(spec: ChildSpec, ctl: Control) -> None:
    from kafka import KafkaConsumer, TopicPartition

    wl = spec.workload
    topic = spec.target["topic"]
    consumer = KafkaConsumer(bootstrap_servers=spec.endpoint.split(","), group_id=None, **spec.settings)
    partitions = [TopicPartition(topic, p) for p in spec.assignment]
    consumer.assign(partitions)
    if partitions:
        consumer.seek_to_beginning(*partitions)
    consumer.topics()                                # connect before the clock starts
    ctl.ready(spec)
    start = ctl.wait_start(spec)

    record_latency = not spec.sequential
    latency = LatencyRecorder() if record_latency else None
    append = latency.append_ns if latency is not None else None
    warm_ns = int((start + wl.warmup_s) * 1e9)
    unpack, time_ns = STAMP.unpack_from, time.time_ns
    timeline = Timeline(start)
    poll, stop, counters = consumer.poll, ctl.stop, ctl.counters
    slot = wl.producers + spec.index
    received = nbytes = 0
    first_poll = time.time()
    last_receive = first_poll
    while True:
        batches = poll(timeout_ms=100, max_records=2000)
        if not batches:
            if stop.is_set():
                break
            continue
        now = time_ns()
        n = b = 0
        for records in batches.values():
            for record in records:
                value = record.value
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
                                      last_receive=last_receive, latency=latency))


class KafkaPythonDriver(KafkaProcessDriver):
    name = "kafka-python"
    description = "kafka-python (pure Python) producer and consumer processes"
    producer_entry = staticmethod(producer_main)
    consumer_entry = staticmethod(consumer_main)

    def client_version(self) -> str:
        import kafka

        return f"kafka-python {kafka.__version__}"

    def client_settings(self, workload: Workload) -> dict[str, Any]:
        producer = {
            "acks": workload.acks, "batch_size": workload.batch_size, "linger_ms": workload.linger_ms,
            "compression_type": None if workload.compression == "none" else workload.compression,
            "enable_idempotence": workload.acks == "all", "max_in_flight_requests_per_connection": 5,
            "client_id": "streamlab-bench-producer",
        }
        consumer = {"enable_auto_commit": False, "auto_offset_reset": "earliest",
                    "client_id": "streamlab-bench-consumer"}
        return {"producer": producer, "consumer": consumer}
