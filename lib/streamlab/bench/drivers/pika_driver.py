"""pika producers and consumers for RabbitMQ, set up like RabbitMQ PerfTest.

Same knobs as PerfTest: publisher confirms with at most `confirms` unconfirmed
messages in flight (`-c`), consumer prefetch (`-q`), acks with multiple=true every
`ack_every` deliveries (`-A`), persistent messages (`-f persistent`), quorum
queues (`-qq`). Producers publish round-robin to the workload's queues through
the default exchange; consumer i reads its share of the queues.

The producer uses pika's asynchronous `SelectConnection`, the only way to keep a
window of unconfirmed publishes (BlockingChannel confirms wait for every single
message); a confirm that frees half the window wakes it at once, and at a fixed
rate a timer wakes it for the next slot. Without confirms it stops filling its
socket buffer above 4 MB, so TCP back-pressure is respected. The consumer uses a
`SelectConnection` too. Every connection sends its queued frames in one syscall
(`transport.rabbitmq.coalesce_socket_writes`).

RabbitMQ runs are always concurrent (producers and consumers at once), as
PerfTest runs them: a backlog that builds in a queue first changes what is
measured (paging, flow control), so "produce everything, then consume" is not
the same experiment on RabbitMQ.
"""

from __future__ import annotations

import collections
import time
from typing import Any

from ...measure.latency import LatencyRecorder, Timeline
from ...transport.rabbitmq import delete_queues
from ..workload import Workload
from .base import (
    STAMP,
    ChildSpec,
    Control,
    ProcessDriver,
    Schedule,
    amqp_params,
    consumer_payload,
    payload_template,
    producer_payload,
)

WRITE_BUFFER_LIMIT = 4 * 1024 * 1024
PUBLISH_CHUNK = 500          # publishes per I/O-loop turn, so confirms are read in between


STREAM_MAX_BYTES = 2 * 1024**3     # a bench stream keeps at most this much (it is deleted after the run)


def queue_arguments(queue_type: str) -> dict[str, Any]:
    """What a bench queue is declared with: classic, quorum, or a stream (RabbitMQ's append-only log)."""
    args: dict[str, Any] = {"x-queue-type": queue_type}
    if queue_type == "stream":
        args["x-max-length-bytes"] = STREAM_MAX_BYTES
    return args


def consume_arguments(queue_type: str) -> dict[str, Any] | None:
    """A stream consumer says where in the log it starts (here: its beginning; the queue is new)."""
    return {"x-stream-offset": "first"} if queue_type == "stream" else None


def declare_queues(amqp_url: str, names: list[str], queue_type: str = "classic") -> None:
    import pika

    conn = pika.BlockingConnection(amqp_params(amqp_url))
    try:
        ch = conn.channel()
        for name in names:
            ch.queue_declare(queue=name, durable=True, auto_delete=False, arguments=queue_arguments(queue_type))
    finally:
        conn.close()


def rabbit_version(amqp_url: str) -> str:
    import pika

    try:
        conn = pika.BlockingConnection(amqp_params(amqp_url, timeout=5))
    except Exception:  # noqa: BLE001
        return ""
    try:
        props = conn._impl.server_properties or {}
        version = props.get("version", b"")
        return version.decode() if isinstance(version, bytes) else str(version)
    finally:
        conn.close()


