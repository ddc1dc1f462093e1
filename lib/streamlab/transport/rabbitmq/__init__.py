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
and group queues up front (the compose file's `topology-init`).
"""

from __future__ import annotations

# The package's parts, by concept: `topology` (every declaration), `connection` (parameters, failover,
# clean-up), `publisher`, `consumer`, `records` (a delivery as a Record), `transport` (the interface),
# `management` (the HTTP management API). Callers import from the package.
from .connection import HEARTBEAT_S, RECONNECT_TIMEOUT_S, coalesce_socket_writes, connection_parameters, delete_queues
from .consumer import DEFAULT_PREFETCH, MAX_PREFETCH, PikaConsumer
from .management import mgmt_api, mgmt_get
from .publisher import DEFAULT_MAX_IN_FLIGHT, PUBLISH_CHUNK, UNROUTABLE, PikaPublisher
from .records import TIMESTAMP_HEADER, _record
from .topology import (
                       DELIVERY_LIMIT,
                       GROUP_EXPIRES_MS,
                       HELD_MAX_LENGTH,
                       HELD_SUFFIX,
                       SHARD_EXCHANGE_SUFFIX,
                       SHARD_PLUGIN,
                       Topology,
)
from .transport import RabbitMQTransport

__all__ = ["DEFAULT_MAX_IN_FLIGHT", "DEFAULT_PREFETCH", "DELIVERY_LIMIT", "GROUP_EXPIRES_MS", "HEARTBEAT_S",
           "HELD_MAX_LENGTH", "HELD_SUFFIX", "MAX_PREFETCH", "PUBLISH_CHUNK", "RECONNECT_TIMEOUT_S",
           "SHARD_EXCHANGE_SUFFIX", "SHARD_PLUGIN", "TIMESTAMP_HEADER", "UNROUTABLE", "PikaConsumer",
           "PikaPublisher", "RabbitMQTransport", "Topology", "_record", "coalesce_socket_writes",
           "connection_parameters", "delete_queues", "mgmt_api", "mgmt_get"]
