"""What a back end needs to know about a stream: its name, message type, partitions, replication, settings.

Back ends receive these from the caller (the application's table lives in
`streamlab.pipeline.topics`); the transport layer knows no stream by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TopicSpec:
    name: str
    message_type: str          # key into streamlab.domain.MESSAGE_TYPES, or "raw" for dead letters
    partitions: int = 6
    replication: int = 3
    config: dict[str, str] = field(default_factory=dict)
    purpose: str = ""

    def for_cluster(self, brokers: int) -> "TopicSpec":
        """The same topic on a smaller cluster: RF and min ISR cannot exceed the broker count."""
        replication = min(self.replication, brokers)
        config = dict(self.config)
        if "min.insync.replicas" in config:
            config["min.insync.replicas"] = str(min(int(config["min.insync.replicas"]), replication))
        return TopicSpec(self.name, self.message_type, self.partitions, replication, config, self.purpose)
