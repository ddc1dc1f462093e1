"""Competing consumers: partitions of one Kafka topic vs one RabbitMQ quorum queue, 1 → 2 → 4 → 8 consumers.

The workload is the processor's own work on vibration windows (decode + FFT
band energies, `worker.py`), one process per consumer, so the figure shows
what adding consumers buys on this machine. A backlog of `messages` windows
is published first; then N workers start together and drain it. Throughput
is messages over the time from the first batch done to the last, joins and
rebalances included: they are part of the cost of scaling out.

Where it stops: a Kafka group scales to at most its partition count (a
member without a partition idles); a RabbitMQ queue lets any number compete,
but every delivery and ack of one queue goes through its one leader process;
and every worker here shares the machine's cores with the brokers and the
publisher.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import pandas as pd

from .brokers import Brokers, amqp_channel, delete_queues, kafka_cleanup, kafka_topic, unique
from .brokers import dead_letter_exchange as _dlx


def _backlog(messages: int, machines: int = 20) -> list[tuple[str, bytes]]:
    from ...codecs import get_codec
    from ...domain import Fleet, FaultSchedule

    fleet = Fleet(machines, 7, FaultSchedule([]))
    codec = get_codec("orjson")
    return [(f"M{i % machines:03d}", codec.encode(fleet.vibration(f"M{i % machines:03d}", t_s=i / machines)))
            for i in range(messages)]


def scale_out(brokers: Brokers, consumers: tuple[int, ...] = (1, 2, 4), messages: int = 1500,
              partitions: int = 8, timeout_s: float = 120.0) -> pd.DataFrame:
    """Columns: backend, consumers, messages, processed, timed (messages after the first batch), seconds, msgs_per_s, speedup.

    The workers report each batch's end; the rate counts the messages after the
    first batch over the time from its end to the last batch's end."""
    payloads = _backlog(messages)
    rows = []
    for backend in ("kafka", "rabbitmq"):
        for n in consumers:
            processed, timed, seconds = _drain_with(brokers, backend, n, payloads, partitions, timeout_s)
            rows.append({"backend": "Kafka" if backend == "kafka" else "RabbitMQ", "consumers": n,
                         "messages": messages, "processed": processed, "timed": timed, "seconds": seconds,
                         "msgs_per_s": timed / seconds if seconds > 0 else float("nan")})
    table = pd.DataFrame(rows)
    base = table[table["consumers"] == min(consumers)].set_index("backend")["msgs_per_s"]
    table["speedup"] = table["msgs_per_s"] / table["backend"].map(base)
    return table


def _read_batches(worker: subprocess.Popen, batches: list[tuple[int, float]]) -> None:
    for line in worker.stdout:
        count, _, stamp = line.strip().partition(" ")
        if count.isdigit():
            batches.append((int(count), float(stamp)))


