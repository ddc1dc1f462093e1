"""The one interface services talk to: publish bytes, consume records, commit explicitly.

Why this shape: Kafka commits offsets, RabbitMQ acks deliveries, but a service
only needs to say "everything you gave me so far is safely handled". So
`Consumer.commit()` means exactly that, and each back end maps it onto its own
mechanism. Payloads are bytes; codecs live above the transport.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import NamedTuple, Protocol

from ..errors import UserError
from .spec import TopicSpec

NO_HEADERS: Mapping[str, bytes] = MappingProxyType({})


class Record(NamedTuple):
    """One consumed message, whatever the broker.

    A NamedTuple, not a frozen dataclass: a consumer makes one per message, and
    a frozen dataclass's ``__init__`` (one ``object.__setattr__`` per field) cost
    more than librdkafka's whole fetch (chapter 02, deep dive 2, measures it).
    Immutable all the same; the default headers are a read-only empty mapping.
    """

    topic: str
    key: bytes | None
    value: bytes
    headers: Mapping[str, bytes] = NO_HEADERS
    partition: int = -1          # Kafka partition; -1 where the broker has none
    offset: int = -1             # Kafka offset or RabbitMQ delivery tag
    timestamp_ms: int = 0        # broker/producer timestamp, 0 when unknown


class TransportError(UserError):
    """The broker refused or could not be reached; the message says what to do."""


DeliveryCallback = Callable[[str | None], None]  # called with None on success or an error text


class Publisher(Protocol):
    def publish(self, topic: str, key: bytes | str | None, value: bytes,
                headers: dict[str, bytes] | None = None, on_delivery: DeliveryCallback | None = None) -> None:
        """Queue a message; `on_delivery` reports the broker's acknowledgement (or failure) later."""

    def flush(self, timeout: float = 30.0) -> int:
        """Wait for every queued message to be acknowledged; returns how many are still pending."""

    def warm_up(self, topics: list[str], timeout: float = 10.0) -> None:
        """Connect and learn where ``topics`` live before the first publish, so that the first messages do
        not wait for the client's start-up (an idempotent librdkafka producer otherwise holds its first
        batch about half a second). Brokers whose clients connect on construction have nothing to do."""

    def close(self) -> None: ...


class Consumer(Protocol):
    def poll(self, timeout: float = 1.0, max_records: int = 500) -> list[Record]:
        """Up to `max_records` records, waiting at most `timeout` seconds for the first."""

    def commit(self) -> bool:
        """Mark everything returned by `poll` so far as handled (Kafka: offsets; RabbitMQ: acks).

        True once the broker has it. False when it did not take it and will deliver those records again
        (a Kafka group rebalancing, a RabbitMQ channel lost): nothing is lost, and the caller must not count
        the commit. A passing failure (a moved Kafka coordinator) is retried inside (`transport.retry`); one
        that does not pass is a `TransportError`."""

    def assignment_ready(self) -> bool:
        """True once the consumer receives from its topics (group joined / queue bound)."""

    def close(self) -> None: ...


class Transport(Protocol):
    name: str

    def ensure_topics(self, specs: list[TopicSpec]) -> list[str]:
        """Create what is missing, idempotently; returns the names that were created."""

    def delete_topics(self, names: list[str]) -> None: ...

    def ensure_groups(self, group_topics: dict[str, list[str]]) -> list[str]:
        """Declare where each consumer group will read, before any member starts, so nothing published in
        between is lost (RabbitMQ: the group's queues; the others: nothing); returns what was declared."""

    def ensure_held(self, topics: list[str]) -> list[str]:
        """Make the broker keep the records of `topics`, streams that no group reads, until read or expired
        (RabbitMQ: a holding queue each; Kafka: nothing, a topic keeps them; MQTT and ZeroMQ: nothing, they
        cannot hold a stream nobody subscribes to); returns what was declared."""

    def publisher(self, client_id: str, **options: object) -> Publisher: ...

    def consumer(self, topics: list[str], group: str, client_id: str, from_beginning: bool = True,
                 **options: object) -> Consumer:
        """A member of `group` reading `topics`. For a group the caller's table names co-partitioned, every
        record of one key from all `topics` reaches one member at a time, and the topics' partition counts
        are checked first (`co_partition_count`)."""

    def group_members(self, group: str, topics: list[str]) -> int:
        """How many consumers of `group` receive from `topics` now (Kafka: group members; RabbitMQ:
        consumers of the group's queues); 0 when the group does not exist yet."""

    def group_backlog(self, group: str, topics: list[str]) -> int | None:
        """Messages of `topics` that `group` has not yet committed (Kafka: lag; RabbitMQ: ready messages of
        the group's queues); None while that is unknown (no group or queue yet)."""


def co_partition_count(group: str, partitions: dict[str, int]) -> int:
    """The partition count the topics of a co-partitioned group share; a TransportError if they differ.

    Partition p of each input must hold the same keys, which holds only when every input has the same number
    of partitions (and the same partitioner): with 6 and 12, key k is in partition murmur2(k) % 6 of one and
    % 12 of the other, and no assignment can put both on one consumer."""
    counts = set(partitions.values())
    if len(counts) != 1:
        listed = ", ".join(f"{topic} {n}" for topic, n in partitions.items())
        raise TransportError(f"group {group} joins its inputs by key, so they need equal partition counts; "
                             f"they have {listed or 'none known'}: recreate them with one count")
    return counts.pop()


def as_key(key: bytes | str | None) -> bytes | None:
    if key is None or isinstance(key, bytes):
        return key
    return key.encode()
