"""Deep dive 9: what a key has to look like — partition choice, per-key order, hot keys and salting.

- `key_to_partition`: Kafka's Java clients (and the application, which sets
  ``partitioner=murmur2_random``) put a keyed record into partition
  ``(murmur2(key) & 0x7fffffff) % partitions``. librdkafka's own default
  (``consistent_random``, CRC32) picks a different one, so a Python and a Java
  producer with default settings split the same key over two partitions. The
  table shows the formula (kafka-python's murmur2), what the broker stored for
  each partitioner, and whether they agree.
- `ordering`: numbered readings per machine, sent keyed by machine and
  unkeyed, read back by one consumer across all partitions; an *inversion* is
  a reading that arrives after a later one of the same machine.
- `hot_key`: one machine ``hot_factor`` times louder than the others; records
  per partition show the skew; salting the hot key (``m-07#0`` … ``m-07#k``)
  spreads it, at the price of that machine's order across the salted keys.
"""

from __future__ import annotations

import pandas as pd

from ...measure.order import late_arrivals_one_key
from . import common


def murmur2_partition(key: bytes, partitions: int) -> int:
    """The Java client's default partition of a keyed record."""
    from kafka.partitioner.default import murmur2

    return (murmur2(key) & 0x7FFFFFFF) % partitions


def machine_ids(count: int) -> list[str]:
    return [f"m-{i:02d}" for i in range(1, count + 1)]


def _send(bootstrap: str, topic_name: str, records: list[tuple[bytes | None, bytes]], partitioner: str,
          **settings: object) -> None:
    writer = common.producer(bootstrap, partitioner=partitioner, linger_ms=5, acks="all", **settings)
    for key, value in records:
        while True:
            try:
                writer.produce(topic_name, value, key=key)
                break
            except BufferError:
                writer.poll(0.01)
        writer.poll(0)
    writer.flush(60)


def key_to_partition(bootstrap: str, keys: list[str], partitions: int = 6) -> pd.DataFrame:
    """One row per key: the murmur2 formula's partition and where each librdkafka partitioner put it."""
    common.require(1 <= partitions <= 1000, "partitions must lie between 1 and 1000")
    common.require(0 < len(keys) <= 10_000, "give between 1 and 10,000 keys")
    stored: dict[str, dict[str, int]] = {}
    specs = {p: common.topic(common.unique(f"keys-{p.replace('_', '')}"), partitions)
             for p in ("murmur2_random", "consistent_random")}
    with common.scratch_topics(bootstrap, list(specs.values())):
        for partitioner, spec in specs.items():
            _send(bootstrap, spec.name, [(k.encode(), k.encode()) for k in keys], partitioner)
            stored[partitioner] = {r.key.decode(): r.partition for r in common.read_all(bootstrap, spec.name)}
    frame = pd.DataFrame({
        "key": keys,
        "murmur2 formula": [murmur2_partition(k.encode(), partitions) for k in keys],
        "librdkafka murmur2_random": [stored["murmur2_random"].get(k, -1) for k in keys],
        "librdkafka default (consistent_random)": [stored["consistent_random"].get(k, -1) for k in keys],
    })
    frame["java-compatible"] = frame["murmur2 formula"] == frame["librdkafka murmur2_random"]
    return frame


def inversions(sequence: list[int]) -> int:
    """Readings that arrive after a later reading of the same machine (order broken)."""
    return late_arrivals_one_key(sequence)


def _readings(machines: list[str], records: int, hot: str | None = None, hot_factor: int = 1) -> list[tuple[str, int]]:
    """(machine, its sequence number) in send order; the hot machine sends hot_factor readings per round."""
    weights = {m: (hot_factor if m == hot else 1) for m in machines}
    seq = {m: 0 for m in machines}
    out: list[tuple[str, int]] = []
    while len(out) < records:
        for machine, weight in weights.items():
            for _ in range(weight):
                out.append((machine, seq[machine]))
                seq[machine] += 1
    return out[:records]


