"""The loop both sinks share: poll, decode, buffer, write durably, then commit.

Commit comes strictly after the write (at-least-once from the broker), and the
writers skip what they already hold (idempotent files), which together give
each record exactly once on disk across crashes and restarts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .. import crashpoints
from ..codecs import DecodeError, service_codec
from ..domain import MESSAGE_TYPES
from ..measure.latency import LatencyRecorder
from ..pipeline.topics import BY_NAME, DEAD_LETTER
from .common import Deadline, Metrics, ServiceOptions, Shutdown, count_commit
from .deadletter import dead_letter_headers

#: As the processor's cap: a producer inventing machine ids cannot grow a sink's state without bound.
MAX_MACHINES = 10_000
GAUGE_INTERVAL_S = 5.0   # latency percentiles in the live metrics at most this often (the final ones are exact)

#: The archive's rolling policy by default, what users of Kafka Connect's file sinks (S3, HDFS) choose: a file
#: per few minutes (`rotate.interval.ms`) or per tens of MB (`flush.size`: 50,000 health records are ~27 MB as
#: encoded), so a day is a few hundred files per hour folder's worth, not 86,400. Freshness is not the
#: archive's job: the compacted `machine-health-latest` stream has every machine's newest record within the
#: processor's commit interval. A run that measures the archive's own latency, or waits for its first file,
#: passes a short interval (`AppConfig.archive_rotate_s`, `--flush-interval`).
ROTATE_INTERVAL_S = 300.0
FLUSH_SIZE = 50_000
#: A file is also closed once nothing arrived for this long (Flink's file sink calls it the inactivity
#: interval): a quiet input -- a bounded run's end, a paused fleet -- is not left uncommitted for minutes.
#: Under steady load it never fires, so it makes no small files.
IDLE_CLOSE_S = 5.0


class SinkWriter(Protocol):
    def fresh(self, rows: list[dict]) -> list[dict]: ...
    def write(self, rows: list[dict]) -> object: ...


@dataclass
class SinkSettings:
    """Where a sink reads, and its rolling policy, as Kafka Connect's file sinks have one.

    A file is written (and then the offsets committed) when ``max_batch``
    records are buffered (Connect's ``flush.size``), when the oldest buffered
    record has waited ``flush_interval_s`` (``rotate.interval.ms``), or when no
    record arrived for ``idle_close_s``: larger values give fewer, larger
    files, at the price of a longer wait before a record is on disk and a
    longer stretch redone after a crash. On RabbitMQ the consumer's prefetch
    follows ``max_batch`` (the unacked deliveries a file holds).
    """

    topic: str
    group: str
    flush_interval_s: float = ROTATE_INTERVAL_S
    max_batch: int = FLUSH_SIZE
    max_machines: int = MAX_MACHINES   # machines a sink accepts records of; a new one beyond is dead-lettered
    idle_close_s: float = IDLE_CLOSE_S


def run_sink(options: ServiceOptions, log: logging.Logger, settings: SinkSettings, writer: SinkWriter,
             to_row: Callable[[object], dict]) -> None:
    codec = service_codec(options.codec)   # refused before anything connects
    shutdown = Shutdown()
    deadline = Deadline(options.duration_s)
    transport = options.transport()
    message_type = MESSAGE_TYPES[BY_NAME[settings.topic].message_type]
    consumer = transport.consumer([options.topic(settings.topic)], options.group(settings.group), options.instance)
    dead_letters = transport.publisher(f"{options.instance}-dlq")
    metrics = Metrics(options, log)
    transit = LatencyRecorder()       # generator send → arrival at the sink
    durable = LatencyRecorder()       # generator send → row durably on disk
    buffer: list[dict] = []
    last_flush = time.monotonic()
    oldest = 0.0                      # when the oldest buffered record arrived (monotonic)
    newest = 0.0                      # when the newest buffered record arrived (monotonic)
    machines: set[str] = set()        # machine ids accepted so far, at most settings.max_machines
    last_gauges = time.monotonic()
    log.info("consuming %s as group %s via %s/%s, writing under %s",
             settings.topic, settings.group, options.broker, options.client, options.data_dir)

    def flush() -> None:
        nonlocal last_flush
        if buffer:
            rows = writer.fresh(buffer)
            now = time.time_ns()
            for row in rows:
                row["sink_ts_ns"] = now
            if rows:
                writer.write(rows)
                crashpoints.reach(f"{options.instance}.after_write")   # the worst moment: on disk, not committed
            for row in rows:
                durable.record_ns(now - row["source_ts_ns"])
            metrics.count("written", len(rows))
            metrics.count("duplicates_skipped", len(buffer) - len(rows))
        if dead_letters.flush(30) != 0:
            raise RuntimeError("dead-letter publish not acknowledged; not committing")
        count_commit(metrics, consumer, consumer.commit())   # refused in a rebalance: again at the next flush
        buffer.clear()
        last_flush = time.monotonic()

    try:
        while not shutdown.requested and not deadline.passed():
            for record in consumer.poll(timeout=0.2, max_records=settings.max_batch):
                received = time.time_ns()
                # every per-record step is inside the dead-letter boundary: nothing a producer sends stops the sink
                try:
                    message = codec.decode(record.value, message_type)
                    if message.machine_id not in machines:
                        if len(machines) >= settings.max_machines:
                            metrics.count("machines_refused")
                            raise RefusedRecord(f"machine cap reached: already writing {settings.max_machines} "
                                                f"machines, refusing unknown machine id {message.machine_id[:64]!r}")
                        machines.add(message.machine_id)
                    row = to_row(message)
                    row["sink_received_ns"] = received
                    transit.record_ns(received - row["source_ts_ns"])
                except Exception as exc:  # noqa: BLE001
                    reason = str(exc) if isinstance(exc, (DecodeError, RefusedRecord)) else \
                        f"sink could not take the record: {type(exc).__name__}: {exc}"
                    dead_letters.publish(options.topic(DEAD_LETTER.name), record.key, record.value,
                                         dead_letter_headers(record, reason, options.instance))
                    metrics.count("dead_lettered")
                    continue
                newest = time.monotonic()
                if not buffer:
                    oldest = newest
                buffer.append(row)
                metrics.count("received")
            # rolling policy: size, the age of the oldest buffered record, or a quiet input; an empty buffer
            # still commits (dead letters) once per interval
            now = time.monotonic()
            waited = now - (oldest if buffer else last_flush)
            idle = bool(buffer) and now - newest >= settings.idle_close_s
            if len(buffer) >= settings.max_batch or waited >= settings.flush_interval_s or idle:
                flush()
                metrics.gauge("buffered", 0)
            # The loop polls nothing while it computes these: hdrh's own percentiles walked the whole histogram
            # in Python (~100 ms a summary, a pause the processor → sink tail could fall into);
            # measure.latency.summarize now takes under a millisecond, and a gauge every few seconds is enough.
            if time.monotonic() - last_gauges >= max(options.metrics_interval_s, GAUGE_INTERVAL_S):
                _latency_gauges(metrics, transit, durable)
                last_gauges = time.monotonic()
            metrics.maybe_emit()
        flush()
        _latency_gauges(metrics, transit, durable)
        # the whole distributions, so a report can merge them across sinks and restarts (HdrHistogram encoding)
        metrics.gauge("transit_histogram", transit.encode())
        metrics.gauge("durable_histogram", durable.encode())
        log.info("stopping (%s): buffer flushed, offsets committed", shutdown.signal_name or "duration reached")
    finally:
        consumer.close()
        dead_letters.close()
        metrics.close()


class RefusedRecord(Exception):
    """A record the sink will not keep state for (its reason goes to the dead-letter headers)."""


def _latency_gauges(metrics: Metrics, *recorders: LatencyRecorder) -> None:
    for name, recorder in zip(("transit", "durable"), recorders):
        summary = recorder.summary()
        if summary is not None:
            for metric, value in summary.metrics().items():
                metrics.gauge(f"{name}_{metric}", round(value, 2))
