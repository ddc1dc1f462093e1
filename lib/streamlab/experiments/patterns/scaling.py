"""Competing consumers: partitions of one Kafka topic vs one RabbitMQ quorum queue, 1 → 2 → 4 → 8 consumers.

The workload is the processor's own work on vibration windows (decode + FFT
band energies, `fft_worker.py`), one process per consumer, so the figure shows
what adding consumers buys on this machine. A backlog of windows is published
first; then N workers start together and drain it for a stated time from the
first batch done (`scale_out`'s ``run_s``; issue 30: runs of 0.08-0.19 s told
nothing). Throughput is the messages done inside that window over its length,
joins and rebalances included: they are part of the cost of scaling out. The two
brokers are compared at equal guarantees (Kafka RF 3, acks=all, min ISR 2 against
a quorum queue on three nodes with publisher confirms), each row naming its own,
and the verdict follows `measure.rules`: runs long enough, ≥ 3 repetitions of the
configurations it compares, a best within one consumer's spread counted as no gain.

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

from ...bench.run import measurement_markers
from ...measure import rules
from ...measure.noise import NoiseMeter
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


#: What one drain must meet before its rate is compared: 2 s and 1,000 messages timed, and 10 of the workers'
#: 0.2-s poll ticks (issue 30: chapter 03's quick runs lasted 0.08-0.19 s).
RUN_RULES = rules.RunRules(min_seconds=2.0, min_records=1000, tick_s=0.2)
#: A back end "gained" from more consumers when its best mean rate is this many times one consumer's.
GAIN = 1.15


def kafka_guarantee(replication: int) -> str:
    """What a Kafka row promises about an acknowledged message."""
    if replication >= 3:
        return f"Kafka RF {replication}, acks=all, min ISR 2"
    return f"Kafka RF {replication}, acks=all"


def rabbit_guarantee(nodes: int) -> str:
    """What a RabbitMQ row promises about a confirmed message."""
    return f"RabbitMQ quorum queue on {nodes} node{'s' if nodes != 1 else ''}, publisher confirms"


def scale_out(brokers: Endpoints, consumers: tuple[int, ...] = (1, 2, 4, 8), run_s: float = 3.0,
              repetitions: int = 1, partitions: int = 8, rabbit_cluster: Endpoints | None = None,
              max_messages: int = 20_000, timeout_s: float = 120.0) -> pd.DataFrame:
    """One row per drain: backend, guarantee, consumers, repetition, messages, processed, timed, seconds, msgs_per_s,
    and how busy the machine was with other work meanwhile (`measure.noise`: machine_busy, others_cpu_pct, …).

    Equal guarantees (issue 30): Kafka's topic has RF 3 (capped at the brokers there are), acks=all and
    min ISR 2; RabbitMQ's quorum queue lives on ``rabbit_cluster`` (a 3-node cluster) when given, else on
    the stack's node, and every publish is confirmed; each row names its guarantee. Each drain runs for
    ``run_s`` seconds from its first batch (a backlog large enough for that, then the workers are stopped):
    a time, not a message count, so a fast configuration is measured as long as a slow one. The
    configurations run in a rotated order per repetition, so a drift of the shared machine hits all.
    """
    rabbit = rabbit_cluster or brokers
    payloads = _backlog(max_messages)
    rows = []
    for backend in ("kafka", "rabbitmq"):
        where = brokers if backend == "kafka" else rabbit
        rows += _scale_backend(where, backend, consumers, run_s, repetitions, partitions, payloads, timeout_s)
    table = pd.DataFrame(rows)
    base = table[table["consumers"] == min(consumers)].groupby("backend")["msgs_per_s"].mean()
    table["speedup"] = table["msgs_per_s"] / table["backend"].map(base)
    return table


def _scale_backend(where: Endpoints, backend: str, consumers: tuple[int, ...], run_s: float, repetitions: int,
                   partitions: int, payloads: list[tuple[str, bytes]], timeout_s: float) -> list[dict]:
    """Every drain on one back end. Kafka: one backlog topic read by a fresh group per drain (a log is not
    consumed away). RabbitMQ: a queue per drain, its backlog sized from the rates seen so far."""
    from ...transport import kafka_admin

    rows = []
    label = "Kafka" if backend == "kafka" else "RabbitMQ"
    if backend == "kafka":
        ids = sorted(kafka_admin.metadata(where.kafka_bootstrap).brokers)
        replication = min(3, len(ids))
        guarantee = kafka_guarantee(replication)
        topic = kafka_backlog(where, payloads, partitions, replication)
        try:
            for rep in range(repetitions):
                for n in _rotated(consumers, rep):
                    with NoiseMeter(measurement_markers()) as meter:
                        drain = _drain_with(where, backend, n, payloads, partitions, timeout_s, stop_after_s=run_s,
                                            kafka_topic_name=topic)
                    rows.append(_row(label, guarantee, n, rep, len(payloads), drain) | meter.state.row())
        finally:
            kafka_cleanup(where.kafka_bootstrap, [topic])
        return rows
    guarantee = rabbit_guarantee(len(where.all_amqp_urls))
    probe = _drain_with(where, backend, 1, payloads[:1000], partitions, timeout_s)   # warms the path, sizes the first
    best = {1: _rate(probe) if _rate(probe) > 0 else 500.0}
    for rep in range(repetitions):
        for n in _rotated(consumers, rep):
            known = max(best)
            estimate = max(best.values()) * min(n / known, 2.5) if n > known else best.get(n, max(best.values()))
            size = int(min(len(payloads), max(1000, estimate * (run_s + 1.0) * 1.3)))
            with NoiseMeter(measurement_markers()) as meter:
                drain = _drain_with(where, backend, n, payloads[:size], partitions, timeout_s, stop_after_s=run_s)
            rows.append(_row(label, guarantee, n, rep, size, drain) | meter.state.row())
            if _rate(drain) > 0:
                best[n] = max(best.get(n, 0.0), _rate(drain))
    return rows


def _rotated(items: tuple[int, ...], by: int) -> list[int]:
    by %= max(1, len(items))
    return list(items[by:] + items[:by])


def _row(backend: str, guarantee: str, n: int, rep: int, messages: int, drain: Drain) -> dict:
    return {"backend": backend, "guarantee": guarantee, "consumers": n, "repetition": rep, "messages": messages,
            "processed": drain.processed, "timed": drain.timed, "seconds": drain.seconds, "msgs_per_s": _rate(drain)}


def kafka_backlog(brokers: Endpoints, payloads: list[tuple[str, bytes]], partitions: int, replication: int) -> str:
    """A topic holding ``payloads`` (RF ``replication``, min ISR 2 at RF 3, written with acks=all): every drain
    reads it from the start with its own group."""
    from ...transport import get_transport

    name = f"{unique('scale-backlog')}.stream"
    kafka_topic(brokers.kafka_bootstrap, name, partitions, replication,
                config={"min.insync.replicas": "2"} if replication >= 3 else None)
    publisher = get_transport("kafka", "confluent", Endpoints(brokers.kafka_bootstrap, "", "")).publisher(
        "ch03-scale-pub")
    try:
        for key, value in payloads:
            publisher.publish(name, key, value)
        publisher.flush(300)
    finally:
        publisher.close()
    return name


def _rate(drain: Drain) -> float:
    return drain.timed / drain.seconds if drain.seconds > 0 else float("nan")


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per back end and consumer count: runs, mean ± sd of msgs/s, speedup of the means, shortest run (s)."""
    grouped = table.groupby(["backend", "guarantee", "consumers"], sort=False)
    out = grouped.agg(runs=("msgs_per_s", "count"), msgs_per_s=("msgs_per_s", "mean"),
                      msgs_per_s_sd=("msgs_per_s", "std"), shortest_s=("seconds", "min")).reset_index()
    base = out[out["consumers"] == out["consumers"].min()].set_index("backend")["msgs_per_s"]
    out["speedup"] = out["msgs_per_s"] / out["backend"].map(base)
    return out


