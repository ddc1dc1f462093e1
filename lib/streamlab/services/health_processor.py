"""Processor: telemetry + vibration in, health records and alerts out; bad input to the dead-letter topic.

Per machine it keeps rolling telemetry statistics and the latest vibration band
energies, scores every telemetry reading (one `machine-health` record per
reading, carrying the reading's `seq`, so sinks can prove nothing was lost),
mirrors each machine's newest record of a batch to the compacted
`machine-health-latest`, and publishes an `alerts`
record when the state changes. Offsets are committed only after everything a
batch produced is acknowledged: at-least-once, with duplicates removed by the
sinks.

Run: python -m streamlab.services.health_processor
"""

from __future__ import annotations

import logging
import time

import typer

from ..codecs import SAFE_CODEC_NAMES, DecodeError, get_codec
from ..domain import AlertTracker, HealthModel, TelemetryFeatures, TelemetryReading, VibrationWindow
from ..domain import vibration_band_energies
from ..pipeline.topics import ALERTS, DEAD_LETTER, MACHINE_HEALTH, MACHINE_HEALTH_LATEST, TELEMETRY, VIBRATION
from ..transport import Record
from .common import Deadline, Metrics, ServiceOptions, Shutdown, headers_for, service_command
from .deadletter import dead_letter_headers


class HealthScorer:
    """The per-machine state of the processor, free of any broker code (tested on its own)."""

    def __init__(self, window: int = 50, confirm: int = 3) -> None:
        self.model = HealthModel()
        self.alerts = AlertTracker(self.model, confirm=confirm)
        self.window = window
        self.telemetry: dict[str, TelemetryFeatures] = {}
        self.vibration: dict[str, dict[str, float]] = {}

    def on_vibration(self, window: VibrationWindow) -> None:
        self.vibration[window.machine_id] = vibration_band_energies(window)

    def on_telemetry(self, reading: TelemetryReading):
        """Returns (health record, alert or None) for one reading."""
        features = self.telemetry.get(reading.machine_id)
        if features is None:
            # No verdict until the window is full: a slope fitted to one second of noisy readings
            # crossed the warning limit on healthy machines (false alarms at start-up).
            features = self.telemetry[reading.machine_id] = TelemetryFeatures(self.window, min_readings=self.window)
        features.update(reading)
        assessment = self.model.score(features.features(), self.vibration.get(reading.machine_id))
        record = self.model.record(reading.machine_id, reading.seq, reading.ts_ns, assessment)
        return record, self.alerts.update(record)


class Processor:
    """The consume → score → publish → commit loop around a HealthScorer."""

    def __init__(self, options: ServiceOptions, log: logging.Logger, scorer: HealthScorer, max_batch: int) -> None:
        self.options = options
        self.log = log
        self.scorer = scorer
        self.max_batch = max_batch
        self.codec = get_codec(options.codec)
        transport = options.transport()
        self.inputs = {options.topic(TELEMETRY.name): TelemetryReading, options.topic(VIBRATION.name): VibrationWindow}
        self.consumer = transport.consumer(list(self.inputs), options.group("health-processor"), options.instance)
        self.publisher = transport.publisher(options.instance)
        self.metrics = Metrics(options, log)
        self.health_topic = options.topic(MACHINE_HEALTH.name)
        self.latest_topic = options.topic(MACHINE_HEALTH_LATEST.name)
        self.alert_topic = options.topic(ALERTS.name)
        self.dead_topic = options.topic(DEAD_LETTER.name)
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
        codec_name = record.headers.get("codec", self.codec.name.encode()).decode(errors="replace")
        if codec_name != self.codec.name and codec_name not in SAFE_CODEC_NAMES:
            # a header must never make us unpickle someone's bytes: only the configured codec may be unsafe
            self._dead_letter(record, f"refusing codec {codec_name!r} named in the headers: not safe for untrusted input")
            return None
        try:
            codec = self.codec if codec_name == self.codec.name else get_codec(codec_name)
            return codec.decode(record.value, self.inputs[record.topic])
        except DecodeError as exc:
            self._dead_letter(record, str(exc))
        except ValueError as exc:  # unknown codec named in the headers
            self._dead_letter(record, f"unknown codec header {codec_name!r}: {exc}")
        return None

    def handle(self, record: Record) -> None:
        message = self._decode(record)
        if message is None:
            return
        try:
            if isinstance(message, VibrationWindow):
                self.scorer.on_vibration(message)
                self.metrics.count("vibration")
                return
            health, alert = self.scorer.on_telemetry(message)
        except Exception as exc:  # a message that decodes but breaks the model must not stop the fleet
            self._dead_letter(record, f"processing failed: {type(exc).__name__}: {exc}")
            return
        payload = self.codec.encode(health)
        self.publisher.publish(self.health_topic, health.machine_id, payload, self.health_headers, self._delivered)
        self.latest[health.machine_id] = payload
        self.metrics.count("processed")
        if alert is not None:
            self.publisher.publish(self.alert_topic, alert.machine_id, self.codec.encode(alert),
                                   self.alert_headers, self._delivered)
            self.metrics.count("alerts")

    def commit_batch(self) -> None:
        """Commit only when every output of the batch is acknowledged; otherwise stop and let a restart redo it."""
        # The compacted topic keeps one record per machine anyway: publish only each machine's last of the batch.
        for machine_id, payload in self.latest.items():
            self.publisher.publish(self.latest_topic, machine_id, payload, self.health_headers, self._delivered)
        self.latest.clear()
        pending = self.publisher.flush(60)
        if pending or self.failed_deliveries:
            raise RuntimeError(f"{pending} outputs unacknowledged, {self.failed_deliveries} failed: not committing; "
                               "a restart resumes from the last committed offsets")
        self.consumer.commit()

    def run(self, shutdown: Shutdown, deadline: Deadline) -> None:
        self.log.info("scoring %s into %s and %s via %s/%s, codec %s", ", ".join(self.inputs), self.health_topic,
                      self.alert_topic, self.options.broker, self.options.client, self.codec.name)
        try:
            while not shutdown.requested and not deadline.passed():
                records = self.consumer.poll(timeout=0.2, max_records=self.max_batch)
                started = time.perf_counter()
                for record in records:
                    self.handle(record)
                if records:
                    self.commit_batch()
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


@service_command("health-processor")
def main(options: ServiceOptions, log: logging.Logger,
         max_batch: int = typer.Option(1000, show_default=True, help="records per poll, published then committed"),
         window: int = typer.Option(50, show_default=True, help="telemetry readings in the rolling statistics"),
         confirm: int = typer.Option(3, show_default=True,
                                     help="assessments in a row a new state needs before it is alerted "
                                          "(damps flapping)")) -> None:
    """Score machine health from telemetry and vibration; publish health records and alerts."""
    Processor(options, log, HealthScorer(window, confirm), max_batch).run(Shutdown(), Deadline(options.duration_s))


if __name__ == "__main__":
    main()
