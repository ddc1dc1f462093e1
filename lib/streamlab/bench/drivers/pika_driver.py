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
from .base import amqp_params
from .processes import (
    STAMP,
    ChildSpec,
    Control,
    ProcessDriver,
    Schedule,
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


class _SelectConnectionChild:
    """What a pika child on a SelectConnection does when its connection fails or ends: note an unexpected
    end as the child's error and stop the I/O loop (its `run` raises it)."""

    error: str | None = None

    def ended_on_purpose(self) -> bool:
        raise NotImplementedError

    def on_open_error(self, conn: Any, error: Any) -> None:
        self.error = f"cannot connect: {error!r}"
        conn.ioloop.stop()

    def on_closed(self, conn: Any, reason: Any) -> None:
        if not self.ended_on_purpose():
            self.error = f"connection closed: {reason!r}"
        conn.ioloop.stop()


class PikaProducer(_SelectConnectionChild):
    """One producer child on a SelectConnection: the state its I/O-loop callbacks share, and those callbacks.

    `pump` publishes a chunk per loop turn (within the confirm window, the schedule or the socket buffer's
    limit) and arms the next turn; `on_confirm` settles confirms and wakes `pump` at once when half the
    window is free; once the run's time is up `pump` waits for the outstanding confirms, then closes.
    """

    def __init__(self, spec: ChildSpec, ctl: Control) -> None:
        import pika

        self.pika = pika
        self.spec, self.ctl = spec, ctl
        wl = spec.workload
        self.workload = wl
        self.queues = spec.target["queues"]
        self.confirms = wl.confirms > 0
        self.window = wl.confirms
        self.props = pika.BasicProperties(delivery_mode=2) if wl.persistent else None
        self.latency = LatencyRecorder() if self.confirms else None
        self.pending: collections.deque = collections.deque()   # (delivery tag, send time ns), in tag order
        self.buf = payload_template(wl.message_size, seed=spec.index)
        self.size = len(self.buf)
        self.limit = spec.max_records if spec.max_records is not None else 1 << 62
        self.timeline = Timeline(0.0)
        self.sent = self.acked = self.errors = 0
        self.error: str | None = None
        self.started = self.done = False
        self.start = self.send_end = self.flush_deadline = 0.0
        self.end_ns = 0
        self.schedule: Schedule | None = None
        self.timer: tuple[Any, float] | None = None     # (pika timeout handle, when it is due)
        self.channel: Any = None
        self.conn: Any = None

    def run(self) -> None:
        pika = self.pika
        self.conn = pika.SelectConnection(amqp_params(self.spec.endpoint), on_open_callback=self.on_open,
                                          on_open_error_callback=self.on_open_error,
                                          on_close_callback=self.on_closed)
        self.conn.ioloop.start()
        if self.error:
            raise RuntimeError(f"pika producer {self.spec.index}: {self.error}")
        errors = self.errors + len(self.pending)
        self.ctl.report(self.spec, producer_payload(records=self.acked, errors=errors, timeline=self.timeline,
                                                    send_end=self.send_end, latency=self.latency,
                                                    extra={"sent": self.sent}))

    # ---- the connection

    def on_open(self, conn: Any) -> None:
        conn.channel(on_open_callback=self.on_channel)

    def on_channel(self, channel: Any) -> None:
        self.channel = channel
        if self.confirms:
            channel.confirm_delivery(ack_nack_callback=self.on_confirm, callback=lambda _frame: self.begin())
        else:
            self.begin()

    def ended_on_purpose(self) -> bool:
        return self.done

    def begin(self) -> None:
        """Ready, wait for the common start, then publish."""
        self.ctl.ready(self.spec)
        start = self.ctl.wait_start(self.spec)
        self.timeline.start = start
        self.start = start
        self.end_ns = int((start + self.workload.warmup_s + self.workload.duration_s) * 1e9)
        if self.spec.rate is not None:
            self.schedule = Schedule(self.spec.rate, int(start * 1e9))
        self.started = True
        self.pump()

    # ---- confirms

    def settle(self, tag: int, multiple: bool, ok: bool) -> None:
        now = time.time_ns()
        pending, latency = self.pending, self.latency
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
            self.acked += n
            self.timeline.add(now / 1e9, n, n * self.size)
        else:
            self.errors += n

    def on_confirm(self, frame: Any) -> None:
        method = frame.method
        self.settle(method.delivery_tag, method.multiple, isinstance(method, self.pika.spec.Basic.Ack))
        # a freed window wakes the publisher at once (a timer would add up to its period to every send)
        if self.started and (self.done or len(self.pending) <= self.window // 2):
            self.wake(0.0)

    # ---- the publishing loop

    def wake(self, delay: float) -> None:
        """Run pump after `delay`, unless it is due sooner already (one pending timer at most)."""
        due = time.monotonic() + delay
        if self.timer is not None:
            if self.timer[1] <= due:
                return
            self.conn.ioloop.remove_timeout(self.timer[0])
        self.timer = (self.conn.ioloop.call_later(delay, self.pump), due)

    def pump(self) -> None:
        self.timer = None
        if self.done:
            self.flush_or_close()
            return
        now = time.time_ns()
        if now >= self.end_ns or self.sent >= self.limit or self.ctl.stop.is_set():
            self.done = True
            self.send_end = time.time()
            self.flush_deadline = self.send_end + 30
            self.wake(0.0)
            return
        budget = self.budget(now)
        self.publish(budget)
        if self.latency is not None:
            self.latency.maybe_flush()
        self.wake(self.next_delay(budget))

    def flush_or_close(self) -> None:
        """After the run: close once every confirm is in, or at the flush deadline."""
        if (not self.pending) or time.time() > self.flush_deadline:
            if not self.conn.is_closing and not self.conn.is_closed:
                self.conn.close()
        else:
            self.wake(0.05)

    def budget(self, now_ns: int) -> int:
        """How many to publish this turn: a chunk, within the confirm window, the socket buffer and the schedule."""
        budget = min(PUBLISH_CHUNK, self.limit - self.sent)
        if self.confirms:
            budget = min(budget, self.window - len(self.pending))
        elif self.conn._get_write_buffer_size() > WRITE_BUFFER_LIMIT:
            budget = 0
        if self.schedule is not None:
            budget = self.schedule.due(now_ns, budget)
        return budget

    def publish(self, budget: int) -> None:
        """The hot loop: locals only."""
        schedule, buf, queues, props = self.schedule, self.buf, self.queues, self.props
        n_queues, confirms, pending = len(queues), self.confirms, self.pending
        pack, time_ns, publish = STAMP.pack_into, time.time_ns, self.channel.basic_publish
        sent = self.sent
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
            self.acked += budget
            self.timeline.add(time.time(), budget, budget * self.size)
        self.sent = sent
        self.ctl.counters[self.spec.index] = sent

    def next_delay(self, budget: int) -> float:
        if self.confirms and len(self.pending) >= self.window:
            return 0.05                                 # a confirm wakes us; this is only the fallback
        if self.schedule is not None:
            return max(0.0, min((self.schedule.next_due_ns() - time.time_ns()) / 1e9, 0.01))   # the next slot
        return 0.0 if budget else 0.001


def producer_main(spec: ChildSpec, ctl: Control) -> None:
    PikaProducer(spec, ctl).run()


class PikaConsumer(_SelectConnectionChild):
    """A SelectConnection consumer: deliveries go straight to `on_message` from the I/O loop.

    (A BlockingConnection queues every delivery as an event object and dispatches it
    later from `process_data_events`, and its `basic_ack` flushes the socket on the
    spot: two extra steps per delivery.) A 20 ms timer (`tick`) publishes the counters
    and watches for the stop signal; acks go out with multiple=true every `ack_every`
    deliveries.
    """

    def __init__(self, spec: ChildSpec, ctl: Control) -> None:
        import pika

        self.pika = pika
        recv_bytes = spec.settings.get("recv_bytes")
        if recv_bytes:                                   # this child only: pika reads its socket in 4 KB turns
            from pika.adapters.utils import io_services_utils

            io_services_utils._AsyncTransportBase._MAX_RECV_BYTES = int(recv_bytes)
        self.spec, self.ctl = spec, ctl
        self.workload = spec.workload
        self.latency = LatencyRecorder()
        self.append = self.latency.append_ns
        self.ack_every = self.workload.ack_every
        self.slot = self.workload.producers + spec.index
        self.timeline = Timeline(0.0)
        self.n = self.bytes = self.unacked = self.last_tag = 0
        self.seen = self.seen_bytes = 0
        self.warm_ns = 1 << 62
        self.error: str | None = None
        self.closing = False
        self.first_poll = self.last_receive = 0.0
        self.channel: Any = None
        self.conn: Any = None

    def run(self) -> None:
        self.conn = self.pika.SelectConnection(
            amqp_params(self.spec.endpoint), on_open_callback=lambda c: c.channel(on_open_callback=self.on_channel),
            on_open_error_callback=self.on_open_error, on_close_callback=self.on_closed)
        self.conn.ioloop.start()
        if self.error:
            raise RuntimeError(f"pika consumer {self.spec.index}: {self.error}")
        self.ctl.report(self.spec, consumer_payload(records=self.n, nbytes=self.bytes, timeline=self.timeline,
                                                    first_poll=self.first_poll, last_receive=self.last_receive,
                                                    latency=self.latency))

    def on_channel(self, channel: Any) -> None:
        self.channel = channel
        wl = self.workload
        if wl.prefetch or wl.queue_type == "stream":      # a stream consumer must set a prefetch
            channel.basic_qos(prefetch_count=wl.prefetch or 1000, callback=self.begin)
        else:
            self.begin()

    def ended_on_purpose(self) -> bool:
        return self.closing

    def begin(self, _frame: Any = None) -> None:
        spec = self.spec
        for queue in spec.assignment:
            self.channel.basic_consume(queue=spec.target["queues"][queue], on_message_callback=self.on_message,
                                       auto_ack=False, arguments=consume_arguments(self.workload.queue_type))
        self.ctl.ready(spec)
        start = self.ctl.wait_start(spec)
        self.warm_ns = int((start + self.workload.warmup_s) * 1e9)
        self.timeline.start = start
        self.first_poll = self.last_receive = time.time()
        self.tick()

    def on_message(self, channel: Any, method: Any, _props: Any, body: bytes) -> None:
        sent_ns = STAMP.unpack_from(body)[0]
        if sent_ns >= self.warm_ns:
            self.append(time.time_ns() - sent_ns)
        self.n += 1
        self.bytes += len(body)
        self.unacked += 1
        self.last_tag = method.delivery_tag
        if self.unacked >= self.ack_every:
            channel.basic_ack(method.delivery_tag, multiple=True)
            self.unacked = 0

    def tick(self) -> None:
        n = self.n
        if n != self.seen:
            now = time.time()
            self.timeline.add(now, n - self.seen, self.bytes - self.seen_bytes)
            self.seen, self.seen_bytes, self.last_receive = n, self.bytes, now
            self.ctl.counters[self.slot] = n
            self.latency.maybe_flush()
        if self.ctl.stop.is_set():
            self.closing = True
            if self.unacked:
                self.channel.basic_ack(self.last_tag, multiple=True)
            self.conn.close()
            return
        self.conn.ioloop.call_later(0.02, self.tick)


def consumer_main(spec: ChildSpec, ctl: Control) -> None:
    PikaConsumer(spec, ctl).run()


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
