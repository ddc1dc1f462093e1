"""aio-pika (asyncio, on aiormq/pamqp) producers and consumers, set up like the pika driver.

Here so the choice of Python client is measured rather than assumed: the same
queues, the same knobs (a window of `confirms` unconfirmed publishes, prefetch,
acks with multiple=true every `ack_every` deliveries), the same stamps and
HdrHistograms, so its rows sit beside pika's and PerfTest's in one table.

aio-pika's `publish` returns when the broker has confirmed that message, so
the window is a semaphore over publishing tasks: at most `confirms` are
awaiting their confirm at any time (aiormq settles them on the broker's
`multiple` acks). At a fixed rate the producer sleeps until each slot and
stamps the slot's intended time (coordinated omission stays visible).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ...measure.latency import LatencyRecorder, Timeline
from ..workload import Workload
from .pika_driver import PikaDriver, consume_arguments
from .processes import STAMP, ChildSpec, Control, Schedule, consumer_payload, payload_template, producer_payload


async def _connect(url: str):
    import aio_pika

    return await aio_pika.connect(url, timeout=10, client_properties={"connection_name": "streamlab-bench"})


def producer_main(spec: ChildSpec, ctl: Control) -> None:
    asyncio.run(_produce(spec, ctl))


async def _produce(spec: ChildSpec, ctl: Control) -> None:
    import aio_pika

    wl = spec.workload
    queues = spec.target["queues"]
    confirms = wl.confirms > 0
    conn = await _connect(spec.endpoint)
    channel = await conn.channel(publisher_confirms=confirms)
    exchange = channel.default_exchange
    mode = aio_pika.DeliveryMode.PERSISTENT if wl.persistent else aio_pika.DeliveryMode.NOT_PERSISTENT
    latency = LatencyRecorder() if confirms else None
    window = asyncio.Semaphore(max(wl.confirms, 1))
    buf = payload_template(wl.message_size, seed=spec.index)
    size = len(buf)
    pack, time_ns = STAMP.pack_into, time.time_ns
    limit = spec.max_records if spec.max_records is not None else 1 << 62
    counters, slot, stop = ctl.counters, spec.index, ctl.stop
    st = {"acked": 0, "errors": 0}
    tasks: set[asyncio.Task] = set()
    ctl.ready(spec)
    start = await asyncio.get_running_loop().run_in_executor(None, ctl.wait_start, spec)
    timeline = Timeline(start)
    end_ns = int((start + wl.warmup_s + wl.duration_s) * 1e9)
    schedule = Schedule(spec.rate, int(start * 1e9)) if spec.rate is not None else None

    async def publish(body: bytes, routing_key: str, stamp: int) -> None:
        try:
            await exchange.publish(aio_pika.Message(body, delivery_mode=mode), routing_key, mandatory=False)
        except Exception:  # noqa: BLE001 - a nack or a closed channel: counted, the run goes on
            st["errors"] += 1
        else:
            now = time_ns()
            st["acked"] += 1
            timeline.add(now / 1e9, 1, size)
            if latency is not None:
                latency.append_ns(now - stamp)
        finally:
            window.release()

    sent = 0
    while sent < limit and not stop.is_set():
        now = time_ns()
        if now >= end_ns:
            break
        if schedule is not None:
            due = schedule.next_due_ns()
            if due > now:
                await asyncio.sleep((due - now) / 1e9)
                continue
            stamp = due
            schedule.index += 1
        else:
            stamp = now
        pack(buf, 0, stamp)
        await window.acquire()
        task = asyncio.create_task(publish(bytes(buf), queues[sent % len(queues)], stamp))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        sent += 1
        if sent % 100 == 0:
            counters[slot] = sent
            if latency is not None:
                latency.maybe_flush()
            await asyncio.sleep(0)
    send_end = time.time()
    counters[slot] = sent
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    await conn.close()
    ctl.report(spec, producer_payload(records=st["acked"], errors=st["errors"] + sum(not t.done() for t in tasks),
                                      timeline=timeline, send_end=send_end, latency=latency, extra={"sent": sent}))


def consumer_main(spec: ChildSpec, ctl: Control) -> None:
    asyncio.run(_consume(spec, ctl))


async def _consume(spec: ChildSpec, ctl: Control) -> None:
    wl = spec.workload
    conn = await _connect(spec.endpoint)
    channel = await conn.channel(publisher_confirms=False)
    if wl.prefetch or wl.queue_type == "stream":
        await channel.set_qos(prefetch_count=wl.prefetch or 1000)
    latency = LatencyRecorder()
    append = latency.append_ns
    unpack, time_ns = STAMP.unpack_from, time.time_ns
    ack_every = wl.ack_every
    st = {"n": 0, "bytes": 0, "unacked": 0, "warm_ns": 1 << 62, "last": None}

    async def on_message(message) -> None:
        body = message.body
        sent_ns = unpack(body)[0]
        if sent_ns >= st["warm_ns"]:
            append(time_ns() - sent_ns)
        st["n"] += 1
        st["bytes"] += len(body)
        st["unacked"] += 1
        st["last"] = message
        if st["unacked"] >= ack_every:
            st["unacked"] = 0
            await message.ack(multiple=True)

    for index in spec.assignment:
        queue = await channel.get_queue(spec.target["queues"][index], ensure=False)
        await queue.consume(on_message, no_ack=False, arguments=consume_arguments(wl.queue_type))
    ctl.ready(spec)
    start = await asyncio.get_running_loop().run_in_executor(None, ctl.wait_start, spec)
    st["warm_ns"] = int((start + wl.warmup_s) * 1e9)
    timeline = Timeline(start)
    stop, counters = ctl.stop, ctl.counters
    slot = wl.producers + spec.index
    seen = seen_bytes = 0
    first_poll = last_receive = time.time()
    while not stop.is_set():
        await asyncio.sleep(0.02)
        if st["n"] != seen:
            now = time.time()
            timeline.add(now, st["n"] - seen, st["bytes"] - seen_bytes)
            seen, seen_bytes, last_receive = st["n"], st["bytes"], now
            counters[slot] = seen
            latency.maybe_flush()
    if st["unacked"] and st["last"] is not None:
        await st["last"].ack(multiple=True)
    await conn.close()
    ctl.report(spec, consumer_payload(records=st["n"], nbytes=st["bytes"], timeline=timeline, first_poll=first_poll,
                                      last_receive=last_receive, latency=latency))


class AioPikaDriver(PikaDriver):
    """Same queues and settings as the pika driver; only the client differs."""

    name = "aio-pika"
    description = "aio-pika (asyncio) producer (a semaphore of awaited confirms) and consumer processes"
    producer_entry = staticmethod(producer_main)
    consumer_entry = staticmethod(consumer_main)

    def client_version(self) -> str:
        from importlib.metadata import version

        return f"aio-pika {version('aio-pika')} (aiormq {version('aiormq')})"

    def client_settings(self, workload: Workload) -> dict[str, Any]:
        settings = super().client_settings(workload)
        settings["producer"]["connection"] = settings["consumer"]["connection"] = "aio_pika.connect (asyncio)"
        return settings


__all__ = ["AioPikaDriver"]