def ordering(bootstrap: str, records: int = 3000, machines: int = 20, partitions: int = 6) -> pd.DataFrame:
    """Per-machine inversions when reading back a keyed and an unkeyed topic with one consumer."""
    common.require(records >= machines >= 1, "send at least one reading per machine")
    ids = machine_ids(machines)
    readings = _readings(ids, records)
    specs = {"keyed by machine": common.topic(common.unique("order-keyed"), partitions),
             "no key": common.topic(common.unique("order-unkeyed"), partitions)}
    rows = []
    with common.scratch_topics(bootstrap, list(specs.values())):
        for design, spec in specs.items():
            payload = [((m.encode() if design == "keyed by machine" else None), f"{m}:{s}".encode())
                       for m, s in readings]
            # Sticky partitioning off: librdkafka otherwise puts key-less records in one partition for
            # 10 ms at a time, and a burst sent as fast as this one fits in a single window; a fleet's
            # readings, sent over minutes, cross many windows. Off, each record picks its partition.
            _send(bootstrap, spec.name, payload, "murmur2_random", sticky_partitioning_linger_ms=0)
            got = _consume_in_group(bootstrap, spec.name, len(payload))
            by_machine: dict[str, list[int]] = {}
            partitions_of: dict[str, set[int]] = {}
            for partition, value in got:
                machine, seq = value.decode().split(":")
                by_machine.setdefault(machine, []).append(int(seq))
                partitions_of.setdefault(machine, set()).add(partition)
            for machine in ids:
                seqs = by_machine.get(machine, [])
                rows.append({"design": design, "machine": machine, "received": len(seqs),
                             "partitions_used": len(partitions_of.get(machine, ())),
                             "inversions": inversions(seqs)})
    return pd.DataFrame(rows)


def _consume_in_group(
    bootstrap: str, topic_name: str, expected: int, timeout_s: float = 60.0
) -> list[tuple[int, bytes]]:
    """What one group member reads, in the order it gets it (partitions interleaved as the broker serves them)."""
    import time

    reader = common.consumer(bootstrap, common.unique("order"))
    got: list[tuple[int, bytes]] = []
    try:
        reader.subscribe([topic_name])
        deadline = time.monotonic() + timeout_s
        while len(got) < expected and time.monotonic() < deadline:
            for msg in reader.consume(500, 0.5):
                if not msg.error():
                    got.append((msg.partition(), msg.value()))
    finally:
        reader.close()
    return got


def hot_key(bootstrap: str, records: int = 3000, machines: int = 20, partitions: int = 6, hot_factor: int = 100,
            salts: int = 6) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Records per partition with the hot machine keyed plainly and salted; and the hot machine's order.

    Returns (per partition: design, partition, records, share) and (per design:
    skew = busiest partition / mean, the hot machine's partitions and inversions).
    """
    common.require(hot_factor >= 1, "hot_factor must be at least 1")
    common.require(1 <= salts <= partitions * 4, "salts: between 1 and four times the partition count")
    ids = machine_ids(machines)
    hot = ids[len(ids) // 3]
    readings = _readings(ids, records, hot, hot_factor)
    designs = {"machine id as key": lambda m, s: m,
               f"hot key salted over {salts}": lambda m, s: f"{m}#{s % salts}" if m == hot else m}
    specs = {d: common.topic(common.unique("hot"), partitions) for d in designs}
    per_partition, summary = [], []
    with common.scratch_topics(bootstrap, list(specs.values())):
        for design, keyer in designs.items():
            spec = specs[design]
            _send(bootstrap, spec.name, [(keyer(m, s).encode(), f"{m}:{s}".encode()) for m, s in readings],
                  "murmur2_random")
            got = _consume_in_group(bootstrap, spec.name, len(readings))
            counts = pd.Series([p for p, _ in got]).value_counts().reindex(range(partitions), fill_value=0)
            for partition, n in counts.items():
                per_partition.append({"design": design, "partition": int(partition), "records": int(n),
                                      "share": n / max(1, counts.sum())})
            hot_seqs = [int(v.decode().split(":")[1]) for _, v in got if v.decode().startswith(hot + ":")]
            summary.append({"design": design, "hot_machine": hot, "hot_factor": hot_factor,
                            "records": len(got), "hot_records": len(hot_seqs),
                            "skew_max_over_mean": float(counts.max() / counts.mean()),
                            "hot_partitions": len({p for p, v in got if v.decode().startswith(hot + ":")}),
                            "hot_inversions": inversions(hot_seqs)})
    return pd.DataFrame(per_partition), pd.DataFrame(summary)
