"""RabbitMQ through pika: the application's streams mapped the way RabbitMQ is meant to be used.

Topology (declared in one place, `Topology`, idempotently, by whoever needs it)
-------------------------------------------------------------------------------
* **A stream is a durable topic exchange** named like the Kafka topic
  (`<namespace>.telemetry`, ...). `ensure_topics` declares them; a publisher
  also declares an exchange before its first message to it (same arguments, so
  this is a no-op when it exists), so no service depends on start order to find
  its exchange.
* **The record key is the routing key** (the machine id). Every group binds
  with `#`, i.e. takes everything; a consumer interested in one machine could
  bind with its id instead, which Kafka can only do by filtering client-side.
* **A consumer group is a durable quorum queue per (group, stream)**, named
  `<group>.<topic>` and bound to the stream's exchange with `#`; the consumer
  declares and binds it. So two groups (the two sinks) each get every message,
  and two consumers of one group (two processor instances) share one queue as
  competing consumers.
* **Publisher confirms, asynchronous**: a `SelectConnection` on a background
  I/O thread publishes and tracks delivery tags; the broker's `basic.ack`s
  (usually `multiple=True`) settle a window of up to `max_in_flight` messages,
  so a confirm costs no round trip per message. `flush()` waits for the window
  and returns how many are still unconfirmed. Delivery callbacks run on the
  caller's thread (inside `publish`/`flush`), as with confluent-kafka. A nack
  (the broker did not store the message, e.g. a quorum queue between leaders)
  makes the publisher replace its channel and republish everything unconfirmed:
  RabbitMQ 3.10 channels that publish into a leader election can go on nacking
  that queue until the channel is closed. Only nacks lasting longer than the
  reconnect timeout reach `on_delivery` as failures.
* **Manual acks with prefetch**: `poll` returns deliveries, `commit` acks up
  to the last one returned with `multiple=True`; a consumer that closes or dies
  without committing gets its deliveries requeued for the next consumer. The
  prefetch follows the caller (twice the largest `max_records` polled, at least
  1000, at most AMQP's 65,535), so a sink that commits every N records has N
  deliveries in flight.
* **Failover**: every connection is given the URLs of all nodes (pika tries
  them in order). A publisher that loses its connection reconnects to the next
  node and republishes what was not yet confirmed (at-least-once, as Kafka's
  retries; duplicates are possible, losses of confirmed messages are not). A
  consumer reconnects and re-subscribes; its uncommitted deliveries come back
  as redeliveries.
* **Dead letters**: every group queue (except those on the dead-letter stream
  itself) has `x-dead-letter-exchange` = the namespace's `dead-letter`
  exchange and `x-delivery-limit`: a message rejected, expired, or redelivered
  more than `DELIVERY_LIMIT` times (a poison message that kills its consumer)
  is routed there by the broker, with an `x-death` header saying why. The
  services' own dead letters (decode errors with the reason in headers) are
  published to the same exchange.
* Headers travel as AMQP headers (bytes as field type `x`); the publish time in
  milliseconds travels in the `timestamp_in_ms` header (the name RabbitMQ's
  message-timestamp plugin uses) and becomes `Record.timestamp_ms`.
  `Record.partition` is -1, `Record.offset` the delivery tag (per channel: a
  handle for acking, not a position in a log).

What maps, what does not (TopicSpec → RabbitMQ)
-----------------------------------------------
* partitions → nothing, for an ordinary group. One queue per group is one
  FIFO: per-key order is kept for a single consumer (stronger than Kafka: total
  order), but competing consumers of one queue interleave a machine's messages,
  so per-machine state would be split between instances.
* **Co-partitioned groups** (`TopicTable.co_partitioned`: the processor, which
  joins telemetry and vibration per machine) → shards. The group gets a
  consistent-hash exchange `<group>.by-key` (the `rabbitmq_consistent_hash_exchange`
  plugin, shipped with RabbitMQ; the stacks enable it), bound to each input's
  exchange with `#`, and `partitions` shard queues `<group>.shard-<i>` bound to
  it with weight 1. The hash is of the routing key (the machine id), so every
  message of one machine, from both inputs, lands in one shard, in publish order
  (the delivery still names the exchange it was published to, so `Record.topic`
  is the input's). Each shard has `x-single-active-consumer`: every instance
  subscribes to every shard, the broker delivers a shard to one of them at a
  time and hands it to the next when that one's channel closes (unacked
  deliveries requeued), so a machine's state lives on one instance, as on Kafka
  with the range assignor. On RabbitMQ 3.10 the active consumer of a shard is the
  first that subscribed (consumer priorities do not steer it), so instances that
  start one after another make the first the owner of every shard and the rest
  hot standbys; each instance subscribes in an order rotated by its name, which
  spreads the shards when instances start together (containers, autoscaling).
  https://github.com/rabbitmq/rabbitmq-server/tree/main/deps/rabbitmq_consistent_hash_exchange,
  https://www.rabbitmq.com/docs/consumers#single-active-consumer
* replication → `x-quorum-initial-group-size` (capped at the cluster size);
  min.insync.replicas → the Raft majority of the quorum queue (fixed: 2 of 3);
  a confirm means a majority has the message, like acks=all with min ISR 2.
* retention.ms → `x-message-ttl` on the group queues: a message no consumer
  took within the retention expires, and is dead-lettered (not silently
  deleted as in Kafka). But a consumed message is gone on ack: there is no
  replay, no seek, and `from_beginning` has no effect. A group's queue only
  holds what was published after it was first declared; a message published
  to an exchange with no queue bound would be dropped (and still confirmed),
  so the publisher sets `mandatory` and reports a returned message as a failed
  delivery ("unroutable"), and the caller declares a queue for every stream
  before producers start: the groups' queues (`ensure_groups`) and a holding
  queue for each stream no group reads (`ensure_held`, below).
* **Holding queues** (`<stream>.held`, e.g. `run-1.dead-letter.held`): a stream
  the caller writes but no group reads (the dead-letter stream; the app's
  `machine-health-latest`) gets a durable quorum queue bound with `#`, so its
  records stay on the broker until someone reads them or their retention ends,
  as on Kafka. Bounds from the spec: retention.ms → `x-message-ttl`,
  retention.bytes → `x-max-length-bytes`, and always `x-max-length`
  (`HELD_MAX_LENGTH`: a quorum queue keeps its index in memory), with
  `x-overflow: drop-head`: the oldest go first, as Kafka's retention deletes the
  oldest segments. A holding queue has no dead-letter exchange: what expires
  or overflows there is deleted, as on Kafka (a dead letter of a dead letter
  would be a cycle; an expired health record is no error). `streamlab tail --broker rabbitmq` reads
  it with basic.get and requeues what it read (`peek_held`).
* cleanup.policy=compact (`machine-health-latest`) → no equivalent. RabbitMQ
  keeps no "latest per key" table: streams do not compact, and the community
  last-value-cache exchange keeps one message per routing key only in memory
  on one node, unreplicated. What we chose: its holding queue is a bounded
  quorum queue with drop-head, i.e. the *most recent* `x-max-length` records
  of all machines (a length of 1 per key is not expressible). A dashboard
  reads the newest records from it and keeps the per-machine table itself;
  nothing is published to nowhere, and the broker holds a bounded history, not
  a compacted table.
* max.message.bytes → the broker-wide `max_message_size` (128 MiB default in
  3.10); no per-exchange limit.
* Kafka's consumer-group metadata → `x-expires` (7 days) on the group queue,
  like Kafka forgetting an inactive group's offsets after
  offsets.retention.minutes (7 days).
* Consumer lag → `group_backlog`: the ready messages of the group's queues,
  read live with a passive `queue.declare`. Delivered-but-unacked messages are
  invisible to AMQP (the management API shows them, but 5-10 s late), so the
  app runner re-checks the backlog after a stage has stopped, when nothing is
  unacked any more.

The back end knows no stream by name: the caller's `TopicTable` gives each stream's
spec and the dead-letter stream's name, and `ensure_groups` the groups to declare.
`python -m streamlab.pipeline.declare --broker rabbitmq` declares the app's exchanges
and group queues up front (the compose file's `topology-init`); `publish_rate` times
the publisher.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import json
import logging
import threading
import time
import urllib.parse
import urllib.request
import zlib
from typing import Any, Iterable

from .spec import TopicSpec, TopicTable, base_name, namespace_prefix
from .base import DeliveryCallback, Record, TransportError, co_partition_count

log = logging.getLogger(__name__)

DEFAULT_PREFETCH = 1000
MAX_PREFETCH = 65_535                     # basic.qos prefetch-count is an AMQP short: larger does not encode
DEFAULT_MAX_IN_FLIGHT = 10_000
DELIVERY_LIMIT = 10                       # redeliveries before the broker dead-letters a message
GROUP_EXPIRES_MS = 7 * 24 * 3600 * 1000   # an unused group queue goes away, as Kafka forgets idle groups
HELD_MAX_LENGTH = 1_000_000               # messages a holding queue keeps at most (oldest dropped first)
HELD_SUFFIX = "held"
SHARD_EXCHANGE_SUFFIX = "by-key"
#: The plugin that provides the `x-consistent-hash` exchange type; every stack that runs the app enables it
SHARD_PLUGIN = "rabbitmq_consistent_hash_exchange"
UNROUTABLE = "unroutable: RabbitMQ returned it, no queue is bound to exchange"
HEARTBEAT_S = 30
RECONNECT_TIMEOUT_S = 60.0
TIMESTAMP_HEADER = "timestamp_in_ms"
PUBLISH_CHUNK = 500                       # messages per I/O-loop turn, so confirms and heartbeats get served


# ---- topology: every declaration, in one place ---------------------------------------------------------

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


# ---- connections ---------------------------------------------------------------------------------------

COALESCE_BYTES = 256 * 1024     # at most this much of pika's write queue goes out in one send()


def coalesce_socket_writes() -> None:
    """Make pika send its queued frames in one `send()` instead of one per frame (idempotent).

    pika queues every frame as its own buffer and its transport sends them one by
    one: a publish is three frames (method, header, body), so a publisher paid
    three syscalls per message — the largest single item in a cProfile of the
    bench producer (`socket.send`, a quarter of its time). Joining what is queued
    (up to `COALESCE_BYTES`) before sending keeps the bytes and their order and
    turns a burst of publishes or acks into one syscall. TCP_NODELAY is already on
    (pika sets it), so nothing waits for Nagle; the coalescing only saves calls.
    Checked against pika 1.3–1.4's `_AsyncPlaintextTransport._produce`; on a pika
    without it this does nothing.
    """
    try:
        from pika.adapters.utils.io_services_utils import _AsyncPlaintextTransport
    except ImportError:  # pragma: no cover - another pika layout: keep its own behaviour
        return
    if getattr(_AsyncPlaintextTransport._produce, "coalesces", False):
        return

    def _produce(transport) -> None:
        # pika's loop, with the join added; a full socket raises EAGAIN out of send(), as in pika
        buffers = transport._tx_buffers
        while buffers:
            if len(buffers) > 1:
                parts, size = [], 0
                while buffers and size < COALESCE_BYTES:
                    part = buffers.popleft()
                    parts.append(part)
                    size += len(part)
                buffers.appendleft(b"".join(parts))
            sent = transport._sigint_safe_send(transport._sock, buffers[0])
            chunk = buffers.popleft()
            if sent < len(chunk):
                buffers.appendleft(chunk[sent:])
            transport._tx_buffered_byte_count -= sent

    _produce.coalesces = True         # type: ignore[attr-defined]
    _AsyncPlaintextTransport._produce = _produce


def connection_parameters(url: str, client_id: str = "streamlab", socket_timeout: float = 5,
                          heartbeat: int | None = HEARTBEAT_S, blocked_timeout: float | None = None):
    """pika's parameters for `url`, the one place they are set (heartbeat None: the broker's proposal)."""
    import pika

    coalesce_socket_writes()
    params = pika.URLParameters(url)
    params.heartbeat = heartbeat
    params.socket_timeout = socket_timeout
    params.stack_timeout = max(10, socket_timeout)
    params.blocked_connection_timeout = blocked_timeout
    params.connection_attempts = 1
    params.client_properties = {"connection_name": client_id, "product": "streamlab"}
    return params


def _where(urls: list[str]) -> str:
    return ", ".join(urllib.parse.urlsplit(u).netloc.rsplit("@", 1)[-1] for u in urls)


def _blocking_connection(urls: list[str], client_id: str, deadline: float):
    """A BlockingConnection to the first node that answers, trying all until `deadline`."""
    import pika
    from pika.exceptions import AMQPConnectionError

    params = [connection_parameters(u, client_id) for u in urls]
    last: Exception | None = None
    while True:
        try:
            return pika.BlockingConnection(params)
        except AMQPConnectionError as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise TransportError(f"RabbitMQ does not answer at {_where(urls)} ({type(last).__name__}): "
                                 "start it with `make up BROKER=rabbitmq`") from None
        time.sleep(0.5)


@contextlib.contextmanager
def _expected_channel_errors():
    """pika logs every broker-side channel close as a warning; a passive declare's 404 is an answer, not news."""
    logger = logging.getLogger("pika.channel")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _header_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (int, float, bool)):
        return str(value).encode()
    return json.dumps(value, default=str).encode()    # tables and arrays, e.g. x-death