def broken_rules(table: pd.DataFrame, run_rules: rules.RunRules = RUN_RULES) -> list[str]:
    """The short names of the rules the scaling runs broke (empty: they qualify): a drain too short or with
    too few windows timed (`RUN_RULES`), fewer than `rules.MIN_REPETITIONS` runs of a configuration compared.

    Each rule is checked by `measure.rules` on its own (the other measure passed as met), so a name is given
    exactly when that check fails."""
    shortest = max(run_rules.min_seconds, rules.TICKS_PER_RUN * run_rules.tick_s)
    seconds = table["seconds"].astype(float).fillna(0.0)
    names = []
    if any(run_rules.failures(s, run_rules.min_records) for s in seconds):
        names.append(f"drains under {shortest:g} s")
    if any(run_rules.failures(shortest, timed) for timed in table["timed"]):
        names.append(f"drains of under {run_rules.min_records:,} windows")
    for _, group in table.groupby("backend", sort=False):
        one = group[group["consumers"] == group["consumers"].min()]["msgs_per_s"].tolist()
        best = group[group["consumers"] == group.groupby("consumers")["msgs_per_s"].mean().idxmax()]
        if rules.Comparison.of(best["msgs_per_s"].tolist(), one).failure():
            names.append(f"fewer than {rules.MIN_REPETITIONS} runs per configuration")
            break
    return names


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


def nodes_rates(table: pd.DataFrame) -> pd.DataFrame:
    """The 1-vs-3-node rows at the largest consumer count run, one row per back end: ``consumers``, the publish
    rate on 1 and on 3 nodes (``put_1``, ``put_3``, msg/s) and their ratio (``put_x``, 3 ÷ 1), the same for
    the drain (``drain_1``, ``drain_3``, ``drain_x``); NaN for a node count that did not run."""
    n = int(table["consumers"].max())
    rows = []
    for backend, group in table[table["consumers"] == n].groupby("backend", sort=False):
        by_nodes = group.set_index("nodes")
        row: dict = {"backend": backend, "consumers": n}
        for what, column in (("put", "publish_msgs_per_s"), ("drain", "msgs_per_s")):
            one, three = (float(by_nodes.loc[k, column]) if k in by_nodes.index else float("nan") for k in (1, 3))
            row |= {f"{what}_1": one, f"{what}_3": three, f"{what}_x": three / one if one > 0 else float("nan")}
        rows.append(row)
    return pd.DataFrame(rows).set_index("backend")


