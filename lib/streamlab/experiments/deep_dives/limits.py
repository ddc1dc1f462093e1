"""Deep dive 2: the limits of send and receive — the Python client beside Kafka's own perf tools.

Three experiments, all on the same stack in one run so that their ratios hold
on a noisy, shared machine:

- `send_limits`: the producer's ceiling (records/s, MB/s) over message size ×
  acks × linger, each point run by the benchmark harness's confluent-kafka
  driver and by kafka-producer-perf-test (`bench.run_one`, the harness's own
  drivers: nothing here re-implements a load generator).
- `knee`: the confluent-kafka producer and consumer at fixed rates, fractions
  of the ceiling `send_limits` measured; end-to-end latency (p50/p99) against
  the rate achieved shows where the latency turns up.
- `read_paths`: one topic of the application's own telemetry records, read to
  the end by kafka-consumer-perf-test and by several Python read loops in turn
  (per-message `poll()`, `consume()` batches, the library's consumer with a
  `Record` per message, the same plus decoding): where the consumer's time
  goes. Each loop checks that it saw every record exactly once (its count and
  its final position per partition against the topic's end offsets).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ...bench import run as bench
from ...bench.drivers.base import Progress, get_driver
from ...bench.drivers.kafka_java_tools import ToolProcess, java_command, parse_consumer_output, require_jars
from ...bench.drivers.results import MB
from ...bench.workload import ACKS, load_workload
from ...codecs import service_codec
from ...domain.fleet import Fleet
from ...domain.messages import TelemetryReading
from ...measure import rules
from ...transport.kafka_confluent import ConfluentConsumer
from . import common

SEND_DRIVERS = ("confluent-kafka", "kafka-perf-test")
JAVA = "kafka-perf-test"
MAX_SIZE = 1 << 20          # Kafka's default max.message.bytes is ~1 MB


@dataclass(frozen=True)
class SendPoint:
    """One producer configuration of the send grid."""

    size: int
    acks: str
    linger_ms: float

    @property
    def label(self) -> str:
        return f"{_size_label(self.size)}, acks={self.acks}, linger {self.linger_ms:g} ms"


def _size_label(size: int) -> str:
    return f"{size // 1024} KB" if size >= 1024 and size % 1024 == 0 else f"{size} B"


def send_grid(sizes: Sequence[int], acks: Sequence[str], lingers: Sequence[float]) -> list[SendPoint]:
    """One factor at a time around a centre point (the smallest size, the last acks, the first linger).

    Every size at the centre's acks and linger, every other acks and every
    other linger at the smallest size: a full product would cost a run per
    cell, and small records are where acks and batching show most.
    """
    check_send_grid(sizes, acks, lingers)
    small, centre_acks, centre_linger = min(sizes), str(acks[-1]), float(lingers[0])
    points = [SendPoint(int(size), centre_acks, centre_linger) for size in sizes]
    points += [SendPoint(small, str(a), centre_linger) for a in acks[:-1]]
    points += [SendPoint(small, centre_acks, float(linger)) for linger in lingers[1:]]
    return list(dict.fromkeys(points))


def check_send_grid(sizes: Sequence[int], acks: Sequence[str], lingers: Sequence[float]) -> None:
    """One line for a grid Kafka or the harness cannot run."""
    common.require(len(sizes) > 0 and len(acks) > 0 and len(lingers) > 0,
                   "the send grid needs at least one message size, one acks value and one linger")
    for size in sizes:
        common.require(isinstance(size, int) and 16 <= size <= MAX_SIZE,
                       f"message size {size!r} is outside 16 B … 1 MB (the payload carries an 8-byte timestamp, "
                       "and Kafka's default max.message.bytes is about 1 MB)")
    for value in acks:
        common.require(str(value) in ACKS, f"acks={value!r} is not a Kafka setting: use 0, 1 or all")
    for linger in lingers:
        common.require(0 <= float(linger) <= 5000, f"linger.ms={linger!r} must lie between 0 and 5000")


def check_fractions(fractions: Sequence[float]) -> None:
    common.require(len(fractions) > 0 and all(0 < f <= 1.5 for f in fractions),
                   f"knee fractions {list(fractions)} must lie in (0, 1.5]: shares of the measured maximum rate")


def records_for(size: int, point_mb: float, floor: int = 1000, cap: int = 1_000_000) -> int:
    """Records per grid point: about ``point_mb`` MB of payload, so every size costs about the same time."""
    common.require(point_mb > 0, f"limits_point_mb must be positive, got {point_mb}")
    return int(min(cap, max(floor, point_mb * 1e6 / size)))


def _base_workload(partitions: int, replication: int):
    common.require(partitions >= 1, f"partitions must be at least 1, got {partitions}")
    common.require(replication >= 1, f"replication must be at least 1, got {replication}")
    return load_workload("max-throughput-100b").replace(partitions=partitions, replication=replication)


# --------------------------------------------------------------------------- the send grid


def send_limits(endpoints: Any, points: Sequence[SendPoint], *, point_mb: float = 20.0, partitions: int = 6,
                replication: int = 3, drivers: Sequence[str] = SEND_DRIVERS,
                progress: bool = False) -> pd.DataFrame:
    """One row per grid point × driver: the producer's records/s and MB/s at max rate, and the ratio to Java.

    Each point is a bounded max-rate run (about ``point_mb`` MB, producer only;
    the consumer side is `read_paths`' subject) by each driver in turn on a fresh
    topic. kafka-producer-perf-test ends by itself after its record count and
    prints send→ack percentiles; at max rate they measure its 32 MB buffer
    filling, not the broker. The Python driver reports no latency at max rate
    (a callback per record would cost more than the send).
    """
    common.require(len(points) > 0, "the send grid is empty")
    instances = [get_driver(name) for name in drivers]
    for driver in instances:
        driver.check(endpoints)
    base = _base_workload(partitions, replication).replace(consumers=0, warmup=0)
    bar = Progress(sum(6.0 for _ in points) * len(instances), enabled=progress)
    rows = []
    try:
        for point in points:
            records = records_for(point.size, point_mb)
            wl = base.replace(name=f"limits-{point.size}b-acks{point.acks}-linger{point.linger_ms:g}",
                              message_size=point.size, acks=point.acks, linger_ms=point.linger_ms,
                              max_records=records, duration=max(5.0, records / 2_000))   # ends at max_records
            for driver in instances:
                result = bench.run_one(driver, wl, endpoints, bar)
                if _nothing_sent(result):   # seen once on a machine running three stacks: 0 records, no error
                    result = bench.run_one(driver, wl, endpoints, bar)
                rows.append(_send_row(point, driver.name, result))
    finally:
        bar.close()
    frame = pd.DataFrame(rows)
    java = frame[frame["driver"] == JAVA].set_index("point")["records_per_s"]
    frame["ratio_to_java"] = [r / java[p] if p in java.index and java[p] > 0 else float("nan")
                              for p, r in zip(frame["point"], frame["records_per_s"])]
    return frame


def _nothing_sent(result) -> bool:
    """A run that reported no error and no record: not a rate of 0, a run that did not happen; tried once more."""
    producer = result.roles.get("producer")
    return not result.error and (producer is None or not producer.total_records)


def _send_row(point: SendPoint, driver: str, result) -> dict[str, Any]:
    producer = result.roles.get("producer")
    latency = producer.latency if producer is not None else None
    return {"point": point.label, "message_size": point.size, "acks": point.acks, "linger_ms": point.linger_ms,
            "driver": driver, "replication": result.replication, "brokers": result.brokers,
            "records": producer.total_records if producer else 0,
            "records_per_s": producer.records_per_s if producer else float("nan"),
            "mb_per_s": producer.mb_per_s if producer else float("nan"),
            "ack_p50_ms": latency.p50_ms if latency else float("nan"),
            "ack_p99_ms": latency.p99_ms if latency else float("nan"),
            "errors": producer.errors if producer else 0, "error": result.error or "",
            "machine_busy": bool(result.machine_state.get("machine_busy", False)),
            "others_cpu_pct": result.machine_state.get("others_cpu_pct", float("nan"))}


def ceiling(frame: pd.DataFrame, driver: str = "confluent-kafka", *, size: int | None = None,
            acks: str | None = None) -> float:
    """The highest records/s ``driver`` reached at ``size`` and ``acks`` (default: the smallest size, acks=all)."""
    size = int(frame["message_size"].min()) if size is None else size
    acks = ("all" if "all" in set(frame["acks"]) else str(frame["acks"].iloc[0])) if acks is None else acks
    rows = frame[(frame["driver"] == driver) & (frame["message_size"] == size) & (frame["acks"] == acks)]
    rows = rows[rows["records_per_s"] > 0]
    common.require(not rows.empty,
                   f"no {driver} result at {size} B, acks={acks} to take the maximum rate from")
    return float(rows["records_per_s"].max())


# --------------------------------------------------------------------------- the knee


def knee(endpoints: Any, max_rate: float, fractions: Sequence[float] = (0.25, 0.5, 0.75, 1.0), *,
         size: int = 100, acks: str = "all", partitions: int = 6, replication: int = 3, warmup_s: float = 1.0,
         duration_s: float = 3.0, driver: str = "confluent-kafka", progress: bool = False) -> pd.DataFrame:
    """One row per fraction: target and achieved records/s, end-to-end p50/p99/p99.9 (producer and consumer at once).

    The stamp in each record is its *intended* send time, so a producer that
    falls behind its schedule shows as latency, not as a lower rate.
    """
    check_fractions(fractions)
    check_send_grid([size], [acks], [5])
    common.require(max_rate > 0, f"the maximum rate must be positive, got {max_rate}")
    common.require(duration_s > 0 and warmup_s >= 0, "knee runs need a positive duration and a warm-up ≥ 0")
    runner = get_driver(driver)
    runner.check(endpoints)
    base = _base_workload(partitions, replication).replace(
        name=f"limits-knee-{size}b", message_size=size, acks=acks, phases="concurrent", warmup=warmup_s,
        duration=duration_s)
    bar = Progress(len(fractions) * (warmup_s + duration_s + 6), enabled=progress)
    rows = []
    try:
        for fraction in fractions:
            target = max(1.0, round(max_rate * fraction, 1))
            result = bench.run_one(runner, base.replace(rate=target), endpoints, bar)
            producer, consumer, e2e = (result.roles.get(r) for r in ("producer", "consumer", "e2e"))
            latency = e2e.latency if e2e is not None else None
            sent = producer.records_per_s if producer else float("nan")
            rows.append({"fraction": fraction, "target_per_s": target,
                         "sent_per_s": sent,
                         "rate_off": rules.rate_miss(target, sent),
                         "rate_flag": rules.rate_failure(target, sent) is not None,
                         "measured_s": producer.seconds if producer else 0.0,
                         "measured_records": producer.records if producer else 0,
                         "received_per_s": consumer.records_per_s if consumer else float("nan"),
                         "e2e_p50_ms": latency.p50_ms if latency else float("nan"),
                         "e2e_p99_ms": latency.p99_ms if latency else float("nan"),
                         "e2e_p999_ms": latency.p999_ms if latency else float("nan"),
                         "message_size": size, "acks": acks, "replication": result.replication,
                         "driver": driver, "error": result.error or "",
                         "machine_busy": bool(result.machine_state.get("machine_busy", False)),
                         "others_cpu_pct": result.machine_state.get("others_cpu_pct", float("nan"))})
    finally:
        bar.close()
    return pd.DataFrame(rows)


#: What one knee point must meet: the timeline's 0.1-s buckets, at least 2 s and 1,000 records measured.
KNEE_RULES = rules.RunRules(min_seconds=2.0, min_records=1000, tick_s=0.1)


def knee_at(frame: pd.DataFrame, factor: float = rules.KNEE_FACTOR) -> float | None:
    """The knee's fraction by the library's one definition (`rules.knee_index`, on p50), or None."""
    ok = frame[frame["error"] == ""].sort_values("fraction").reset_index(drop=True)
    index = rules.knee_index(ok["fraction"].tolist(), ok["e2e_p50_ms"].tolist(), factor)
    return None if index is None else float(ok["fraction"].iloc[index])


def knee_validity(frame: pd.DataFrame, run_rules: rules.RunRules = KNEE_RULES,
                  factor: float = rules.KNEE_FACTOR) -> rules.Validity:
    """The rules the knee curve broke: ≥ 5 points, each long enough, and every point below the knee at its rate.

    A point at or past the knee may fall short of its target (that is what overload is); one below it
    may not, or the curve's x axis is not the load it names.
    """
    ok = frame[frame["error"] == ""].sort_values("fraction")
    validity = rules.Validity().add(rules.curve_failure(len(ok)))
    for _, row in ok.iterrows():
        validity.extend([f"at {row['fraction']:.0%}: {f}" for f in
                         run_rules.failures(float(row["measured_s"]), float(row["measured_records"]))])
    turn = knee_at(ok, factor)
    below = ok if turn is None else ok[ok["fraction"] < turn]
    for _, row in below.iterrows():
        miss = rules.rate_failure(float(row["target_per_s"]), float(row["sent_per_s"]))
        validity.add(f"at {row['fraction']:.0%}: {miss}" if miss else None)
    return validity


# --------------------------------------------------------------------------- the read paths


@dataclass
class ReadOutcome:
    records: int
    first_s: float      # monotonic time of the first record
    last_s: float       # … and of the last
    complete: bool      # every record exactly once: the count and the final position per partition match


#: (name, what it does per message) in the order the chapter shows them
READ_VARIANTS = (
    ("poll() per message", "confluent-kafka: one poll() call, one Message object, value length"),
    ("consume(1000) batches", "confluent-kafka: consume() returns up to 1000 Messages per call; value length"),
    ("consume(1000), count only", "the floor of the Python client: Message objects created, nothing read"),
    ("library consumer (Record)", "streamlab's ConfluentConsumer.poll(): a Record per message, offsets tracked"),
    ("library consumer + decode", "the same, plus decoding each value into a TelemetryReading (the app's codec)"),
    ("kafka-python", "kafka-python's pure-Python consumer, poll(max_records=1000)"),
)


def telemetry_payloads(machines: int = 20, count: int = 2000, codec: str = "orjson") -> list[bytes]:
    """The application's own telemetry records, encoded as the services encode them (cycled when writing)."""
    fleet = Fleet(machines, seed=7)
    encoder = service_codec(codec)
    return [encoder.encode(fleet.telemetry(i % machines, i / (10 * machines))) for i in range(count)]


def read_paths(bootstrap: str, *, records: int = 500_000, partitions: int = 6, codec: str = "orjson",
               time_cap_s: float = 10.0, variants: Sequence[str] | None = None,
               java: bool = True) -> pd.DataFrame:
    """One row per read path over the same topic: records, seconds, records/s, ratio to the Java tool, complete.

    The topic (RF 1, written once with the application's telemetry records) is
    read from the beginning to its end by each path in turn, without a group
    rebalance in the timed part: the clock runs from the first record to the
    last, as kafka-consumer-perf-test's `fetch.nMsg.sec` does. A path still
    reading after ``time_cap_s`` stops and reports the rate so far
    (``complete`` False).
    """
    names = [name for name, _ in READ_VARIANTS]
    chosen = list(names if variants is None else variants)
    for name in chosen:
        common.require(name in names, f"unknown read path {name!r}: choose from {', '.join(names)}")
    common.require(records >= 1000, f"read at least 1000 records, got {records}")
    common.require(partitions >= 1, f"partitions must be at least 1, got {partitions}")
    common.require(time_cap_s > 0, "time_cap_s must be positive")
    if java:
        require_jars("kafka", "kafka-tools")
    payloads = telemetry_payloads(codec=codec)
    spec = common.topic(common.unique("limits-read"), partitions, 1)
    rows = []
    with common.scratch_topics(bootstrap, [spec]):
        nbytes = _fill(bootstrap, spec.name, records, payloads, partitions)
        ends = common.end_offsets(bootstrap, spec.name)
        if java:
            rows.append(_java_row(bootstrap, spec.name, records))
        readers: dict[str, Callable[[], ReadOutcome]] = {
            "poll() per message": lambda: _read_poll(bootstrap, spec.name, ends, records, time_cap_s),
            "consume(1000) batches": lambda: _read_consume(bootstrap, spec.name, ends, records, time_cap_s, True),
            "consume(1000), count only": lambda: _read_consume(bootstrap, spec.name, ends, records, time_cap_s,
                                                               False),
            "library consumer (Record)": lambda: _read_library(bootstrap, spec.name, ends, records, time_cap_s,
                                                               None),
            "library consumer + decode": lambda: _read_library(bootstrap, spec.name, ends, records, time_cap_s,
                                                               service_codec(codec)),
            "kafka-python": lambda: _read_kafka_python(bootstrap, spec.name, ends, records, time_cap_s),
        }
        for name in chosen:
            outcome = readers[name]()
            seconds = max(outcome.last_s - outcome.first_s, 1e-6)
            rows.append({"path": name, "records": outcome.records, "seconds": seconds,
                         "records_per_s": outcome.records / seconds,
                         "mb_per_s": outcome.records * nbytes / records / seconds / MB,
                         "complete": outcome.complete})
    frame = pd.DataFrame(rows)
    frame["what"] = frame["path"].map(dict(READ_VARIANTS) | {JAVA_READ: JAVA_READ_WHAT})
    frame["topic_records"] = records
    frame["partitions"] = partitions
    frame["payload_b"] = nbytes / records
    java_rate = frame.loc[frame["path"] == JAVA_READ, "records_per_s"]
    frame["ratio_to_java"] = frame["records_per_s"] / java_rate.iloc[0] if not java_rate.empty else float("nan")
    return frame


JAVA_READ = "kafka-consumer-perf-test"
JAVA_READ_WHAT = "Kafka's Java consumer tool (ConsumerPerformance), fetch.nMsg.sec"


def _fill(bootstrap: str, topic_name: str, records: int, payloads: Sequence[bytes], partitions: int) -> int:
    """Write ``records`` payloads (cycled) round-robin over the partitions; the payload bytes written.

    Key-less records would go where the sticky partitioner puts them: with one large batch per partition,
    a few thousand records can land in one or two partitions and leave the others empty, so every read path
    would read fewer partitions than the topic has."""
    writer = common.producer(bootstrap, acks="1", linger_ms=20, batch_size=1_000_000, compression_type="none",
                             queue_buffering_max_kbytes=65536, queue_buffering_max_messages=2_000_000)
    produce, poll = writer.produce, writer.poll
    count = len(payloads)
    nbytes = 0
    for i in range(records):
        value = payloads[i % count]
        nbytes += len(value)
        while True:
            try:
                produce(topic_name, value, partition=i % partitions)
                break
            except BufferError:
                poll(0.01)
        if i % 10_000 == 0:
            poll(0)
    common.require(writer.flush(120) == 0, f"could not write {records:,} records to {topic_name} within 120 s")
    return nbytes


def _java_row(bootstrap: str, topic_name: str, records: int) -> dict[str, Any]:
    group = common.unique("limits-java")
    args = ["--bootstrap-server", bootstrap, "--topic", topic_name, "--messages", records, "--group", group,
            "--timeout", 20000]
    tool = ToolProcess(java_command("kafka", "org.apache.kafka.tools.ConsumerPerformance", args), "consumer")
    try:
        tool.wait(120)
    finally:
        tool.stop()
    row = parse_consumer_output(tool.text())
    common.require(row is not None, f"kafka-consumer-perf-test printed no result: {tool.tail()}")
    received = int(row["data.consumed.in.nMsg"])
    seconds = max(row["fetch.time.ms"] / 1000.0, 1e-3)
    return {"path": JAVA_READ, "records": received, "seconds": seconds, "records_per_s": received / seconds,
            "mb_per_s": row["data.consumed.in.MB"] / seconds, "complete": received == records}


def _assigned(bootstrap: str, topic_name: str, ends: dict[int, int], **settings):
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    reader = common.consumer(bootstrap, common.unique("limits-read"), fetch_queue_backoff_ms=10, **settings)
    reader.assign([TopicPartition(topic_name, p, OFFSET_BEGINNING) for p in ends])
    return reader


def _at_ends(offsets, ends: dict[int, int]) -> bool:
    """Each partition's offset (a position or a committed offset) is its end offset. A partition that holds
    no record has neither (librdkafka answers OFFSET_INVALID until a record is consumed or committed), so
    it is not compared."""
    return all(tp.offset == ends[tp.partition] for tp in offsets if ends[tp.partition] > 0)


def _positions_match(reader, topic_name: str, ends: dict[int, int]) -> bool:
    from confluent_kafka import TopicPartition

    return _at_ends(reader.position([TopicPartition(topic_name, p) for p in ends]), ends)


def _read_poll(bootstrap: str, topic_name: str, ends: dict[int, int], records: int, cap_s: float) -> ReadOutcome:
    reader = _assigned(bootstrap, topic_name, ends)
    poll = reader.poll
    n = nbytes = 0
    first = 0.0
    try:
        while n == 0:
            msg = poll(1.0)
            if msg is not None and msg.error() is None:
                first = time.monotonic()
                n, nbytes = 1, len(msg.value())
        deadline = first + cap_s
        while n < records:
            msg = poll(0.5)
            if msg is None:
                if time.monotonic() > deadline:
                    break
                continue
            if msg.error() is None:
                n += 1
                nbytes += len(msg.value())
                if not n & 0x3FFF and time.monotonic() > deadline:
                    break
        last = time.monotonic()
        return ReadOutcome(n, first, last, n == records and _positions_match(reader, topic_name, ends))
    finally:
        reader.close()


def _timed_batches(fetch: Callable[[], Any], handle: Callable[[Any], int], records: int,
                   cap_s: float) -> tuple[int, float, float]:
    """Fetch and handle batches until ``records`` are handled or ``cap_s`` have passed since the first batch.

    Returns (handled, monotonic time of the first batch, of the end): the one
    timed loop of every batched read path, so they differ only in their work.
    """
    n = 0
    first = 0.0
    while n < records:
        batch = fetch()
        if not batch:
            if first and time.monotonic() > first + cap_s:
                break
            continue
        if not first:
            first = time.monotonic()
        n += handle(batch)
        if time.monotonic() > first + cap_s:
            break
    return n, first, time.monotonic()


def _touch(msgs) -> int:
    """Each value read, as the benchmark driver does: error check, value, length."""
    n = 0
    for msg in msgs:
        if msg.error() is None:
            n += 1
            len(msg.value())
    return n


def _read_consume(bootstrap: str, topic_name: str, ends: dict[int, int], records: int, cap_s: float,
                  touch: bool) -> ReadOutcome:
    reader = _assigned(bootstrap, topic_name, ends)
    try:
        n, first, last = _timed_batches(lambda: reader.consume(1000, 0.5), _touch if touch else len, records,
                                        cap_s)
        return ReadOutcome(n, first, last, n == records and _positions_match(reader, topic_name, ends))
    finally:
        reader.close()


def _read_library(bootstrap: str, topic_name: str, ends: dict[int, int], records: int, cap_s: float,
                  codec) -> ReadOutcome:
    """The services' read path: `ConfluentConsumer` (a group, cooperative-sticky), Records, optionally decoded."""
    group = common.unique("limits-lib")
    reader = ConfluentConsumer(bootstrap, [topic_name], group, "limits-read", fetch_queue_backoff_ms=10)

    def decoded(batch) -> int:
        decode = codec.decode
        for record in batch:
            decode(record.value, TelemetryReading)
        return len(batch)

    try:
        n, first, last = _timed_batches(lambda: reader.poll(0.5, max_records=1000),
                                        len if codec is None else decoded, records, cap_s)
        reader.commit()                     # the services commit what they handled: here, what was read
    finally:
        reader.close()
    return ReadOutcome(n, first, last, n == records and _committed_match(bootstrap, group, topic_name, ends))


def _committed_match(bootstrap: str, group: str, topic_name: str, ends: dict[int, int]) -> bool:
    """The group's committed offsets are the topic's end offsets: the library consumer handled every record."""
    from confluent_kafka import TopicPartition

    checker = common.consumer(bootstrap, group)
    try:
        committed = checker.committed([TopicPartition(topic_name, p) for p in ends], timeout=10)
    finally:
        checker.close()
    return _at_ends(committed, ends)


def _read_kafka_python(bootstrap: str, topic_name: str, ends: dict[int, int], records: int,
                       cap_s: float) -> ReadOutcome:
    from kafka import KafkaConsumer, TopicPartition

    reader = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=None, enable_auto_commit=False,
                           auto_offset_reset="earliest", client_id="limits-read")
    parts = [TopicPartition(topic_name, p) for p in ends]
    reader.assign(parts)
    reader.seek_to_beginning(*parts)

    def handle(batches) -> int:
        n = 0
        for msgs in batches.values():
            for msg in msgs:
                n += 1
                len(msg.value)
        return n

    try:
        n, first, last = _timed_batches(lambda: reader.poll(timeout_ms=500, max_records=1000), handle, records,
                                        cap_s)
        complete = n == records and all(reader.position(tp) == ends[tp.partition] for tp in parts)
        return ReadOutcome(n, first, last, complete)
    finally:
        reader.close()


