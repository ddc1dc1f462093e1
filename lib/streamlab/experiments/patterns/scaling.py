"""Competing consumers: partitions of one Kafka topic vs one RabbitMQ quorum queue, 1 → 2 → 4 → 8 consumers.

The workload is the processor's own work on vibration windows (decode + FFT
band energies, `worker.py`), one process per consumer, so the figure shows
what adding consumers buys on this machine. A backlog of `messages` windows
is published first; then N workers start together and drain it. Throughput
is messages / (last processed − first processed), joins and rebalances
included: they are part of the cost of scaling out.

Where it stops: a Kafka group scales to at most its partition count (a
member without a partition idles); a RabbitMQ queue lets any number compete,
but every delivery and ack of one queue goes through its one leader process;
and every worker here shares the machine's cores with the brokers and the
publisher.
"""

from __future__ import annotations

import json
import subprocess
import sys
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
              partitions: int = 8, idle_s: float = 3.0) -> pd.DataFrame:
    """Columns: backend, consumers, messages, processed, seconds, msgs_per_s, speedup."""
    payloads = _backlog(messages)
    rows = []
    for backend in ("kafka", "rabbitmq"):
        for n in consumers:
            processed, seconds = _drain_with(brokers, backend, n, payloads, partitions, idle_s)
            rows.append({"backend": "Kafka" if backend == "kafka" else "RabbitMQ", "consumers": n,
                         "messages": messages, "processed": processed, "seconds": seconds,
                         "msgs_per_s": processed / seconds if seconds > 0 else float("nan")})
    table = pd.DataFrame(rows)
    base = table[table["consumers"] == min(consumers)].set_index("backend")["msgs_per_s"]
    table["speedup"] = table["msgs_per_s"] / table["backend"].map(base)
    return table


def _drain_with(brokers: Brokers, backend: str, n: int, payloads: list[tuple[str, bytes]], partitions: int,
                idle_s: float) -> tuple[int, float]:
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
            queue = Topology.declare_group_queue(channel, group, name)
        address = brokers.amqp_url
    workers: list[subprocess.Popen] = []
    try:
        publisher = transport.publisher("ch03-scale-pub")
        for key, value in payloads:
            publisher.publish(name, key, value)
        publisher.flush(120)
        publisher.close()
        workers = [subprocess.Popen([sys.executable, "-m", "streamlab.experiments.patterns.worker", backend,
                                     address, name, group, str(idle_s)], stdout=subprocess.PIPE, text=True,
                                    stderr=subprocess.PIPE) for _ in range(n)]
        times: list[float] = []
        for worker in workers:
            out, err = worker.communicate(timeout=180)
            if worker.returncode != 0:
                raise RuntimeError(f"a {backend} worker failed: {err.strip().splitlines()[-1:] or 'no output'}")
            lines = [line for line in out.splitlines() if line.startswith("{")]
            times += json.loads(lines[-1])["times"] if lines else []
        if len(times) < 2:
            return len(times), float("nan")
        return len(times), max(times) - min(times)
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
        tail = f"; more consumers than the machine's {cores} cores still helped, so the workers were waiting " \
               "on the brokers rather than on the CPU"
    return "; ".join(parts) + tail + "."
