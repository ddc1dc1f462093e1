"""Every declaration RabbitMQ needs, in one place: exchanges per stream, a quorum queue per group, dead letters."""

from __future__ import annotations

from typing import Any

from ..base import TransportError, co_partition_count
from ..spec import TopicSpec, TopicTable, base_name, namespace_prefix

DELIVERY_LIMIT = 10                       # redeliveries before the broker dead-letters a message
GROUP_EXPIRES_MS = 7 * 24 * 3600 * 1000   # an unused group queue goes away, as Kafka forgets idle groups
HELD_MAX_LENGTH = 1_000_000               # messages a holding queue keeps at most (oldest dropped first)
HELD_SUFFIX = "held"
SHARD_EXCHANGE_SUFFIX = "by-key"
#: The plugin that provides the `x-consistent-hash` exchange type; every stack that runs the app enables it
SHARD_PLUGIN = "rabbitmq_consistent_hash_exchange"


class Topology:
    """Names and arguments of exchanges and queues; consumers, publishers and admin calls all use these.

    The caller's `TopicTable` says what each stream needs (replication, retention) and where
    undeliverable messages go; a stream the table does not know gets quorum queues of 3.
    """

    def __init__(self, table: TopicTable | None = None) -> None:
        self.table = table or TopicTable()

    @staticmethod
    def exchange(topic: str) -> dict[str, Any]:
        return {"exchange": topic, "exchange_type": "topic", "durable": True, "auto_delete": False}

    @staticmethod
    def queue_name(group: str, topic: str) -> str:
        return f"{group}.{topic}"

    # -- co-partitioned groups: a consistent-hash exchange into single-active-consumer shards (module doc)
    @staticmethod
    def shard_exchange(group: str) -> str:
        return f"{group}.{SHARD_EXCHANGE_SUFFIX}"

    @staticmethod
    def shard_queue(group: str, shard: int) -> str:
        return f"{group}.shard-{shard}"

    def shard_count(self, group: str, topics: list[str]) -> int:
        """The inputs' common partition count (the table's specs; unknown streams count as 1 shard each)."""
        counts = self.table.partition_counts(topics)
        return co_partition_count(group, {t: counts.get(t, 1) for t in topics})

    def group_queues(self, group: str, topics: list[str]) -> list[str]:
        """The queues the group's consumers read: a shard each for a co-partitioned group, else one per topic."""
        if self.table.is_co_partitioned(group):
            return [Topology.shard_queue(group, i) for i in range(self.shard_count(group, topics))]
        return [Topology.queue_name(group, t) for t in topics]

    def declare_sharded_group(self, channel, group: str, topics: list[str]) -> list[str]:
        """Inputs' exchanges → the group's consistent-hash exchange → its shard queues: idempotent.

        The shard queues take the first input's queue arguments (quorum, retention, dead letters) and
        `x-single-active-consumer`."""
        from pika.exceptions import ChannelClosedByBroker

        hashed = Topology.shard_exchange(group)
        try:
            channel.exchange_declare(exchange=hashed, exchange_type="x-consistent-hash", durable=True,
                                     auto_delete=False)
        except ChannelClosedByBroker as exc:
            if exc.reply_code == 503:
                raise TransportError("RabbitMQ lacks the consistent-hash exchange that keeps each machine on one "
                                     f"processor: `rabbitmq-plugins enable {SHARD_PLUGIN}`") from None
            raise
        for topic in topics:
            channel.exchange_declare(**Topology.exchange(topic))
            channel.exchange_bind(destination=hashed, source=topic, routing_key="#")
        dlx = self.dead_letter_exchange(topics[0])
        if dlx is not None:
            channel.exchange_declare(**Topology.exchange(dlx))
        arguments = {**self.queue_arguments(topics[0]), "x-single-active-consumer": True}
        queues = self.group_queues(group, topics)
        for queue in queues:
            channel.queue_declare(queue=queue, durable=True, exclusive=False, auto_delete=False, arguments=arguments)
            channel.queue_bind(queue, hashed, routing_key="1")    # the binding key is the shard's weight
        return queues

    def declare_group(self, channel, group: str, topics: list[str]) -> list[str]:
        """Whatever the group reads, declared: its shards if co-partitioned, else a queue per topic."""
        if self.table.is_co_partitioned(group):
            return self.declare_sharded_group(channel, group, topics)
        return [self.declare_group_queue(channel, group, topic) for topic in topics]

    def dead_letter_exchange(self, topic: str) -> str | None:
        """The namespace's dead-letter exchange; None for the dead-letter stream itself (no cycles), or
        when the caller named none."""
        dead_letter = self.table.dead_letter
        if dead_letter is None or base_name(topic) == dead_letter:
            return None
        return namespace_prefix(topic) + dead_letter

    def queue_arguments(self, topic: str, spec: TopicSpec | None = None) -> dict[str, Any]:
        spec = spec or self.table.spec(topic)
        args: dict[str, Any] = {"x-queue-type": "quorum", "x-expires": GROUP_EXPIRES_MS,
                                "x-quorum-initial-group-size": spec.replication if spec else 3}
        if spec is not None and "retention.ms" in spec.config:
            args["x-message-ttl"] = int(spec.config["retention.ms"])
        dlx = self.dead_letter_exchange(topic)
        if dlx is not None:
            args["x-dead-letter-exchange"] = dlx
            args["x-delivery-limit"] = DELIVERY_LIMIT
        return args

    def queue(self, group: str, topic: str) -> dict[str, Any]:
        return {"queue": Topology.queue_name(group, topic), "durable": True, "exclusive": False,
                "auto_delete": False, "arguments": self.queue_arguments(topic)}

    @staticmethod
    def held_queue_name(topic: str) -> str:
        """The holding queue of a stream no group reads: `run-1.dead-letter` → `run-1.dead-letter.held`."""
        return f"{topic}.{HELD_SUFFIX}"

    def held_queue_arguments(self, topic: str) -> dict[str, Any]:
        """Quorum, bounded by the spec's retention, oldest dropped first; no dead-letter exchange: what
        expires or overflows here is deleted, as Kafka's retention deletes it."""
        spec = self.table.spec(topic)
        config = spec.config if spec is not None else {}
        args: dict[str, Any] = {"x-queue-type": "quorum",
                                "x-quorum-initial-group-size": spec.replication if spec else 3,
                                "x-max-length": HELD_MAX_LENGTH,
                                "x-overflow": "drop-head"}
        if "retention.ms" in config:
            args["x-message-ttl"] = int(config["retention.ms"])
        if "retention.bytes" in config and int(config["retention.bytes"]) > 0:
            args["x-max-length-bytes"] = int(config["retention.bytes"])
        return args

    def declare_held_queue(self, channel, topic: str) -> str:
        """Exchange, holding queue, binding `#`: idempotent, on a BlockingChannel."""
        channel.exchange_declare(**Topology.exchange(topic))
        name = Topology.held_queue_name(topic)
        channel.queue_declare(queue=name, durable=True, exclusive=False, auto_delete=False,
                              arguments=self.held_queue_arguments(topic))
        channel.queue_bind(name, topic, routing_key="#")
        return name

    def declare_group_queue(self, channel, group: str, topic: str) -> str:
        """Exchange (and its dead-letter exchange), queue, binding: idempotent, on a BlockingChannel."""
        channel.exchange_declare(**Topology.exchange(topic))
        dlx = self.dead_letter_exchange(topic)
        if dlx is not None:
            channel.exchange_declare(**Topology.exchange(dlx))
        spec = self.queue(group, topic)
        channel.queue_declare(**spec)
        channel.queue_bind(spec["queue"], topic, routing_key="#")
        return spec["queue"]