def incomplete_paths(frame: pd.DataFrame) -> list[str]:
    """The read paths that stopped early or miscounted (did not read every record exactly once)."""
    return frame.loc[~frame["complete"], "path"].tolist()


def read_costs(frame: pd.DataFrame) -> dict[str, float]:
    """Microseconds per record that each step of the Python read path adds (from one run's rates).

    ``client``: the floor (librdkafka's fetch and a Message object per record);
    ``touch``: reading each value; ``record``: the library's Record and offset
    bookkeeping; ``decode``: the codec; ``java``: the Java tool's whole cost.
    """
    us = (1e6 / frame.set_index("path")["records_per_s"]).to_dict()
    out = {}
    steps = (("java", JAVA_READ, None), ("client", "consume(1000), count only", None),
             ("touch", "consume(1000) batches", "consume(1000), count only"),
             ("record", "library consumer (Record)", "consume(1000) batches"),
             ("decode", "library consumer + decode", "library consumer (Record)"))
    for name, path, before in steps:
        if path in us and (before is None or before in us):
            out[name] = us[path] - (us[before] if before else 0.0)
    return out


def knee_verdict(frame: pd.DataFrame, factor: float = rules.KNEE_FACTOR) -> str:
    """The knee as a short fact: its load ("80%"), "none up to 100%", or "no conclusion: <rules it broke>"."""
    validity = knee_validity(frame, factor=factor)
    if not validity.ok:
        return validity.verdict("")
    ok = frame[frame["error"] == ""].sort_values("fraction")
    turn = knee_at(ok, factor)
    return f"none up to {ok['fraction'].iloc[-1]:.0%}" if turn is None else f"{turn:.0%}"


