"""The application's streams, declared once with their settings.

Every back end receives this table from the pipeline: Kafka creates topics from
it, RabbitMQ maps each stream to an exchange and queues. Retention and
compaction are Kafka settings; a back end that cannot express one says so in its
own module.
"""

from __future__ import annotations

from ..transport.spec import TopicSpec, TopicTable

DAY_MS = 24 * 3600 * 1000


TELEMETRY = TopicSpec(
    "telemetry", "telemetry", partitions=6,
    config={"retention.ms": str(DAY_MS), "min.insync.replicas": "2"},
    purpose="flat sensor readings, ≥10 Hz per machine, keyed by machine id (per-machine order)")
VIBRATION = TopicSpec(
    "vibration", "vibration", partitions=6,
    config={"retention.ms": str(DAY_MS), "min.insync.replicas": "2", "max.message.bytes": str(2 * 1024 * 1024)},
    purpose="3-axis accelerometer windows, 1–2 Hz per machine, keyed by machine id")
MACHINE_HEALTH = TopicSpec(
    "machine-health", "health", partitions=6,
    config={"retention.ms": str(7 * DAY_MS), "min.insync.replicas": "2"},
    purpose="health score and features per telemetry reading, keyed by machine id")
MACHINE_HEALTH_LATEST = TopicSpec(
    "machine-health-latest", "health", partitions=3,
    config={"cleanup.policy": "compact", "min.insync.replicas": "2", "segment.ms": "60000",
            "min.cleanable.dirty.ratio": "0.1"},
    purpose="compacted: the latest health record of every machine, a table a dashboard reads on start")
ALERTS = TopicSpec(
    "alerts", "alert", partitions=3,
    config={"retention.ms": str(30 * DAY_MS), "min.insync.replicas": "2"},
    purpose="state changes (ok → warning → critical and back), keyed by machine id")
DEAD_LETTER = TopicSpec(
    "dead-letter", "raw", partitions=1,
    config={"retention.ms": str(30 * DAY_MS), "min.insync.replicas": "2"},
    purpose="input the processor could not decode or validate, with the reason in headers")

ALL_TOPICS: tuple[TopicSpec, ...] = (TELEMETRY, VIBRATION, MACHINE_HEALTH, MACHINE_HEALTH_LATEST, ALERTS, DEAD_LETTER)
BY_NAME = {spec.name: spec for spec in ALL_TOPICS}

#: What a back end is told about the app's streams: their specs in this order, and where dead letters go.
TABLE = TopicTable(ALL_TOPICS, DEAD_LETTER.name)
