"""What a back end needs to know about a stream: its name, message type, partitions, replication, settings.

Back ends receive these from the caller (the application's table lives in
`streamlab.pipeline.topics`); the transport layer knows no stream by name.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TopicSpec:
    name: str
    message_type: str          # key into streamlab.domain.MESSAGE_TYPES, or "raw" for dead letters
    partitions: int = 6
    replication: int = 3
    config: dict[str, str] = field(default_factory=dict)
    purpose: str = ""

    def for_cluster(self, brokers: int) -> TopicSpec:
        """The same topic on a smaller cluster: RF and min ISR cannot exceed the broker count."""
        replication = min(self.replication, brokers)
        config = dict(self.config)
        if "min.insync.replicas" in config:
            config["min.insync.replicas"] = str(min(int(config["min.insync.replicas"]), replication))
        return TopicSpec(self.name, self.message_type, self.partitions, replication, config, self.purpose)


@dataclass(frozen=True)
class TopicTable:
    """What a caller tells a back end about its streams, since the back end knows none by name.

    `specs` in the caller's order (ZeroMQ numbers its ports by it), and the name of the stream that
    collects what could not be delivered (RabbitMQ dead-letters there; None: nothing is dead-lettered).
    Names may carry a namespace prefix (`run-1.telemetry`): lookups fall back to the last dotted part.
    """

    specs: tuple[TopicSpec, ...] = ()
    dead_letter: str | None = None
    #: Groups (un-namespaced) whose consumers join their inputs by key: every record of one key, from every
    #: topic the group reads, must reach the same consumer (see `Transport.consumer`); the back ends map it
    #: onto their own means (Kafka: the range assignor; RabbitMQ: a consistent-hash exchange into shards).
    co_partitioned: tuple[str, ...] = ()

    def is_co_partitioned(self, group: str) -> bool:
        return base_name(group) in self.co_partitioned

    def partition_counts(self, topics: list[str]) -> dict[str, int]:
        """The declared partitions of each topic the table knows (namespace ignored)."""
        return {t: spec.partitions for t in topics if (spec := self.spec(t)) is not None}

    def spec(self, topic: str) -> TopicSpec | None:
        by_name = {s.name: s for s in self.specs}
        return by_name.get(topic) or by_name.get(base_name(topic))

    def position(self, topic: str) -> int | None:
        """Index of the stream in the caller's table (namespace ignored); None for a stream not in it."""
        names = [s.name for s in self.specs]
        stream = base_name(topic)
        return names.index(stream) if stream in names else None

    def with_specs(self, specs: list[TopicSpec]) -> TopicTable:
        """The same table knowing `specs` too (a later spec of a name replaces the earlier one)."""
        known = {s.name: s for s in (*self.specs, *specs)}
        return TopicTable(tuple(known.values()), self.dead_letter, self.co_partitioned)


def base_name(topic: str) -> str:
    """The stream's name without its namespace: `run-1.telemetry` → `telemetry`."""
    return topic.rsplit(".", 1)[-1]


def namespace_prefix(topic: str) -> str:
    """The namespace part with its dot: `run-1.telemetry` → `run-1.`; empty without one."""
    return topic.rsplit(".", 1)[0] + "." if "." in topic else ""


@dataclass(frozen=True)
class Endpoints:
    """Where clients connect; the same whichever way the brokers run (`streamlab.stack` fills it in)."""

    kafka_bootstrap: str
    amqp_url: str
    rabbit_mgmt_url: str = ""
    mqtt_url: str = "mqtt://127.0.0.1:1884"
    amqp_urls: tuple[str, ...] = ()   # every node of a RabbitMQ cluster, first one first; () = amqp_url only

    @property
    def all_amqp_urls(self) -> list[str]:
        return list(self.amqp_urls) or [self.amqp_url]


def scratch_name(prefix: str, what: str, hex_chars: int = 8) -> str:
    """A topic, queue or group name no other run uses: ``<prefix>-<what>-<hex>``, for what an experiment
    declares for itself and deletes at its end."""
    return f"{prefix}-{what}-{uuid.uuid4().hex[:hex_chars]}"
