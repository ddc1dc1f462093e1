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
from dataclasses import dataclass

import pandas as pd

from ...transport.rabbitmq import delete_queues
from ...transport.spec import Endpoints
from .brokers import amqp_channel, kafka_cleanup, kafka_topic, unique
from .brokers import dead_letter_exchange as _dlx


def _backlog(messages: int, machines: int = 20) -> list[tuple[str, bytes]]:
    from ...codecs import get_codec
    from ...domain import FaultSchedule, Fleet

    fleet = Fleet(machines, 7, FaultSchedule([]))
    codec = get_codec("orjson")
    return [(f"M{i % machines:03d}", codec.encode(fleet.vibration(f"M{i % machines:03d}", t_s=i / machines)))
            for i in range(messages)]


def scale_out(brokers: Endpoints, consumers: tuple[int, ...] = (1, 2, 4), messages: int = 1500,
              partitions: int = 8, timeout_s: float = 120.0) -> pd.DataFrame:
    """Columns: backend, consumers, messages, processed, timed (messages after the first batch), seconds,
    msgs_per_s, speedup.

    The workers report each batch's end; the rate counts the messages after the
    first batch over the time from its end to the last batch's end."""
    payloads = _backlog(messages)
    rows = []
    for backend in ("kafka", "rabbitmq"):
        for n in consumers:
            drain = _drain_with(brokers, backend, n, payloads, partitions, timeout_s)
            rows.append({"backend": "Kafka" if backend == "kafka" else "RabbitMQ", "consumers": n,
                         "messages": messages, "processed": drain.processed, "timed": drain.timed,
                         "seconds": drain.seconds, "msgs_per_s": _rate(drain)})
    table = pd.DataFrame(rows)
    base = table[table["consumers"] == min(consumers)].set_index("backend")["msgs_per_s"]
    table["speedup"] = table["msgs_per_s"] / table["backend"].map(base)
    return table


def _rate(drain: Drain) -> float:
    return drain.timed / drain.seconds if drain.seconds > 0 else float("nan")


def nodes_compare(brokers: Endpoints, consumers: tuple[int, ...] = (1, 4), messages: int = 600, partitions: int = 6,
                  rabbit_cluster: Endpoints | None = None, timeout_s: float = 120.0) -> pd.DataFrame:
    """The same drain on 1 node and on 3, per broker. Columns: backend, nodes, setup, consumers, messages,
    processed, publish_msgs_per_s, msgs_per_s.

    Kafka, on the chapter's 3-broker stack: a topic whose partitions all live on
    one broker (RF 1) vs one spread over the three with RF 3 and
    `min.insync.replicas` 2 (every write acknowledged by two brokers). RabbitMQ:
    a quorum queue on the chapter's one node vs on `rabbit_cluster`, a 3-node
    cluster (the queue replicated to all three, the workers connected to the
    nodes in turn); without one, only the 1-node RabbitMQ rows. The publish rate
    (backlog in, acks=all / confirms) is where replication shows; the drain rate
    is the consumers' side.
    """
    from ...transport import kafka_admin

    payloads = _backlog(messages)
    ids = sorted(kafka_admin.metadata(brokers.kafka_bootstrap).brokers)
    cases: list[tuple[str, int, str, Endpoints, list[list[int]] | None]] = [
        ("kafka", 1, f"{partitions} partitions on one broker, RF 1", brokers, [[ids[0]]] * partitions)]
    if len(ids) >= 3:
        spread = [[ids[(p + r) % 3] for r in range(3)] for p in range(partitions)]
        cases.append(("kafka", 3, f"{partitions} partitions over 3 brokers, RF 3, min ISR 2", brokers, spread))
    cases.append(("rabbitmq", 1, "quorum queue on one node", brokers, None))
    if rabbit_cluster is not None:
        cases.append(("rabbitmq", 3, "quorum queue replicated on 3 nodes", rabbit_cluster, None))
    rows = []
    for backend, nodes, setup, where, assignment in cases:
        for n in consumers:
            drain = _drain_with(where, backend, n, payloads, partitions, timeout_s, assignment)
            rows.append({"backend": "Kafka" if backend == "kafka" else "RabbitMQ", "nodes": nodes, "setup": setup,
                         "consumers": n, "messages": messages, "processed": drain.processed,
                         "publish_msgs_per_s": messages / drain.publish_s if drain.publish_s > 0 else float("nan"),
                         "msgs_per_s": _rate(drain)})
    return pd.DataFrame(rows)


