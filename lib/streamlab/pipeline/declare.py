"""The app's streams and groups declared on a broker, the same way for every back end.

`app_transport` is the transport to the running stack told about the app's streams (their
settings, where dead letters go), which every service, the runner and the CLI use; `declare_app`
creates the streams and, where a broker needs one queue per consumer group (RabbitMQ), the
groups' queues, so nothing published before a consumer starts is lost, and a holding queue for
each stream the app writes that no group reads (the dead-letter stream, `machine-health-latest`),
so nothing is published to nowhere. The compose files run
`python -m streamlab.pipeline.declare` as their topology-init step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import typer

from ..errors import exit_on_user_error
from ..stack import open_transport
from ..transport import Transport, default_client
from ..transport.spec import Endpoints
from .topics import ALL_TOPICS, TABLE
from .wiring import CO_PARTITIONED_GROUPS, consumer_groups, unread_streams

#: What every back end is told about the app: its streams, where dead letters go, which groups join by key.
APP_TABLE = replace(TABLE, co_partitioned=CO_PARTITIONED_GROUPS)


def app_transport(broker: str = "kafka", client: str = "", ep: Endpoints | None = None) -> Transport:
    """The transport the app uses on `broker`: to `ep`, or to the stack the environment names."""
    from ..transport import get_transport

    client = client or default_client(broker)
    return get_transport(broker, client, ep, APP_TABLE) if ep is not None else open_transport(broker, client, APP_TABLE)


def rabbit_group_queues(group: str, namespace: str = "") -> list[str]:
    """The RabbitMQ queues a group of the app reads, namespaced: one per stream for most groups, one shard
    per input partition for a co-partitioned group (the processor: `<group>.shard-<i>`, filled by machine id
    from both inputs through a consistent-hash exchange). For whatever needs a queue by name: a fault
    aimed at a queue's leader, an autoscaler's trigger."""
    from ..transport.rabbitmq import Topology

    groups = consumer_groups(namespace)
    name = f"{namespace}.{group}" if namespace else group
    return Topology(APP_TABLE).group_queues(name, groups[name])


@dataclass(frozen=True)
class Declared:
    topics: list[str]     # created now (the others existed)
    queues: list[str]     # declared group queues (RabbitMQ), existing or not
    held: list[str]       # declared holding queues of the streams no group reads (RabbitMQ)


def declare_app(transport: Transport, namespace: str = "", groups: bool = True) -> Declared:
    """Create the app's topics (idempotent), prefixed by the namespace if any, its groups' queues, and
    the holding queues of the streams no group reads (always: a stream published to nowhere loses data)."""
    prefix = f"{namespace}." if namespace else ""
    created = transport.ensure_topics([replace(spec, name=prefix + spec.name) for spec in ALL_TOPICS])
    queues = transport.ensure_groups(consumer_groups(namespace)) if groups else []
    held = transport.ensure_held(unread_streams(namespace))
    return Declared(created, queues, held)


def main(broker: str = typer.Option("kafka", envvar="STREAMLAB_BROKER", help="kafka, rabbitmq, mqtt or zeromq"),
         client: str = typer.Option("", envvar="STREAMLAB_CLIENT", help="client library (default: the broker's)"),
         namespace: str = typer.Option("", envvar="STREAMLAB_NAMESPACE", help="prefix of topics and groups"),
         ) -> None:
    """Declare the app's topics (and RabbitMQ's group queues); prints what was declared as JSON."""
    with exit_on_user_error():
        transport = app_transport(broker, client)
        try:
            declared = declare_app(transport, namespace)
        finally:
            getattr(transport, "close", lambda: None)()
    print(json.dumps({"topics_created": declared.topics, "queues": declared.queues, "held": declared.held}))


if __name__ == "__main__":
    typer.run(main)