def factor_effects(frame: pd.DataFrame, driver: str = "confluent-kafka") -> pd.DataFrame:
    """The grid's one-factor comparisons around its centre, for ``driver``: one row per other point at the
    smallest size, in the grid's order, with the factor it changed (``changed``: "acks=1", "linger 0 ms"),
    its mean records/s over the centre's (``ratio``), the fewest repetitions of the two (``runs``) and
    whether their mean ± sd overlap (``overlap``; True with fewer than two runs). No row where nothing ran."""
    columns = ["changed", "ratio", "runs", "overlap"]
    rows = frame[(frame["driver"] == driver) & (frame["error"] == "")]
    small = rows[rows["message_size"] == rows["message_size"].min()]
    if small.empty:
        return pd.DataFrame(columns=columns)
    rates = small.groupby(["acks", "linger_ms"], sort=False)["records_per_s"].apply(list)
    (centre_acks, _), centre = rates.index[0], rates.iloc[0]
    out = []
    for (acks, linger), values in rates.iloc[1:].items():
        comparison = rules.Comparison.of(values, centre)
        out.append({"changed": f"acks={acks}" if acks != centre_acks else f"linger {linger:g} ms",
                    "ratio": comparison.ratio, "runs": min(comparison.a.n, comparison.b.n),
                    "overlap": comparison.overlap})
    return pd.DataFrame(out, columns=columns)