# ---- publisher -----------------------------------------------------------------------------------------

class PikaPublisher:
    """Asynchronous publishing with confirms on a background I/O thread that owns the connection.

    The caller's thread only appends to a queue (and wakes the I/O loop once per
    burst with `add_callback_threadsafe`); the I/O thread publishes in chunks,
    tracks delivery tags and settles them on the broker's (multiple) acks. At
    most `max_in_flight` messages are unconfirmed; `publish` blocks beyond that.
    """

    def __init__(self, urls: list[str], client_id: str, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
                 confirms: bool = True, reconnect_timeout_s: float = RECONNECT_TIMEOUT_S,
                 connect_timeout_s: float = 30.0, mandatory: bool = True) -> None:
        from pika.adapters.select_connection import IOLoop

        if not urls:
            raise TransportError("no RabbitMQ URL given: set AMQP_URL or start the stack")
        self.urls = list(urls)
        self.client_id = client_id
        self.max_in_flight = max(1, int(max_in_flight))
        self.confirms = confirms
        self.mandatory = mandatory   # a message no queue takes comes back (basic.return) and fails loudly
        self.reconnect_timeout_s = reconnect_timeout_s
        # shared between threads (deque operations and int reads are atomic under the GIL)
        self._outbox: collections.deque = collections.deque()     # caller → I/O thread
        self._done: collections.deque = collections.deque()       # I/O thread → caller: (callback, error)
        self._published = 0          # written by the caller only
        self._settled = 0            # written by the I/O thread only, under _cond
        self._cond = threading.Condition()
        self._wake_scheduled = False
        self._fatal: str | None = None
        self._ready = threading.Event()
        self._stopped = threading.Event()
        # owned by the I/O thread
        self._ioloop = IOLoop()
        self._conn = None
        self._channel = None
        self._url_index = 0
        self._unconfirmed: dict[int, tuple] = {}
        self._returned: dict[int, str] = {}     # delivery tag → why RabbitMQ returned it (before its ack)
        self._next_tag = 0
        self._lowest_tag = 1
        self._retry: collections.deque = collections.deque()
        self._declared: set[str] = set()
        self._closing = False
        self._recycling = False       # closing the channel on purpose, to republish what it nacked
        self._nacked_since: float | None = None
        self._lost_at: float | None = None
        self._last_error = ""
        # observable counters
        self.connected_url = ""
        self.reconnects = 0
        self.republished = 0
        self.nacked = 0              # messages RabbitMQ nacked (each is republished until it is acked)
        self.returned = 0            # messages RabbitMQ returned as unroutable (each a failed delivery)
        self._thread = threading.Thread(target=self._run, name=f"pika-publisher-{client_id}", daemon=True)
        self._thread.start()
        if not self._ready.wait(connect_timeout_s) or self._fatal:
            self._shutdown_thread()
            raise TransportError(self._fatal or f"RabbitMQ does not answer at {_where(self.urls)} "
                                                 f"({self._last_error or 'no reply'}): "
                                                 "start it with `make up BROKER=rabbitmq`")

    # -- caller's thread --------------------------------------------------------------------------
    def publish(self, topic: str, key: bytes | str | None, value: bytes,
                headers: dict[str, bytes] | None = None, on_delivery: DeliveryCallback | None = None) -> None:
        if self._done:
            self._run_callbacks()
        if self._fatal:
            raise TransportError(self._fatal)
        if self._published - self._settled >= self.max_in_flight:
            self._wait_for_room()
        if key is None:
            routing_key = ""
        elif isinstance(key, str):
            routing_key = key
        else:
            routing_key = key.decode("utf-8", "replace")
        self._outbox.append((topic, routing_key, value, headers, int(time.time() * 1000), on_delivery))
        self._published += 1
        if not self._wake_scheduled:
            self._wake_scheduled = True
            self._ioloop.add_callback_threadsafe(self._drain)

    def _wait_for_room(self) -> None:
        while self._published - self._settled >= self.max_in_flight and not self._fatal:
            with self._cond:
                if self._published - self._settled >= self.max_in_flight:
                    self._cond.wait(0.05)
            self._run_callbacks()

    def _run_callbacks(self) -> None:
        done = self._done
        while done:
            callback, error = done.popleft()
            callback(error)

    def warm_up(self, topics: list[str], timeout: float = 10.0) -> None:
        """Connected and confirming on construction; each exchange is declared ahead of its first publish
        on the same channel, so there is nothing to prepare."""

    def flush(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while True:
            self._run_callbacks()
            if self._published - self._settled == 0 or self._fatal:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with self._cond:
                if self._published - self._settled > 0:
                    self._cond.wait(min(remaining, 0.05))
        self._run_callbacks()
        return self._published - self._settled

    @property
    def pending(self) -> int:
        return self._published - self._settled

    def close(self) -> None:
        if self._stopped.is_set():
            return
        self.flush(30)
        self._shutdown_thread()
        # whatever was never confirmed is reported, so a caller's count of acks stays honest
        unconfirmed = [self._unconfirmed[t] for t in sorted(self._unconfirmed)]
        for entry in [*unconfirmed, *self._retry, *self._outbox]:
            if entry[5] is not None:
                self._done.append((entry[5], "publisher closed before the broker confirmed"))
        self._retry.clear()
        self._outbox.clear()
        self._unconfirmed.clear()
        self._run_callbacks()

    def _shutdown_thread(self) -> None:
        try:
            self._ioloop.add_callback_threadsafe(self._io_shutdown)
        except Exception:  # noqa: BLE001 - the loop is gone already
            pass
        self._thread.join(15)
        self._stopped.set()
        try:
            self._ioloop.close()
        except Exception:  # noqa: BLE001
            pass

    # -- I/O thread -------------------------------------------------------------------------------
    def _run(self) -> None:
        self._connect()
        try:
            self._ioloop.start()
        except Exception as exc:  # noqa: BLE001 - must not die silently: the caller waits on us
            self._fail_everything(f"RabbitMQ publisher I/O loop failed: {type(exc).__name__}: {exc}")
            self._ready.set()

    def _connect(self) -> None:
        import pika

        url = self.urls[self._url_index % len(self.urls)]
        self._url_index += 1
        pika.SelectConnection(connection_parameters(url, self.client_id), on_open_callback=self._on_open,
                              on_open_error_callback=self._on_open_error, on_close_callback=self._on_closed,
                              custom_ioloop=self._ioloop)

    def _on_open(self, connection) -> None:
        self._conn = connection
        self.connected_url = connection.params.host + ":" + str(connection.params.port)
        connection.channel(on_open_callback=self._on_channel_open)

    def _on_channel_open(self, channel) -> None:
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(self._on_return)
        if self.confirms:
            channel.confirm_delivery(ack_nack_callback=self._on_confirm,
                                     callback=lambda _frame: self._channel_ready(channel))
        else:
            self._channel_ready(channel)

    def _channel_ready(self, channel) -> None:
        self._channel = channel
        self._recycling = False
        self._next_tag = 0
        self._lowest_tag = 1
        self._returned.clear()
        self._declared.clear()
        if self._lost_at is not None:
            self.reconnects += 1
            log.warning("publisher %s reconnected to %s; republishing %d unconfirmed messages",
                        self.client_id, self.connected_url, len(self._retry))
        self._lost_at = None
        self._ready.set()
        self._drain()

    def _retry_later(self, reason: str) -> None:
        self._last_error = reason
        if self._lost_at is None:
            self._lost_at = time.monotonic()
        if time.monotonic() - self._lost_at > self.reconnect_timeout_s:
            self._fail_everything(f"RabbitMQ unreachable at {_where(self.urls)} for "
                                  f"{self.reconnect_timeout_s:.0f}s ({reason}): messages not confirmed")
            self._ready.set()
            self._ioloop.stop()
            return
        delay = 0.1 if self._url_index % len(self.urls) else 1.0   # next node at once, a pause per round
        self._ioloop.call_later(delay, self._connect)

    def _on_open_error(self, _connection, error) -> None:
        self._conn = None
        if self._closing:
            self._ioloop.stop()
            return
        self._retry_later(f"{type(error).__name__}: {error}")

    def _on_closed(self, _connection, reason) -> None:
        self._conn = None
        self._channel = None
        if self._closing:
            self._ioloop.stop()
            return
        log.warning("publisher %s lost its connection to %s: %s", self.client_id, self.connected_url, reason)
        self._requeue_unconfirmed()
        self._retry_later(str(reason))

    def _on_channel_closed(self, channel, reason) -> None:
        if self._channel is channel:
            self._channel = None
        conn = self._conn
        if self._closing or conn is None or not conn.is_open:
            return  # the connection is going: _on_closed handles it
        if self._recycling:
            # Our own close after a nack: republish everything unconfirmed, in order, on a fresh channel.
            self._recycling = False
            self._requeue_unconfirmed()
            self._ioloop.call_later(0.25, lambda: self._reopen_channel(conn))
            return
        # The broker closed the channel (e.g. an argument it refuses): what was unconfirmed on it failed.
        error = f"channel closed by RabbitMQ: {reason}"
        log.warning("publisher %s: %s", self.client_id, error)
        self._settle(sorted(self._unconfirmed), error)
        self._reopen_channel(conn)

    def _reopen_channel(self, conn) -> None:
        if not self._closing and self._conn is conn and conn.is_open:
            conn.channel(on_open_callback=self._on_channel_open)

    def _requeue_unconfirmed(self) -> None:
        """Messages whose confirm never came go first on the next connection: at-least-once."""
        if self._unconfirmed:
            entries = [self._unconfirmed[t] for t in sorted(self._unconfirmed)]
            self._unconfirmed.clear()
            self.republished += len(entries)
            self._retry.extendleft(reversed(entries))

    def _drain(self) -> None:
        self._wake_scheduled = False
        channel = self._channel
        if channel is None or not channel.is_open:
            return  # the (re)opened channel drains
        import pika

        source = self._retry if self._retry else self._outbox
        publish = channel.basic_publish
        declared = self._declared
        unconfirmed = self._unconfirmed
        properties = pika.BasicProperties
        n = 0
        while n < PUBLISH_CHUNK:
            if not source:
                if source is self._retry and self._outbox:
                    source = self._outbox
                    continue
                break
            entry = source.popleft()
            topic, routing_key, value, headers, ts_ms, _cb = entry
            if topic not in declared:
                channel.exchange_declare(**Topology.exchange(topic))
                declared.add(topic)
            table = dict(headers) if headers else {}
            table[TIMESTAMP_HEADER] = ts_ms
            tag = self._next_tag + 1
            # message_id carries the channel's delivery tag, so a basic.return names the message it returns
            publish(topic, routing_key, value,
                    properties(delivery_mode=2, headers=table, timestamp=ts_ms // 1000, message_id=str(tag)),
                    mandatory=self.mandatory)
            n += 1
            if self.confirms:
                self._next_tag = tag
                unconfirmed[tag] = entry
            else:
                self._settle_entries([entry], None)
        if self._retry or self._outbox:
            self._wake_scheduled = True
            self._ioloop.call_later(0, self._drain)

    def _on_return(self, _channel, method, properties, _body) -> None:
        """RabbitMQ sends basic.return before the ack of the same message: remember it, fail it on the ack."""
        reason = f"{UNROUTABLE} {method.exchange!r} ({method.reply_text})"
        self.returned += 1
        log.warning("publisher %s: %s", self.client_id, reason)
        try:
            tag = int(properties.message_id)
        except (TypeError, ValueError):
            return
        if self.confirms:
            self._returned[tag] = reason
        elif self._fatal is None:
            self._last_error = reason

    def _on_confirm(self, frame) -> None:
        import pika

        method = frame.method
        tag = method.delivery_tag
        if method.multiple:
            tags = range(self._lowest_tag, (tag or self._next_tag) + 1)
        else:
            tags = (tag,)
        if isinstance(method, pika.spec.Basic.Ack):
            self._nacked_since = None
            if self._returned:
                returned = [t for t in tags if t in self._returned]
                for t in returned:
                    self._settle((t,), self._returned.pop(t))
            self._settle(tags, None)
            return
        # A nack: the broker did not store the message, e.g. a quorum queue without a reachable leader.
        # RabbitMQ 3.10 channels that hit a leader change can keep nacking that queue, so the channel is
        # replaced and everything unconfirmed republished; only nacks that persist are failures.
        if self._recycling:
            return      # this channel is being replaced; its unconfirmed messages go out again anyway
        self.nacked += sum(1 for t in tags if t in self._unconfirmed)
        now = time.monotonic()
        if self._nacked_since is None:
            self._nacked_since = now
        if now - self._nacked_since > self.reconnect_timeout_s:
            self._settle(tags, f"nacked by RabbitMQ for {self.reconnect_timeout_s:.0f}s (message not stored)")
        elif not self._recycling and self._channel is not None:
            log.warning("publisher %s: RabbitMQ nacked a message; republishing on a new channel", self.client_id)
            self._recycling = True
            channel, self._channel = self._channel, None
            channel.close()

    def _settle(self, tags: Iterable[int], error: str | None) -> None:
        unconfirmed = self._unconfirmed
        entries = [e for e in (unconfirmed.pop(t, None) for t in tags) if e is not None]
        while self._lowest_tag <= self._next_tag and self._lowest_tag not in unconfirmed:
            self._lowest_tag += 1
        self._settle_entries(entries, error)

    def _settle_entries(self, entries: list[tuple], error: str | None) -> None:
        if not entries:
            return
        done = self._done
        for entry in entries:
            if entry[5] is not None:
                done.append((entry[5], error))
        with self._cond:
            self._settled += len(entries)
            self._cond.notify_all()

    def _fail_everything(self, error: str) -> None:
        self._fatal = error
        entries = [self._unconfirmed[t] for t in sorted(self._unconfirmed)] + list(self._retry)
        self._unconfirmed.clear()
        self._retry.clear()
        while self._outbox:
            entries.append(self._outbox.popleft())
        self._settle_entries(entries, error)

    def _io_shutdown(self) -> None:
        self._closing = True
        if self._conn is not None and self._conn.is_open:
            self._conn.close()     # _on_closed stops the loop
        elif self._conn is not None and self._conn.is_closing:
            pass
        else:
            self._ioloop.stop()


def _record(method, props, body) -> Record:
    """A delivery (basic.deliver or basic.get-ok) as a Record: headers as bytes, the publish time in ms."""
    headers = {}
    timestamp_ms = 0
    for name, value in (props.headers or {}).items():
        if name == TIMESTAMP_HEADER:
            timestamp_ms = _timestamp_ms(value)
        else:
            headers[name] = _header_bytes(value)
    if not timestamp_ms and props.timestamp:
        timestamp_ms = int(props.timestamp) * 1000
    key = method.routing_key
    return Record(method.exchange, key.encode() if key else None, body, headers, -1,
                  method.delivery_tag, timestamp_ms)


def _timestamp_ms(value) -> int:
    """The header as ms since the epoch; 0 (unknown) for anything else a publisher put there, never a crash."""
    try:
        result = int(value)
    except (TypeError, ValueError, OverflowError):
        return 0
    return result if 0 <= result < 2**63 else 0


# ---- consumer ------------------------------------------------------------------------------------------

class PikaConsumer:
    """A BlockingConnection owned by the caller's thread: poll pumps its I/O, commit acks what poll returned.

    Prefetch bounds the unacked deliveries, and a caller that commits only every
    N records (a sink batching writes) needs N of them in flight, or it waits for
    its flush timer with a full window. So unless `prefetch` is given, it follows
    the caller: at least twice the largest `max_records` asked of `poll`, up to
    AMQP's ceiling of 65,535 (a sink's flush size must stay below it).
    """

    def __init__(self, urls: list[str], topics: list[str], group: str, client_id: str,
                 prefetch: int | None = None, reconnect_timeout_s: float = RECONNECT_TIMEOUT_S,
                 connect_timeout_s: float = 30.0, topology: Topology | None = None) -> None:
        self.urls = list(urls)
        self.topology = topology or Topology()
        self.topics = list(topics)
        self.group = group
        self.client_id = client_id
        self.prefetch = int(prefetch or DEFAULT_PREFETCH)
        self._adaptive = prefetch is None
        self.reconnect_timeout_s = reconnect_timeout_s
        self.queues = self.topology.group_queues(group, self.topics)
        if self.topology.table.is_co_partitioned(group):   # rotated by name: instances started together spread
            turn = zlib.crc32(client_id.encode()) % len(self.queues)
            self.queues = self.queues[turn:] + self.queues[:turn]
        self._buffer: collections.deque = collections.deque()
        self._last_tag = 0
        self._conn = None
        self._channel = None
        self.reconnects = 0
        self._connect(time.monotonic() + connect_timeout_s)

    def _connect(self, deadline: float) -> None:
        from pika.exceptions import AMQPError

        while True:
            self._conn = _blocking_connection(self.urls, self.client_id, deadline)
            try:
                channel = self._conn.channel()
                channel.basic_qos(prefetch_count=self.prefetch)
                self.topology.declare_group(channel, self.group, self.topics)
                for queue in self.queues:
                    channel.basic_consume(queue, self._on_message)
                self._channel = channel
                return
            except AMQPError as exc:    # e.g. a queue still electing its leader after a node died
                self._close_quietly()
                if time.monotonic() >= deadline:
                    raise TransportError(f"cannot subscribe {self.group} to {', '.join(self.topics)}: "
                                         f"{type(exc).__name__}: {exc}") from None
                time.sleep(0.5)

    def _on_message(self, _channel, method, properties, body) -> None:
        self._buffer.append((method, properties, body))

    def _reconnect(self, error: Exception) -> None:
        """Deliveries not acked are requeued by the broker: forget them, they come back redelivered."""
        log.warning("consumer %s lost its connection (%s: %s); reconnecting", self.client_id,
                    type(error).__name__, error)
        self._close_quietly()
        self._buffer.clear()
        self._last_tag = 0
        self._connect(time.monotonic() + self.reconnect_timeout_s)
        self.reconnects += 1

    def _pump(self, timeout: float) -> None:
        from pika.exceptions import AMQPError

        try:
            self._conn.process_data_events(time_limit=timeout)
        except AMQPError as exc:
            self._reconnect(exc)

    def poll(self, timeout: float = 1.0, max_records: int = 500) -> list[Record]:
        if self._adaptive and min(2 * max_records, MAX_PREFETCH) > self.prefetch:
            self._set_prefetch(min(2 * max_records, MAX_PREFETCH))
        deadline = time.monotonic() + timeout
        self._pump(0)
        while not self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._pump(remaining)
        records = []
        buffer = self._buffer
        while buffer and len(records) < max_records:
            method, props, body = buffer.popleft()
            records.append(_record(method, props, body))
            self._last_tag = method.delivery_tag
        return records

    def _set_prefetch(self, prefetch: int) -> None:
        from pika.exceptions import AMQPError

        self.prefetch = prefetch
        try:
            self._channel.basic_qos(prefetch_count=prefetch)
        except AMQPError as exc:
            self._reconnect(exc)     # the new channel gets the new prefetch

    def commit(self) -> bool:
        from pika.exceptions import AMQPError

        if not self._last_tag:
            return True
        tag, self._last_tag = self._last_tag, 0
        try:
            self._channel.basic_ack(delivery_tag=tag, multiple=True)
        except AMQPError as exc:
            # the channel is gone, so are its deliveries' tags: the broker requeued them (at-least-once)
            self._reconnect(exc)
            return False
        return True

    def assignment_ready(self) -> bool:
        return self._channel is not None and self._channel.is_open

    def _close_quietly(self) -> None:
        conn, self._conn, self._channel = self._conn, None, None
        if conn is not None:
            try:
                if conn.is_open:
                    conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass

    def close(self) -> None:
        self._close_quietly()
        self._buffer.clear()


# ---- transport -----------------------------------------------------------------------------------------

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
        return [queue for group, topics in group_topics.items()
                for queue in self._admin_call(lambda ch, g=group, t=list(topics): self.topology.declare_group(ch, g, t))]

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


def mgmt_get(url: str, amqp_url: str, timeout: float = 5):
    """GET a management-API URL as JSON, with the credentials of `amqp_url`: the one place that does."""
    import pika

    creds = pika.URLParameters(amqp_url).credentials
    request = urllib.request.Request(url)
    token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


# ---- measuring the publisher ---------------------------------------------------------------------------

def publish_rate(transport: RabbitMQTransport, messages: int = 100_000, size: int = 100,
                 confirms: bool = True, topic: str = "") -> dict[str, float]:
    """Time publish()+flush() of the transport's publisher into a bound queue; the queue is deleted after."""
    import uuid

    topic = topic or f"bench-{uuid.uuid4().hex[:8]}.publish"     # its own namespace, so its own dead-letter exchange
    group = "bench"
    transport.ensure_topics([TopicSpec(topic, "raw", replication=1)])
    queue = transport.ensure_groups({group: [topic]})[0]
    publisher = transport.publisher("bench-publisher", confirms=confirms)
    payload = bytes(size)
    acked = [0]

    def count(error):
        if error is None:
            acked[0] += 1

    try:
        start = time.perf_counter()
        for i in range(messages):
            publisher.publish(topic, f"M{i % 20:03d}", payload, None, count)
        pending = publisher.flush(120)
        elapsed = time.perf_counter() - start
    finally:
        publisher.close()
        transport._admin_call(lambda ch: ch.queue_delete(queue=queue))
        for exchange in filter(None, (topic, transport.topology.dead_letter_exchange(topic))):
            transport._admin_call(lambda ch, e=exchange: ch.exchange_delete(exchange=e))
    return {"messages": messages, "size": size, "confirms": confirms, "seconds": round(elapsed, 3),
            "msgs_per_s": round(messages / elapsed), "acked": acked[0], "pending": pending}