def producer_main(spec: ChildSpec, ctl: Control) -> None:
    import pika

    wl = spec.workload
    queues = spec.target["queues"]
    n_queues = len(queues)
    confirms = wl.confirms > 0
    window = wl.confirms
    props = pika.BasicProperties(delivery_mode=2) if wl.persistent else None
    fixed = spec.rate is not None
    latency = LatencyRecorder() if confirms else None
    pending: collections.deque = collections.deque()      # (delivery tag, send time ns), in tag order
    buf = payload_template(wl.message_size, seed=spec.index)
    size = len(buf)
    pack, time_ns = STAMP.pack_into, time.time_ns
    limit = spec.max_records if spec.max_records is not None else 1 << 62
    counters, slot, stop = ctl.counters, spec.index, ctl.stop
    st: dict[str, Any] = {"sent": 0, "acked": 0, "errors": 0, "error": None, "done": False, "send_end": 0.0,
                          "flush_deadline": 0.0, "ch": None, "start": 0.0, "timer": None, "started": False}
    timeline = Timeline(0.0)

    def settle(tag: int, multiple: bool, ok: bool) -> None:
        now = time_ns()
        n = 0
        if multiple:
            while pending and pending[0][0] <= tag:
                _, sent_ns = pending.popleft()
                n += 1
                if ok:
                    latency.append_ns(now - sent_ns)
        else:
            for i, (t, sent_ns) in enumerate(pending):
                if t == tag:
                    del pending[i]
                    n = 1
                    if ok:
                        latency.append_ns(now - sent_ns)
                    break
        if ok:
            st["acked"] += n
            timeline.add(now / 1e9, n, n * size)
        else:
            st["errors"] += n

    def on_confirm(frame) -> None:
        method = frame.method
        settle(method.delivery_tag, method.multiple, isinstance(method, pika.spec.Basic.Ack))
        # a freed window wakes the publisher at once (a timer would add up to its period to every send)
        if st["started"] and (st["done"] or len(pending) <= window // 2):
            wake(0.0)

    def wake(delay: float) -> None:
        """Run pump after `delay`, unless it is due sooner already (one pending timer at most)."""
        timer = st["timer"]
        due = time.monotonic() + delay
        if timer is not None:
            if timer[1] <= due:
                return
            st["conn"].ioloop.remove_timeout(timer[0])
        st["timer"] = (st["conn"].ioloop.call_later(delay, pump), due)

    def pump() -> None:
        st["timer"] = None
        conn = st["conn"]
        ch = st["ch"]
        if st["done"]:
            if (not pending) or time.time() > st["flush_deadline"]:
                if not conn.is_closing and not conn.is_closed:
                    conn.close()
            else:
                wake(0.05)
            return
        now = time_ns()
        if now >= st["end_ns"] or st["sent"] >= limit or stop.is_set():
            st["done"] = True
            st["send_end"] = time.time()
            st["flush_deadline"] = st["send_end"] + 30
            wake(0.0)
            return
        budget = min(PUBLISH_CHUNK, limit - st["sent"])
        if confirms:
            budget = min(budget, window - len(pending))
        elif conn._get_write_buffer_size() > WRITE_BUFFER_LIMIT:
            budget = 0
        schedule = st.get("schedule")
        if schedule is not None:
            budget = schedule.due(now, budget)
        sent = st["sent"]
        publish = ch.basic_publish
        for _ in range(budget):
            if schedule is not None:
                stamp = schedule.next_due_ns()          # intended time: coordinated omission stays visible
                schedule.index += 1
            else:
                stamp = time_ns()
            pack(buf, 0, stamp)
            publish("", queues[sent % n_queues], bytes(buf), props)
            sent += 1
            if confirms:
                pending.append((sent, stamp))
        if budget and not confirms:
            st["acked"] += budget
            timeline.add(time.time(), budget, budget * size)
        st["sent"] = sent
        counters[slot] = sent
        if latency is not None:
            latency.maybe_flush()
        if confirms and len(pending) >= window:
            delay = 0.05                                # a confirm wakes us; this is only the fallback
        elif schedule is not None:
            delay = max(0.0, min((schedule.next_due_ns() - time_ns()) / 1e9, 0.01))   # the next slot
        else:
            delay = 0.0 if budget else 0.001
        wake(delay)

    def begin() -> None:
        ctl.ready(spec)
        start = ctl.wait_start(spec)
        timeline.start = start
        st["start"] = start
        st["end_ns"] = int((start + wl.warmup_s + wl.duration_s) * 1e9)
        if fixed:
            st["schedule"] = Schedule(spec.rate, int(start * 1e9))
        st["started"] = True
        pump()

    def on_channel(ch) -> None:
        st["ch"] = ch
        if confirms:
            ch.confirm_delivery(ack_nack_callback=on_confirm, callback=lambda _frame: begin())
        else:
            begin()

    def on_open(conn) -> None:
        conn.channel(on_open_callback=on_channel)

    def on_open_error(conn, error) -> None:
        st["error"] = f"cannot connect: {error!r}"
        conn.ioloop.stop()

    def on_closed(conn, reason) -> None:
        if not st["done"]:
            st["error"] = f"connection closed: {reason!r}"
        conn.ioloop.stop()

    conn = pika.SelectConnection(amqp_params(spec.endpoint), on_open_callback=on_open,
                                 on_open_error_callback=on_open_error, on_close_callback=on_closed)
    st["conn"] = conn
    conn.ioloop.start()
    if st["error"]:
        raise RuntimeError(f"pika producer {spec.index}: {st['error']}")
    errors = st["errors"] + len(pending)
    ctl.report(spec, producer_payload(records=st["acked"], errors=errors, timeline=timeline,
                                      send_end=st["send_end"], latency=latency, extra={"sent": st["sent"]}))


def consumer_main(spec: ChildSpec, ctl: Control) -> None:
    """A SelectConnection consumer: deliveries go straight to `on_message` from the I/O loop.

    (A BlockingConnection queues every delivery as an event object and dispatches it
    later from `process_data_events`, and its `basic_ack` flushes the socket on the
    spot: two extra steps per delivery.) A 20 ms timer publishes the counters and
    watches for the stop signal; acks go out with multiple=true every `ack_every`
    deliveries.
    """
    import pika

    recv_bytes = spec.settings.get("recv_bytes")
    if recv_bytes:                                       # this child only: pika reads its socket in 4 KB turns
        from pika.adapters.utils import io_services_utils

        io_services_utils._AsyncTransportBase._MAX_RECV_BYTES = int(recv_bytes)
    wl = spec.workload
    latency = LatencyRecorder()
    append = latency.append_ns
    unpack, time_ns = STAMP.unpack_from, time.time_ns
    ack_every = wl.ack_every
    st: dict[str, Any] = {"n": 0, "bytes": 0, "unacked": 0, "last_tag": 0, "warm_ns": 1 << 62, "error": None,
                          "closing": False, "seen": 0, "seen_bytes": 0, "last_receive": 0.0}
    stop, counters = ctl.stop, ctl.counters
    slot = wl.producers + spec.index
    timeline = Timeline(0.0)
    first_poll = 0.0

    def on_message(channel, method, _props, body) -> None:
        sent_ns = unpack(body)[0]
        if sent_ns >= st["warm_ns"]:
            append(time_ns() - sent_ns)
        st["n"] += 1
        st["bytes"] += len(body)
        st["unacked"] += 1
        st["last_tag"] = method.delivery_tag
        if st["unacked"] >= ack_every:
            channel.basic_ack(method.delivery_tag, multiple=True)
            st["unacked"] = 0

    def tick() -> None:
        n = st["n"]
        if n != st["seen"]:
            now = time.time()
            timeline.add(now, n - st["seen"], st["bytes"] - st["seen_bytes"])
            st["seen"], st["seen_bytes"], st["last_receive"] = n, st["bytes"], now
            counters[slot] = n
            latency.maybe_flush()
        if stop.is_set():
            st["closing"] = True
            if st["unacked"]:
                st["ch"].basic_ack(st["last_tag"], multiple=True)
            conn.close()
            return
        conn.ioloop.call_later(0.02, tick)

    def begin(_frame=None) -> None:
        nonlocal first_poll
        ch = st["ch"]
        for queue in spec.assignment:
            ch.basic_consume(queue=spec.target["queues"][queue], on_message_callback=on_message, auto_ack=False,
                             arguments=consume_arguments(wl.queue_type))
        ctl.ready(spec)
        start = ctl.wait_start(spec)
        st["warm_ns"] = int((start + wl.warmup_s) * 1e9)
        timeline.start = start
        first_poll = st["last_receive"] = time.time()
        tick()

    def on_channel(ch) -> None:
        st["ch"] = ch
        if wl.prefetch or wl.queue_type == "stream":      # a stream consumer must set a prefetch
            ch.basic_qos(prefetch_count=wl.prefetch or 1000, callback=begin)
        else:
            begin()

    def on_open_error(c, error) -> None:
        st["error"] = f"cannot connect: {error!r}"
        c.ioloop.stop()

    def on_closed(c, reason) -> None:
        if not st["closing"]:
            st["error"] = f"connection closed: {reason!r}"
        c.ioloop.stop()

    conn = pika.SelectConnection(amqp_params(spec.endpoint),
                                 on_open_callback=lambda c: c.channel(on_open_callback=on_channel),
                                 on_open_error_callback=on_open_error, on_close_callback=on_closed)
    conn.ioloop.start()
    if st["error"]:
        raise RuntimeError(f"pika consumer {spec.index}: {st['error']}")
    ctl.report(spec, consumer_payload(records=st["n"], nbytes=st["bytes"], timeline=timeline, first_poll=first_poll,
                                      last_receive=st["last_receive"], latency=latency))


class PikaDriver(ProcessDriver):
    name = "pika"
    broker = "rabbitmq"
    description = "pika producer (windowed confirms) and consumer processes, both on SelectConnection"
    producer_entry = staticmethod(producer_main)
    consumer_entry = staticmethod(consumer_main)
    competing_consumers = True

    def client_version(self) -> str:
        import pika

        return f"pika {pika.__version__}"

    def phases(self, workload: Workload) -> str:
        return "concurrent"

    def client_settings(self, workload: Workload) -> dict[str, Any]:
        producer = {"confirms": workload.confirms, "persistent": workload.persistent, "exchange": "(default)",
                    "connection": "SelectConnection"}
        consumer = {"prefetch": workload.prefetch, "ack_every": workload.ack_every, "auto_ack": False,
                    "connection": "SelectConnection"}
        return {"producer": producer, "consumer": consumer}

    def prepare(self, workload: Workload, endpoints: Any) -> dict[str, Any]:
        from ...stack.config import StackConfig
        from .base import bench_name

        base = bench_name(self.name)
        names = [f"{base}-{i}" for i in range(workload.queues)]
        declare_queues(endpoints.amqp_url, names, workload.queue_type)
        nodes = StackConfig.from_env().rabbit_nodes
        replication = min(workload.replication, nodes) if workload.queue_type != "classic" else 1
        return {"endpoint": endpoints.amqp_url, "target": {"queues": names}, "units": len(names),
                "brokers": nodes, "replication": replication, "names": names}

    def cleanup(self, prepared: dict[str, Any], endpoints: Any) -> None:
        delete_queues(endpoints.amqp_url, prepared["names"])


class PikaLargeReadsDriver(PikaDriver):
    """pika with a consumer that reads up to `recv_bytes` per socket read instead of pika's 4 KB.

    One cheap consumer-side change tried beside the plain driver (chapter 03): fewer I/O-loop turns per
    delivery, at the price of a longer frame buffer that pika copies once per decoded frame."""

    recv_bytes = 16 * 1024
    name = "pika-recv16k"
    description = "pika, the consumer reading 16 KB per socket read (pika's default: 4 KB)"

    def client_settings(self, workload: Workload) -> dict[str, Any]:
        settings = super().client_settings(workload)
        settings["consumer"]["recv_bytes"] = self.recv_bytes
        return settings