def effects_verdict(effects: pd.DataFrame) -> str:
    """The one-factor comparisons as a short fact: "no conclusion: <rule>" while a point ran too few times;
    else the changed factor with the largest effect outside the runs' spread and its ratio ("acks=1,
    1.30×"), "none beyond the runs' spread", or "none varied" for a grid of one point."""
    if effects.empty:
        return "none varied"
    failure = rules.Comparison.of([1.0] * int(effects["runs"].min()), [1.0] * int(effects["runs"].min())).failure()
    if failure:
        return rules.no_conclusion(failure)
    clear = effects[~effects["overlap"] & (effects["ratio"] > 0)]
    if clear.empty:
        return "none beyond the runs' spread"
    top = clear.loc[(clear["ratio"].apply(math.log).abs()).idxmax()]
    return f"{top['changed']}, {top['ratio']:.2f}×"


#: Below this share of the Java tool's rate, the bare Python client itself is behind (not only the work per record).
CLIENT_BEHIND = 0.9


def client_behind(frame: pd.DataFrame) -> bool | None:
    """Whether the bare Python client (a Message per record, nothing read) stayed below `CLIENT_BEHIND` of the
    Java tool; None when the run lacks that path. False locates the gap in the Python work per record."""
    floor = frame.set_index("path")["ratio_to_java"].get("consume(1000), count only")
    return None if floor is None or pd.isna(floor) else bool(floor < CLIENT_BEHIND)


__all__ = ["SendPoint", "send_grid", "check_send_grid", "check_fractions", "records_for", "send_limits", "ceiling",
    "knee", "knee_at", "knee_validity",
    "KNEE_RULES", "knee_verdict", "factor_effects", "effects_verdict", "read_costs", "CLIENT_BEHIND", "client_behind",
    "read_paths", "incomplete_paths", "telemetry_payloads", "READ_VARIANTS", "JAVA_READ"]