def nodes_wide(table: pd.DataFrame) -> pd.DataFrame:
    """The nodes table for the page: one row per (back end, nodes, consumers), rates rounded."""
    return table.set_index(["backend", "nodes", "setup", "consumers"])[
        ["processed", "publish_msgs_per_s", "msgs_per_s"]].round(0)


def nodes_verdict(table: pd.DataFrame) -> str:
    """What the 1-vs-3-node rows say, per back end, at the largest consumer count run (a sentence per back end)."""
    n = int(table["consumers"].max())
    parts = []
    for backend, group in table[table["consumers"] == n].groupby("backend", sort=False):
        by_nodes = group.set_index("nodes")
        if {1, 3} <= set(by_nodes.index):
            one, three = by_nodes.loc[1], by_nodes.loc[3]
            put, drain = (three[c] / one[c] for c in ("publish_msgs_per_s", "msgs_per_s"))
            parts.append(f"{backend}: the backlog went in at {one['publish_msgs_per_s']:,.0f} msg/s on 1 node and "
                         f"{three['publish_msgs_per_s']:,.0f} on 3 ({put:.2f}×), and {n} consumers drained it at "
                         f"{one['msgs_per_s']:,.0f} and {three['msgs_per_s']:,.0f} msg/s ({drain:.2f}×)")
        else:
            only = by_nodes.iloc[0]
            parts.append(f"{backend}: only the {int(by_nodes.index[0])}-node case ran (the backlog went in at "
                         f"{only['publish_msgs_per_s']:,.0f} msg/s, {n} consumers drained it at "
                         f"{only['msgs_per_s']:,.0f} msg/s)")
    return "; ".join(parts) + "."


def _read_batches(worker: subprocess.Popen, batches: list[tuple[int, float]]) -> None:
    for line in worker.stdout:
        count, _, stamp = line.strip().partition(" ")
        if count.isdigit():
            batches.append((int(count), float(stamp)))


@dataclass(frozen=True)
class Drain:
    """One drain of the backlog: what the workers processed, and over how long; how long publishing it took."""

    processed: int
    timed: int
    seconds: float
    publish_s: float


def _drain_with(brokers: Endpoints, backend: str, n: int, payloads: list[tuple[str, bytes]], partitions: int,
                timeout_s: float, assignment: list[list[int]] | None = None) -> Drain:
    """`assignment`: where a Kafka topic's replicas go (partition → broker ids); RabbitMQ workers connect to
    the nodes of `brokers.all_amqp_urls` in turn (the queue's leader is where it was declared, node 1)."""
    from ...transport import get_transport

    name = f"{unique(f'scale-{backend}-{n}')}.stream"   # a namespace: its own dead-letter exchange
    group = f"{name}.workers"
    queue = ""
    if backend == "kafka":
        kafka_topic(brokers.kafka_bootstrap, name, partitions, assignment=assignment,
                    config={"min.insync.replicas": "2"} if assignment and len(assignment[0]) > 2 else None)
        transport = get_transport("kafka", "confluent", Endpoints(brokers.kafka_bootstrap, "", ""))
        addresses = [brokers.kafka_bootstrap]
    else:
        from ...transport.rabbitmq import RabbitMQTransport, Topology

        transport = RabbitMQTransport([brokers.amqp_url], brokers.rabbit_mgmt_url)
        with amqp_channel(brokers.amqp_url) as channel:
            queue = Topology().declare_group_queue(channel, group, name)
        addresses = list(brokers.all_amqp_urls)
    workers: list[subprocess.Popen] = []
    try:
        publisher = transport.publisher("ch03-scale-pub")
        started = time.monotonic()
        for key, value in payloads:
            publisher.publish(name, key, value)
        publisher.flush(120)
        publish_s = time.monotonic() - started
        publisher.close()
        workers = [subprocess.Popen([sys.executable, "-m", "streamlab.experiments.patterns.fft_worker", backend,
                                     addresses[i % len(addresses)], name, group], stdout=subprocess.PIPE,
                                    text=True, stderr=subprocess.DEVNULL) for i in range(n)]
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
            return Drain(processed, processed, float("nan"), publish_s)
        first_batch = min(batches, key=lambda b: b[1])
        # the first batch's own work is not timed (only its end is known): count from its end
        return Drain(processed, processed - first_batch[0], max(t for _, t in batches) - first_batch[1], publish_s)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        if backend == "kafka":
            kafka_cleanup(brokers.kafka_bootstrap, [name], [group])
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
        row = {
            "fleet (machines)": fleet,
            "telemetry msg/s": fleet * rate_hz,
            "vibration windows/s": fleet * vibration_hz,
        }
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