def _drain_with(brokers: Brokers, backend: str, n: int, payloads: list[tuple[str, bytes]], partitions: int,
                timeout_s: float) -> tuple[int, int, float]:
    from ...stack import Endpoints
    from ...transport import get_transport

    name = f"{unique(f'scale-{backend}-{n}')}.stream"   # a namespace: its own dead-letter exchange
    group = f"{name}.workers"
    queue = ""
    if backend == "kafka":
        kafka_topic(brokers.bootstrap, name, partitions)
        transport = get_transport("kafka", "confluent", Endpoints(brokers.bootstrap, "", ""))
        address = brokers.bootstrap
    else:
        from ...transport.rabbitmq import RabbitMQTransport, Topology

        transport = RabbitMQTransport([brokers.amqp_url], brokers.mgmt_url)
        with amqp_channel(brokers.amqp_url) as channel:
            queue = Topology().declare_group_queue(channel, group, name)
        address = brokers.amqp_url
    workers: list[subprocess.Popen] = []
    try:
        publisher = transport.publisher("ch03-scale-pub")
        for key, value in payloads:
            publisher.publish(name, key, value)
        publisher.flush(120)
        publisher.close()
        workers = [subprocess.Popen([sys.executable, "-m", "streamlab.experiments.patterns.worker", backend,
                                     address, name, group], stdout=subprocess.PIPE, text=True,
                                    stderr=subprocess.DEVNULL) for _ in range(n)]
        batches: list[tuple[int, float]] = []
        readers = [threading.Thread(target=_read_batches, args=(w, batches), daemon=True) for w in workers]
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + timeout_s
        while sum(count for count, _ in batches) < len(payloads) and time.monotonic() < deadline:
            if all(w.poll() is not None for w in workers):
                break
            time.sleep(0.2)
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        for reader in readers:
            reader.join(5)
        processed = sum(count for count, _ in batches)
        if len(batches) < 2:
            return processed, processed, float("nan")
        first_batch = min(batches, key=lambda b: b[1])
        # the first batch's own work is not timed (only its end is known): count from its end
        return processed, processed - first_batch[0], max(t for _, t in batches) - first_batch[1]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        if backend == "kafka":
            kafka_cleanup(brokers.bootstrap, [name], [group])
        else:
            delete_queues(brokers.amqp_url, [queue], [name, _dlx(name)])
            transport.close()


def peaks(table: pd.DataFrame) -> pd.DataFrame:
    """Per back end: one consumer's rate, and the consumer count with the best rate (and its speedup)."""
    rows = []
    for backend, group in table.groupby("backend", sort=False):
        one = group.loc[group["consumers"].idxmin()]
        best = group.loc[group["msgs_per_s"].idxmax()]
        rows.append({"backend": backend, "one_msgs_per_s": float(one["msgs_per_s"]),
                     "best_consumers": int(best["consumers"]), "best_msgs_per_s": float(best["msgs_per_s"]),
                     "best_speedup": float(best["speedup"])})
    return pd.DataFrame(rows).set_index("backend")


def extrapolate(peaks_table: pd.DataFrame, machines: int, factors: tuple[int, ...] = (1, 10, 1000),
                rate_hz: float = 10.0, vibration_hz: float = 1.0) -> pd.DataFrame:
    """An extrapolation, not a measurement: the fleet's message rates at `factors` × its size, and how many
    consumers at this run's *one-consumer* rate the vibration work would need (rounded up), per back end."""
    rows = []
    for factor in factors:
        fleet = machines * factor
        row = {"fleet (machines)": fleet, "telemetry msg/s": fleet * rate_hz, "vibration windows/s": fleet * vibration_hz}
        for backend in peaks_table.index:
            per_consumer = peaks_table.loc[backend, "one_msgs_per_s"]
            row[f"{backend}: consumers for the windows"] = int(-(-fleet * vibration_hz // per_consumer))
        rows.append(row)
    return pd.DataFrame(rows).set_index("fleet (machines)")


def verdict(peaks_table: pd.DataFrame, cores: int) -> str:
    """Where each back end stopped scaling in this run, next to the machine's core count."""
    parts = []
    for backend, row in peaks_table.iterrows():
        n, speedup = int(row["best_consumers"]), float(row["best_speedup"])
        if speedup < 1.15:
            parts.append(f"{backend} gained nothing measurable from more consumers")
        else:
            parts.append(f"{backend} peaked at {n} consumers ({speedup:.1f}× one)")
    gained = peaks_table[peaks_table["best_speedup"] >= 1.15]
    if gained.empty:
        tail = f"; on this {cores}-core machine, shared by the brokers, the publisher and every worker, " \
               "the work did not spread"
    elif int(gained["best_consumers"].max()) <= cores:
        tail = f"; no back end gained beyond {int(gained['best_consumers'].max())} consumers on this " \
               f"{cores}-core machine, where the brokers, the publisher and every worker share the cores"
    else:
        tail = f"; more consumers than the machine's {cores} cores still helped: the workers spent part of " \
               "their time waiting (fetches, commits, acks) rather than computing"
    return "; ".join(parts) + tail + "."
