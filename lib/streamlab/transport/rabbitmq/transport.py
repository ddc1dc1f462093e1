"""`RabbitMQTransport`: the transport interface over the topology, the publisher and the consumer, plus its admin."""

from __future__ import annotations

import logging
import time
import urllib.parse

from ..base import Record
from ..spec import TopicSpec, TopicTable
from .connection import _blocking_connection, _expected_channel_errors
from .consumer import PikaConsumer
from .management import mgmt_get
from .publisher import PikaPublisher
from .records import _record
from .topology import SHARD_EXCHANGE_SUFFIX, Topology

log = logging.getLogger(__name__)


class RabbitMQTransport:
    name = "rabbitmq"
    client = "pika"

    def __init__(self, urls: list[str] | str, mgmt_url: str = "", table: TopicTable | None = None) -> None:
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        self.mgmt_url = mgmt_url.rstrip("/")
        self.topology = Topology(table)
        self._admin = None
        self._admin_channel = None

    # -- admin connection (caller's thread) -------------------------------------------------------
    def _channel(self):
        if self._admin is None or not self._admin.is_open:
            self._admin = _blocking_connection(self.urls, "streamlab-admin", time.monotonic() + 15)
            self._admin_channel = None
        if self._admin_channel is None or not self._admin_channel.is_open:
            self._admin_channel = self._admin.channel()
        return self._admin_channel

    def _admin_call(self, fn):
        """Run fn(channel); a broken connection is reopened once."""
        from pika.exceptions import AMQPConnectionError, StreamLostError

        try:
            return fn(self._channel())
        except (AMQPConnectionError, StreamLostError, ConnectionError):
            self._admin = None
            return fn(self._channel())

    def _exists(self, kind: str, name: str) -> bool:
        from pika.exceptions import ChannelClosedByBroker

        def check(channel):
            try:
                with _expected_channel_errors():
                    if kind == "exchange":
                        channel.exchange_declare(exchange=name, passive=True)
                    else:
                        channel.queue_declare(queue=name, passive=True)
                return True
            except ChannelClosedByBroker as exc:
                if exc.reply_code == 404:
                    return False
                raise

        return self._admin_call(check)

    def _queue_counts(self, name: str) -> tuple[int, int] | None:
        """(ready messages, consumers) of a queue, live from its leader; None when it does not exist."""
        from pika.exceptions import ChannelClosedByBroker

        def stat(channel):
            try:
                with _expected_channel_errors():
                    ok = channel.queue_declare(queue=name, passive=True)
                return ok.method.message_count, ok.method.consumer_count
            except ChannelClosedByBroker as exc:
                if exc.reply_code == 404:
                    return None
                raise

        return self._admin_call(stat)

    def close(self) -> None:
        if self._admin is not None:
            try:
                self._admin.close()
            except Exception:  # noqa: BLE001
                pass
            self._admin = None

    # -- the Transport interface ------------------------------------------------------------------
    def ensure_topics(self, specs: list[TopicSpec]) -> list[str]:
        # the group queues declared later (by consumers or ensure_groups) take their arguments from these
        self.topology.table = self.topology.table.with_specs(specs)
        created = []
        for spec in specs:
            if not self._exists("exchange", spec.name):
                self._admin_call(lambda ch, s=spec: ch.exchange_declare(**Topology.exchange(s.name)))
                created.append(spec.name)
        return created

    def delete_topics(self, names: list[str]) -> None:
        """Delete the exchanges, their holding queues and the group queues bound to them, and the shards of
        co-partitioned groups that read them with their hash exchange (the latter two found through the
        management API)."""
        for name in names:
            self._admin_call(lambda ch, q=Topology.held_queue_name(name): ch.queue_delete(queue=q))
            for queue in self._bound_group_queues(name):
                self._admin_call(lambda ch, q=queue: ch.queue_delete(queue=q))
            for hashed in self._bound(name, "exchange", "." + SHARD_EXCHANGE_SUFFIX):
                for queue in self._bound(hashed, "queue", ""):
                    self._admin_call(lambda ch, q=queue: ch.queue_delete(queue=q))
                self._admin_call(lambda ch, n=hashed: ch.exchange_delete(exchange=n))
            self._admin_call(lambda ch, n=name: ch.exchange_delete(exchange=n))

    def _bound_group_queues(self, exchange: str) -> list[str]:
        return self._bound(exchange, "queue", "." + exchange)

    def _bound(self, exchange: str, kind: str, suffix: str) -> list[str]:
        """Destinations of `kind` bound to `exchange` whose names end in `suffix` (management API)."""
        if not self.mgmt_url:
            return []
        vhost = urllib.parse.quote(_vhost(self.urls[0]), safe="")
        url = f"{self.mgmt_url}/api/exchanges/{vhost}/{urllib.parse.quote(exchange, safe='')}/bindings/source"
        try:
            bindings = mgmt_get(url, self.urls[0])
        except (OSError, ValueError):
            return []  # no management API: the queues stay until x-expires removes them
        return sorted({b["destination"] for b in bindings
                       if b.get("destination_type") == kind and b["destination"].endswith(suffix)})

    def publisher(self, client_id: str, **options: object) -> PikaPublisher:
        return PikaPublisher(self.urls, client_id, **options)  # type: ignore[arg-type]

    def consumer(self, topics: list[str], group: str, client_id: str, from_beginning: bool = True,
                 **options: object) -> PikaConsumer:
        # from_beginning has no meaning here: a queue holds what arrived since it was declared, no more
        return PikaConsumer(self.urls, topics, group, client_id, topology=self.topology,  # type: ignore[arg-type]
                            **options)

    def ensure_groups(self, group_topics: dict[str, list[str]]) -> list[str]:
        """Each group's queue on each of its topics, so what is published before a consumer starts is kept."""
        return [
            queue
            for group, topics in group_topics.items()
            for queue in self._admin_call(lambda ch, g=group, t=list(topics): self.topology.declare_group(ch, g, t))
        ]

    def ensure_held(self, topics: list[str]) -> list[str]:
        """A holding queue for each stream no group reads, so the broker keeps its records (see the module doc)."""
        return [self._admin_call(lambda ch, t=topic: self.topology.declare_held_queue(ch, t)) for topic in topics]

    def held_backlog(self, topic: str) -> int | None:
        """Messages waiting in the stream's holding queue; None when it has none."""
        counts = self._queue_counts(Topology.held_queue_name(topic))
        return None if counts is None else counts[0]

    def peek_held(self, topic: str, count: int = 10) -> list[Record]:
        """The first `count` messages of the stream's holding queue, left in it: basic.get each, then one
        nack with requeue for all of them (a requeued message keeps its place at the head of the queue;
        RabbitMQ marks it redelivered, and a quorum queue counts the return in its delivery count)."""
        from pika.exceptions import ChannelClosedByBroker

        queue = Topology.held_queue_name(topic)
        before = self._queue_counts(queue)
        if before is None:
            return []

        def peek(channel):
            records, last_tag = [], 0
            try:
                with _expected_channel_errors():
                    for _ in range(count):
                        method, props, body = channel.basic_get(queue, auto_ack=False)
                        if method is None:
                            break
                        last_tag = method.delivery_tag
                        records.append(_record(method, props, body))
            except ChannelClosedByBroker as exc:
                if exc.reply_code == 404:
                    return []
                raise
            if last_tag:
                channel.basic_nack(delivery_tag=last_tag, multiple=True, requeue=True)
            return records

        records = self._admin_call(peek)
        # the queue takes the nacked messages back asynchronously: return once they are ready again, so a
        # backlog read right after a peek counts them (new arrivals only raise the count)
        deadline = time.monotonic() + 5
        while records and time.monotonic() < deadline:
            counts = self._queue_counts(queue)
            if counts is None or counts[0] >= before[0]:
                break
            time.sleep(0.05)
        return records

    def group_members(self, group: str, topics: list[str]) -> int:
        """Consumers on every queue of the group (a shard counts its standbys: all instances subscribe to all)."""
        counts = [self._queue_counts(q) for q in self.topology.group_queues(group, topics)]
        if not counts or any(c is None for c in counts):
            return 0
        return min(c[1] for c in counts)  # type: ignore[index]

    def group_backlog(self, group: str, topics: list[str]) -> int | None:
        counts = [self._queue_counts(q) for q in self.topology.group_queues(group, topics)]
        if not counts or any(c is None for c in counts):
            return None
        return sum(c[0] for c in counts)  # type: ignore[index]


def _vhost(url: str) -> str:
    import pika

    return pika.URLParameters(url).virtual_host
