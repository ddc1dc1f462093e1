"""Processor: telemetry + vibration in, health records and alerts out; bad input to the dead-letter topic.

Per machine it keeps rolling telemetry statistics and the latest vibration band
energies, scores every telemetry reading (one `machine-health` record per
reading, carrying the reading's `seq`, so sinks can prove nothing was lost),
mirrors each machine's newest record of a batch to the compacted
`machine-health-latest`, and publishes an `alerts`
record when the state changes. Offsets are committed only after everything
read before them produced is acknowledged (every commit interval, 0.1 s by
default): at-least-once, with duplicates removed by the sinks.

Run: python -m streamlab.services.health_processor
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from operator import attrgetter

import numpy as np
import typer

from .. import crashpoints
from ..codecs import SAFE_CODEC_NAMES, DecodeError, get_codec, service_codec
from ..domain import (
    Alert,
    AlertTracker,
    HealthModel,
    HealthRecord,
    TelemetryFeatures,
    TelemetryReading,
    VibrationWindow,
    vibration_band_energies,
)
from ..domain.health import TELEMETRY_FEATURE_NAMES
from ..domain.messages import TelemetryColumns
from ..pipeline.topics import ALERTS, DEAD_LETTER, MACHINE_HEALTH, MACHINE_HEALTH_LATEST, TELEMETRY, VIBRATION
from ..transport import Record, kafka_transactions
from .common import (
    Deadline,
    Metrics,
    ServiceOptions,
    Shutdown,
    count_commit,
    headers_for,
    service_command,
    warm_up_enabled,
)
from .deadletter import dead_letter_headers

#: Machines the processor and the sinks keep state for; beyond it a new machine id is dead-lettered. A fleet of
#: thousands fits; an attacker (or a bug) inventing a new id per message cannot grow the state without bound.
MAX_MACHINES = 10_000

#: The "auto" scoring path vectorises a run only when it holds at least this many readings per machine on
#: average. The vectorised path pays a fixed numpy set-up per machine, the per-record path a constant cost
#: per reading: a run of one reading per machine (what a poll brings at the nominal 10 Hz) costs an order of
#: magnitude more CPU vectorised, and every reading of the run waits for it. Chapter 04 measures both paths
#: per run size and where they cross (`profiling.scoring_crossover`).
VECTORISE_MIN_PER_MACHINE = 48


def in_time_order(records: list[Record]) -> list[Record]:
    """A poll batch holding both inputs, in publish-time order (stable: one partition's order is kept).

    The join scores a reading with the vibration bands known when it is processed. Live, the two inputs arrive
    interleaved; but a consumer that takes over a partition (a rebalance, a restart) reads a backlog, and a
    fetch may bring all of a partition's telemetry before the same machine's vibration windows, so a minute of
    readings would be scored without the windows sent between them. Kafka Streams picks, among the buffered
    records of a task's partitions, the one with the lowest timestamp for the same reason; this does it within
    a batch. A batch of one input is returned as it is (no cost on the common path)."""
    first = records[0].topic if records else None
    if all(record.topic == first for record in records):
        return records
    return sorted(records, key=_publish_time)


_publish_time = attrgetter("timestamp_ms")


class HealthScorer:
    """The per-machine state of the processor, free of any broker code (tested on its own).

    A verdict joins both streams: a reading is scored from its telemetry features only once this instance
    knows the machine's vibration bands too. Before that (a machine's first second, or after its state
    restarted at a gap: a takeover, a replay) the reading gets the record of a reading whose telemetry window
    is not full yet: no features, health 1, state ``ok``. Otherwise the time order of a backlog would decide
    whether a health record carries one stream or both, which the join promises it never does.
    """

    def __init__(self, window: int = 50, confirm: int = 3, max_machines: int = MAX_MACHINES) -> None:
        self.model = HealthModel()
        self.alerts = AlertTracker(self.model, confirm=confirm)
        self.window = window
        self.max_machines = max_machines
        self.telemetry: dict[str, TelemetryFeatures] = {}
        self.vibration: dict[str, dict[str, float]] = {}
        self.machines: set[str] = set()     # every machine admitted (state is kept for these only)
        self.last_seq: dict[str, int] = {}   # machine → seq of its last reading scored here
        self.restarted_state = 0             # machines whose state was dropped at a gap in their readings

    def _continue(self, machine_id: str, seq: int) -> None:
        """Drop a machine's state when its readings do not continue where this instance left them.

        A gap (or a step back) means the readings in between were scored elsewhere or are replayed: the
        machine's partition moved to another instance and back (a rebalance, a killed instance), or a restart
        redoes what was not committed. Rolling statistics across the gap, and bands from before it, would
        describe a machine that no longer is; so both start again, as a new owner's would (the window refills,
        the next vibration window arrives within a second at 1 Hz)."""
        last = self.last_seq.get(machine_id)
        if last is not None and seq != last + 1:
            self.telemetry.pop(machine_id, None)
            self.vibration.pop(machine_id, None)
            self.restarted_state += 1

    def admit(self, machine_id: str) -> bool:
        """Admit a machine before its message is scored; False for a new one once `max_machines` are held."""
        if machine_id in self.machines:
            return True
        if len(self.machines) >= self.max_machines:
            return False
        self.machines.add(machine_id)
        return True

    def on_vibration(self, window: VibrationWindow) -> None:
        self.vibration[window.machine_id] = vibration_band_energies(window)

    def on_telemetry(self, reading: TelemetryReading):
        """Returns (health record, alert or None) for one reading."""
        self._continue(reading.machine_id, reading.seq)
        self.last_seq[reading.machine_id] = reading.seq
        features = self.telemetry.get(reading.machine_id)
        if features is None:
            # No verdict until the window is full: a slope fitted to one second of noisy readings
            # crossed the warning limit on healthy machines (false alarms at start-up).
            features = self.telemetry[reading.machine_id] = TelemetryFeatures(self.window, min_readings=self.window)
        features.update(reading)
        vibration = self.vibration.get(reading.machine_id)
        # the join: no vibration bands known here, no verdict (as while the window fills)
        assessment = self.model.score(features.features() if vibration else None, vibration)
        record = self.model.record(reading.machine_id, reading.seq, reading.ts_ns, assessment)
        return record, self.alerts.update(record)

    def admit_many(self, machine_ids: list[str]) -> bool:
        """Admit every machine of a run at once; False, admitting none, if that would pass ``max_machines``
        (the per-record path then admits them in order and refuses the rest)."""
        new = set(machine_ids) - self.machines
        if len(self.machines) + len(new) > self.max_machines:
            return False
        self.machines |= new
        return True

    def on_telemetry_batch(self, readings: list[TelemetryReading]) -> list[tuple]:
        """:meth:`on_telemetry` for a run of readings with no vibration window between them, vectorised."""
        return self.on_telemetry_columns(TelemetryColumns.from_readings(readings))

    def on_telemetry_columns(self, columns: TelemetryColumns) -> list[tuple]:
        """:meth:`on_telemetry` for a run of readings (as columns) with no vibration window between them.

        Returns the same (health record, alert or None) pairs in the same order
        (a unit test holds this), but the rolling statistics and the severities
        are computed per machine over the whole run with numpy, so the Python
        work per reading is building its record and asking the alert tracker.
        The readings of one machine stay in their order; only the processing
        time stamp is shared by the run (taken once its numbers are computed).
        """
        by_machine: dict[str, list[int]] = {}
        for index, machine_id in enumerate(columns.machine_id):
            by_machine.setdefault(machine_id, []).append(index)
        ts_ns = np.asarray(columns.ts_ns, dtype=np.int64)
        model = self.model
        scored = []
        seqs = columns.seq
        for machine_id, indices in by_machine.items():
            self._continue(machine_id, seqs[indices[0]])
            self.last_seq[machine_id] = seqs[indices[-1]]
            features = self.telemetry.get(machine_id)
            if features is None:
                features = self.telemetry[machine_id] = TelemetryFeatures(self.window, min_readings=self.window)
            rows = np.asarray(indices)
            stats = features.update_many(ts_ns[rows], columns.values[rows])
            vibration = self.vibration.get(machine_id)
            ready = stats["ready"] if vibration else np.zeros(len(indices), dtype=bool)   # the join, as above
            worst = model.worst_many(stats, vibration, ready)
            names = [name for name in TELEMETRY_FEATURE_NAMES if name in stats]
            table = np.column_stack([stats[name] for name in names]).tolist()
            scored.append((machine_id, indices, table, ready.tolist(), worst.tolist(), vibration, names))
        now = time.time_ns()
        records: list = [None] * len(columns)
        seq, source_ts_ns, state_of = columns.seq, columns.ts_ns, HealthModel.state_of
        for machine_id, indices, table, ready, worst, vibration, names in scored:
            for index, row, is_ready, w in zip(indices, table, ready, worst):
                feats: dict[str, float] = dict(zip(names, row)) if is_ready else {}
                if vibration:
                    feats.update(vibration)
                records[index] = HealthRecord(machine_id, seq[index], now, source_ts_ns[index], 1.0 - w,
                                              state_of(w), feats)
        return list(zip(records, self.alerts.update_many(records)))


class Processor:
    """The consume → score → publish → commit loop around a HealthScorer."""

    #: How often a record is tried when its processing fails outside the per-record boundary (a bug, a full
    #: producer queue) before it is dead-lettered. Kafka has no delivery limit, so without this count a
    #: poison message would stop the processor at the same offset after every restart.
    max_attempts = 3

    def __init__(self, options: ServiceOptions, log: logging.Logger, scorer: HealthScorer, max_batch: int,
                 batch_scoring: bool = True, commit_interval_s: float = 0.0, linger_ms: float | None = None,
                 max_machines: int | None = None, exactly_once: bool = False,
                 vectorise_min_per_machine: int = 0) -> None:
        if max_machines is not None:
            scorer.max_machines = max_machines
        self.options = options
        self.batch_scoring = batch_scoring
        # 0: every run vectorised (the "batch" path); VECTORISE_MIN_PER_MACHINE: the "auto" path
        self.vectorise_min_per_machine = vectorise_min_per_machine
        self.commit_interval_s = commit_interval_s
        self.log = log
        self.scorer = scorer
        self.max_batch = max_batch
        self.codec = service_codec(options.codec)
        transport = options.transport()
        self.inputs = {options.topic(TELEMETRY.name): TelemetryReading, options.topic(VIBRATION.name): VibrationWindow}
        self.consumer = transport.consumer(list(self.inputs), options.group("health-processor"), options.instance)
        # linger is a Kafka producer setting (both clients spell it linger_ms); other brokers have none. Only
        # failed deliveries need a report: _delivered counts failures, one Python call per output is saved.
        producer_options: dict[str, object] = {"report_failures_only": True} if options.broker == "kafka" else {}
        if linger_ms is not None and options.broker == "kafka":
            producer_options["linger_ms"] = linger_ms
        if exactly_once:   # outputs and input offsets in one Kafka transaction per commit (chapter 06)
            producer_options.update(kafka_transactions.producer_options(
                options.broker, options.client, options.group("health-processor"), options.instance))
        self.publisher = transport.publisher(options.instance, **producer_options)
        self.transactions = kafka_transactions.Transactions(self.publisher, self.consumer) if exactly_once else None
        self.metrics = Metrics(options, log)
        self.health_topic = options.topic(MACHINE_HEALTH.name)
        self.latest_topic = options.topic(MACHINE_HEALTH_LATEST.name)
        self.alert_topic = options.topic(ALERTS.name)
        self.dead_topic = options.topic(DEAD_LETTER.name)
        self.telemetry_topic = options.topic(TELEMETRY.name)
        self.codec_name = self.codec.name.encode()
        self.health_headers = headers_for(self.codec.name, "health")
        self.alert_headers = headers_for(self.codec.name, "alert")
        self.failed_deliveries = 0
        self.latest: dict[str, bytes] = {}   # machine id → its newest health record in this batch

    def _delivered(self, error: str | None) -> None:
        if error is not None:
            self.failed_deliveries += 1

    def _dead_letter(self, record: Record, reason: str) -> None:
        self.publisher.publish(self.dead_topic, record.key, record.value,
                               dead_letter_headers(record, reason, self.options.instance), self._delivered)
        self.metrics.count("dead_lettered")

    def _decode(self, record: Record):
        """The message, or None after dead-lettering it. Decoding uses the codec named in the headers."""
        header = record.headers.get("codec", self.codec.name.encode())
        if not isinstance(header, (bytes, bytearray, memoryview)):
            # Kafka headers may carry a null value (and RabbitMQ ones any AMQP type): not a codec name
            self._dead_letter(record, f"codec header must be a codec name, got {type(header).__name__}")
            return None
        codec_name = bytes(header).decode(errors="replace")
        if codec_name != self.codec.name and codec_name not in SAFE_CODEC_NAMES:
            # a header must never make us unpickle someone's bytes: only the configured codec may be unsafe
            self._dead_letter(
                record, f"refusing codec {codec_name!r} named in the headers: not safe for untrusted input"
            )
            return None
        try:
            codec = self.codec if codec_name == self.codec.name else get_codec(codec_name)
            message = codec.decode(record.value, self.inputs[record.topic])
        except DecodeError as exc:
            self._dead_letter(record, str(exc))
            return None
        except ValueError as exc:  # unknown codec named in the headers
            self._dead_letter(record, f"unknown codec header {codec_name!r}: {exc}")
            return None
        if not self.scorer.admit(message.machine_id):
            self.metrics.count("machines_refused")
            self._dead_letter(record, f"machine cap reached: already scoring {self.scorer.max_machines} machines, "
                                      f"refusing state for unknown machine id {message.machine_id[:64]!r}")
            return None
        return message

    def process_with_retries(self, records: list[Record]) -> None:
        """Process a poll batch; if it fails outside the per-record boundary, retry record by record.

        Each record is then tried up to :attr:`max_attempts` times (counted per topic, partition and offset)
        and dead-lettered with the last error after that, so one poison record costs a few attempts, not
        the service. A retried batch may publish some outputs twice: at-least-once, the sinks drop them.
        """
        records = in_time_order(records)
        try:
            self._process(records)
            return
        except Exception as exc:  # noqa: BLE001 -- the boundary: nothing a record does may stop the loop
            self.log.warning("batch of %d failed (%s: %s); retrying record by record", len(records),
                             type(exc).__name__, exc)
        for record in records:
            for attempt in range(1, self.max_attempts + 1):
                try:
                    self.handle(record)
                    break
                except Exception as exc:  # noqa: BLE001
                    if attempt == self.max_attempts:
                        self.metrics.count("poison")
                        self._dead_letter(record, f"failed {attempt} attempts at {record.topic}/{record.partition}"
                                                  f"@{record.offset}: {type(exc).__name__}: {exc}")

    def _process(self, records: list[Record]) -> None:
        if self.batch_scoring:
            self.process_batch(records)
        else:
            for record in records:
                self.handle(record)

    def handle(self, record: Record) -> None:
        """The per-record path: decode, score and publish one record (the reference the batch path is held to)."""
        message = self._decode(record)
        if message is None:
            return
        if isinstance(message, VibrationWindow):
            self._on_vibration(record, message)
        else:
            self._score_one(record, message)

    def process_batch(self, records: list[Record]) -> None:
        """The batch path: runs of telemetry between two vibration windows are decoded and scored as columns.

        Order is kept: a record of another topic (a vibration window) ends the
        run of readings before it (they are scored with the bands known until
        then), exactly as the per-record path sees them.
        """
        run: list[Record] = []
        for record in records:
            if record.topic == self.telemetry_topic:
                run.append(record)
                continue
            self._score_run(run)
            run = []
            self.handle(record)
        self._score_run(run)

    def _columns(self, run: list[Record]) -> TelemetryColumns | None:
        """The run decoded and validated as a whole, its machines admitted; None if any record needs the
        per-record path (another codec in its headers, a payload that does not parse or validate, the
        machine cap reached), which then decides record by record, with the reason for each dead letter."""
        name = self.codec_name
        if any(record.headers.get("codec", name) != name for record in run):
            return None
        parsed = self.codec.parse_many([record.value for record in run])
        columns = None if parsed is None else TelemetryColumns.from_dicts(parsed)
        if columns is None or not self.scorer.admit_many(columns.machine_id):
            return None
        return columns

    def _score_run(self, run: list[Record]) -> None:
        if not run:
            return
        if len(run) < self.vectorise_min_per_machine * len({record.key for record in run}):
            for record in run:          # too few readings per machine to pay for the vectorised set-up
                self.handle(record)
            return
        columns = self._columns(run)
        if columns is None:
            decoded = [(record, message) for record in run if (message := self._decode(record)) is not None]
            run = [record for record, _message in decoded]
            columns = TelemetryColumns.from_readings([message for _record, message in decoded])
            if not run:
                return
        try:
            results = self.scorer.on_telemetry_columns(columns)
        except Exception:  # noqa: BLE001 - the batch's fallback: see the comment below
            # Some reading breaks the model: go through them one by one, so that only it is dead-lettered.
            for record, reading in zip(run, columns.readings()):
                self._score_one(record, reading)
            return
        self._publish((record, health, alert) for record, (health, alert) in zip(run, results))

    def _on_vibration(self, record: Record, window: VibrationWindow) -> None:
        try:
            self.scorer.on_vibration(window)
        except Exception as exc:  # noqa: BLE001 - a message that decodes but breaks the model must not stop the fleet
            self._dead_letter(record, f"processing failed: {type(exc).__name__}: {exc}")
            return
        self.metrics.count("vibration")

    def _score_one(self, record: Record, reading: TelemetryReading) -> None:
        try:
            health, alert = self.scorer.on_telemetry(reading)
        except Exception as exc:  # noqa: BLE001 - a message that decodes but breaks the model must not stop the fleet
            self._dead_letter(record, f"processing failed: {type(exc).__name__}: {exc}")
            return
        self._publish([(record, health, alert)])

    def _publish(self, outputs: Iterable[tuple[Record, HealthRecord, Alert | None]]) -> None:
        """Encode and publish the outputs of each input record; a record whose outputs cannot be encoded, or
        would carry NaN/inf to the sinks, is dead-lettered instead. One loop for a run or a single record."""
        encode, publish, isfinite, latest = self.codec.encode, self.publisher.publish, math.isfinite, self.latest
        health_topic, health_headers, delivered = self.health_topic, self.health_headers, self._delivered
        processed = 0
        for record, health, alert in outputs:
            try:
                if not (isfinite(health.health_score) and all(map(isfinite, health.features.values()))):
                    raise ValueError("scoring produced a non-finite value")
                payload = encode(health)
                alert_payload = None if alert is None else encode(alert)
            except Exception as exc:  # noqa: BLE001 -- encoding is inside the dead-letter boundary too
                self._dead_letter(record, f"encoding failed: {type(exc).__name__}: {exc}")
                continue
            publish(health_topic, health.machine_id, payload, health_headers, delivered)
            latest[health.machine_id] = payload
            crashpoints.reach("health-processor.mid_batch")   # part of a batch published, none of it flushed
            processed += 1
            if alert_payload is not None:
                publish(self.alert_topic, alert.machine_id, alert_payload, self.alert_headers, delivered)
                self.metrics.count("alerts")
        self.metrics.count("processed", processed)

    def commit_batch(self) -> bool:
        """Commit only when every output of the batch is acknowledged; otherwise stop and let a restart redo it.

        True once the inputs' offsets are committed; False when the group refused them during a rebalance
        (they stay pending, and the loop tries again at its next interval)."""
        # The compacted topic keeps one record per machine anyway: publish only each machine's last of the batch.
        for machine_id, payload in self.latest.items():
            self.publisher.publish(self.latest_topic, machine_id, payload, self.health_headers, self._delivered)
        self.latest.clear()
        pending = self.publisher.flush(60)
        if pending or self.failed_deliveries:
            raise RuntimeError(f"{pending} outputs unacknowledged, {self.failed_deliveries} failed: not committing; "
                               "a restart resumes from the last committed offsets")
        crashpoints.reach("health-processor.after_publish")   # outputs acknowledged, inputs not committed
        if self.transactions is not None:
            self.transactions.commit()      # outputs visible to read_committed consumers and offsets, together
            committed = True
        else:
            committed = self.consumer.commit()
        count_commit(self.metrics, self.consumer, committed)
        return committed

    def run(self, shutdown: Shutdown, deadline: Deadline) -> None:
        self.log.info("scoring %s into %s and %s via %s/%s, codec %s", ", ".join(self.inputs), self.health_topic,
                      self.alert_topic, self.options.broker, self.options.client, self.codec.name)
        # Before the first poll, so the group is joined (and the generators started) only once outputs can go.
        if warm_up_enabled():
            self.publisher.warm_up([self.health_topic, self.latest_topic, self.alert_topic])
        # Outputs are flushed and offsets committed together, every commit interval (0: after every poll batch).
        # Between commits the loop does not wait for acknowledgements, so a record is not held up behind the
        # flush and the synchronous commit of the batch before it; a restart redoes at most one interval,
        # whose duplicates the sinks drop.
        uncommitted = False
        last_commit = time.monotonic()
        try:
            while not shutdown.requested and not deadline.passed():
                records = self.consumer.poll(timeout=0.05 if uncommitted else 0.2, max_records=self.max_batch)
                started = time.perf_counter()
                self.process_with_retries(records)
                uncommitted = uncommitted or bool(records)
                if uncommitted and time.monotonic() - last_commit >= self.commit_interval_s:
                    uncommitted, last_commit = not self.commit_batch(), time.monotonic()
                if records:
                    self.metrics.gauge("batch_ms", round((time.perf_counter() - started) * 1000, 2))
                    newest = max(r.timestamp_ms for r in records)
                    self.metrics.gauge("input_age_ms", round(time.time() * 1000 - newest, 1))
                self.metrics.maybe_emit()
            self.commit_batch()
            self.log.info("stopping (%s): outputs flushed, offsets committed",
                          shutdown.signal_name or "duration reached")
        finally:
            self.consumer.close()
            self.publisher.close()
            self.metrics.close()


#: How the processor scores a poll batch: vectorised where a run has enough readings per machine to gain from
#: it, else record by record (auto); always vectorised (batch); record by record (per-record, the reference).
SCORING_PATHS = ("auto", "batch", "per-record")


def _scoring_path(value: str) -> str:
    if value not in SCORING_PATHS:
        raise typer.BadParameter(f"{value!r} is not a scoring path: use one of {', '.join(SCORING_PATHS)}")
    return value


@service_command("health-processor")
def main(options: ServiceOptions, log: logging.Logger,
         max_batch: int = typer.Option(1000, show_default=True, help="records per poll, published then committed"),
         window: int = typer.Option(50, show_default=True, help="telemetry readings in the rolling statistics"),
         confirm: int = typer.Option(3, show_default=True,
                                     help="assessments in a row a new state needs before it is alerted "
                                          "(damps flapping)"),
         scoring: str = typer.Option("auto", show_default=True, envvar="STREAMLAB_PROCESSOR_SCORING",
                                     callback=_scoring_path,
                                     help="auto: vectorised (numpy) where a poll batch holds at least "
                                          f"{VECTORISE_MIN_PER_MACHINE} readings per machine, else record by "
                                          "record; batch: always vectorised; per-record: record by record "
                                          "(the reference path)"),
         commit_interval: float = typer.Option(0.1, show_default=True, min=0.0,
                                               envvar="STREAMLAB_PROCESSOR_COMMIT_INTERVAL",
                                               help="seconds between flush-and-commit of outputs and offsets "
                                                    "(0: after every poll batch)"),
         linger_ms: float = typer.Option(1.0, show_default=True, min=0.0, envvar="STREAMLAB_PROCESSOR_LINGER_MS",
                                         help="Kafka producer linger for the outputs"),
         exactly_once: bool = typer.Option(False, "--exactly-once", envvar="STREAMLAB_PROCESSOR_TRANSACTIONS",
                                           help="Kafka (confluent) only: outputs and input offsets committed in "
                                                "one transaction per commit interval")) -> None:
    """Score machine health from telemetry and vibration; publish health records and alerts."""
    Processor(options, log, HealthScorer(window, confirm), max_batch, batch_scoring=scoring != "per-record",
              vectorise_min_per_machine=VECTORISE_MIN_PER_MACHINE if scoring == "auto" else 0,
              commit_interval_s=commit_interval, linger_ms=linger_ms,
              exactly_once=exactly_once).run(Shutdown(), Deadline(options.duration_s))


if __name__ == "__main__":
    main()