def nodes_compared(table: pd.DataFrame) -> list[str]:
    """The back ends that ran on both 1 and 3 nodes (a 3-node RabbitMQ needs its private cluster)."""
    return [str(backend) for backend, group in table.groupby("backend", sort=False)
            if {1, 3} <= set(group["nodes"])]


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
                timeout_s: float, assignment: list[list[int]] | None = None, stop_after_s: float | None = None,
                kafka_topic_name: str | None = None) -> Drain:
    """`assignment`: where a Kafka topic's replicas go (partition → broker ids); RabbitMQ workers connect to
    the nodes of `brokers.all_amqp_urls` in turn (the queue's leader is where it was declared, node 1).
    `stop_after_s`: stop the workers that long after the first batch, backlog done or not.
    `kafka_topic_name`: drain that existing topic (all of `payloads` in it) with a fresh group, publish nothing."""
    from ...transport import get_transport

    name = kafka_topic_name or f"{unique(f'scale-{backend}-{n}')}.stream"   # a namespace: its own dead-letter exchange
    group = f"{unique(f'scale-{n}')}.workers" if kafka_topic_name else f"{name}.workers"
    queue = ""
    if backend == "kafka" and kafka_topic_name:
        transport = None
        addresses = [brokers.kafka_bootstrap]
    elif backend == "kafka":
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
        publish_s = float("nan")
        if transport is not None:
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
            if stop_after_s is not None and batches and time.time() > min(t for _, t in batches) + stop_after_s:
                break
            time.sleep(0.05)
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
        batches = sorted(batches, key=lambda b: b[1])
        first_end = batches[0][1] if batches else 0.0
        if stop_after_s is not None:           # what was done inside the window, not what finished while stopping
            batches = [b for b in batches if b[1] <= first_end + stop_after_s]
        processed = sum(count for count, _ in batches)
        if len(batches) < 2:
            return Drain(processed, processed, float("nan"), publish_s)
        # the first batch's own work is not timed (only its end is known): count from its end
        return Drain(processed, processed - batches[0][0], batches[-1][1] - first_end, publish_s)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        if backend == "kafka" and kafka_topic_name:
            kafka_cleanup(brokers.kafka_bootstrap, [], [group])
        elif backend == "kafka":
            kafka_cleanup(brokers.kafka_bootstrap, [name], [group])
        else:
            delete_queues(brokers.amqp_url, [queue], [name, _dlx(name)])
            if transport is not None:
                transport.close()


def peaks(table: pd.DataFrame) -> pd.DataFrame:
    """Per back end: one consumer's mean rate, and the consumer count with the best mean rate (and its speedup).

    Means over the repetitions of each configuration (one run each: that run's rate)."""
    rows = []
    for backend, group in table.groupby("backend", sort=False):
        means = group.groupby("consumers")["msgs_per_s"].mean()
        one = float(means.loc[means.index.min()])
        best_n = int(means.idxmax())
        rows.append({"backend": backend, "one_msgs_per_s": one, "best_consumers": best_n,
                     "best_msgs_per_s": float(means.loc[best_n]), "best_speedup": float(means.loc[best_n]) / one})
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


def gained(peaks_table: pd.DataFrame, table: pd.DataFrame | None = None) -> dict[str, bool]:
    """Per back end: did its best consumer count beat one consumer measurably, i.e. by at least `GAIN`× and,
    with the runs (``table``), outside one consumer's mean ± sd (an overlap counts as no gain)."""
    out = {}
    for backend, row in peaks_table.iterrows():
        overlap = False
        if table is not None:
            runs = table[table["backend"] == backend]
            one = runs[runs["consumers"] == runs["consumers"].min()]["msgs_per_s"].tolist()
            best = runs[runs["consumers"] == int(row["best_consumers"])]["msgs_per_s"].tolist()
            overlap = rules.Comparison.of(best, one).overlap
        out[str(backend)] = float(row["best_speedup"]) >= GAIN and not overlap
    return out


def verdict(peaks_table: pd.DataFrame, table: pd.DataFrame | None = None) -> str:
    """The back ends that gained measurably from more consumers (`gained`), by name ("Kafka and RabbitMQ",
    "Kafka", "neither"); with the runs, "no conclusion: <the rules broken>" (`broken_rules`) when they do
    not qualify. Where each one peaked is in `peaks`; the chapter says it beside the machine's cores."""
    if table is not None and (broken := broken_rules(table)):
        return rules.no_conclusion(", ".join(broken))
    names = [backend for backend, ok in gained(peaks_table, table).items() if ok]
    return " and ".join(names) or "neither"
