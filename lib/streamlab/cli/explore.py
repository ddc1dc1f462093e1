"""`streamlab topics`, `groups` and `tail`: what a running Kafka holds, in place of Kafdrop."""

from __future__ import annotations

import time

import typer
from rich.table import Table

from ..errors import UserError
from ..stack import get_stack
from .output import console, print_frame

topics_app = typer.Typer(help="Kafka topics: partitions, leaders, replicas, ISR, offsets.")


def _bootstrap(bootstrap: str | None) -> str:
    return bootstrap or get_stack("kafka").endpoints.kafka_bootstrap


BootstrapOpt = typer.Option(None, "--bootstrap", help="host:port,... (default: the stack's, or $KAFKA_BOOTSTRAP)")


@topics_app.callback(invoke_without_command=True)
def topics(ctx: typer.Context, bootstrap: str | None = BootstrapOpt,
           internal: bool = typer.Option(False, help="include __consumer_offsets and friends")) -> None:
    """List partitions with leader, replicas, ISR and offsets."""
    if ctx.invoked_subcommand is not None:
        return
    from ..stack.explorer import describe_brokers, describe_topics

    server = _bootstrap(bootstrap)
    print_frame(describe_brokers(server), f"brokers at {server}")
    frame = describe_topics(server, include_internal=internal)
    if frame.empty:
        console.print("no topics yet")
        return
    print_frame(frame, "topics")


@topics_app.command("create")
def topics_create(namespace: str = typer.Option("", help="prefix for the topic names"),
                  client: str = typer.Option("confluent", help="Kafka client used for admin calls")) -> None:
    """Create the application's topics (idempotent) with the settings in streamlab.pipeline.topics."""
    from ..pipeline.declare import app_transport, declare_app

    created = declare_app(app_transport("kafka", client), namespace).topics
    console.print(f"created: {', '.join(created)}" if created else "all topics exist already")


BrokerOpt = typer.Option("kafka", "--broker", help="kafka or rabbitmq")
NamespaceOpt = typer.Option("", "--namespace", help="the run's namespace (prefix of its topics and groups)")


def groups(bootstrap: str | None = BootstrapOpt, broker: str = BrokerOpt, namespace: str = NamespaceOpt) -> None:
    """Consumer groups: members, committed offsets, lag per partition (RabbitMQ: consumers and ready messages
    of the groups' queues); and what the broker holds for the streams no group reads, the dead letters first."""
    from ..pipeline.wiring import consumer_groups, unread_streams

    held = unread_streams(namespace)
    if broker == "rabbitmq":
        _rabbit_groups(consumer_groups(namespace), held)
        return
    if broker != "kafka":
        raise UserError(f"`streamlab groups` knows kafka and rabbitmq, not {broker!r}")
    from ..stack.explorer import describe_groups, describe_topics

    server = _bootstrap(bootstrap)
    frame = describe_groups(server)
    if frame.empty:
        console.print("no consumer groups yet")
    else:
        print_frame(frame, "consumer groups")
    topics = describe_topics(server)
    topics = topics[topics["topic"].isin(held)] if not topics.empty else topics
    if not topics.empty:
        backlog = topics.groupby("topic", as_index=False)["messages"].sum()
        print_frame(backlog, "streams no group reads (held until retention ends)")


def _rabbit_groups(group_topics: dict[str, list[str]], held: list[str]) -> None:
    from ..pipeline.declare import app_transport
    from ..stack.explorer import describe_rabbit_queues

    transport = app_transport("rabbitmq")
    try:
        frame = describe_rabbit_queues(transport, group_topics, held)
    finally:
        transport.close()
    print_frame(frame, "RabbitMQ: the app's group queues and holding queues (backlog: ready messages)")


def tail(topic: str, count: int = typer.Option(10, "-n", help="messages to show"),
         from_beginning: bool = typer.Option(False, help="first messages instead of the last"),
         bootstrap: str | None = BootstrapOpt, broker: str = BrokerOpt) -> None:
    """Show the last messages of a topic, decoded where they are text. On RabbitMQ: the first messages of
    the stream's holding queue (dead-letter, machine-health-latest), read and requeued, not consumed."""
    from ..stack.explorer import preview, tail_held
    from ..stack.explorer import tail as tail_messages

    if broker == "rabbitmq":
        from ..pipeline.declare import app_transport

        transport = app_transport("rabbitmq")
        try:
            messages = tail_held(transport, topic, count)
        finally:
            transport.close()
        title = f"{topic}: the first {len(messages)} message(s) RabbitMQ holds (requeued, not consumed)"
    elif broker == "kafka":
        messages = tail_messages(_bootstrap(bootstrap), topic, count, from_beginning)
        title = f"{topic}: {len(messages)} message(s)"
    else:
        raise UserError(f"`streamlab tail` knows kafka and rabbitmq, not {broker!r}")
    table = Table(title=title)
    for col in ("partition", "offset", "time", "key", "value", "error"):
        table.add_column(col)
    for m in messages:
        when = time.strftime("%H:%M:%S", time.localtime(m.timestamp_ms / 1000)) + f".{m.timestamp_ms % 1000:03d}"
        table.add_row(str(m.partition), str(m.offset), when, preview(m.key, 20), preview(m.value),
                      preview(m.headers.get("error"), 60) if "error" in m.headers else "")
    console.print(table)
