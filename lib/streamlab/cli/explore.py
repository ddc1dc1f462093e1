"""`streamlab topics`, `groups` and `tail`: what a running Kafka holds, in place of Kafdrop."""

from __future__ import annotations

import time
from typing import Optional

import typer
from rich.table import Table

from ..stack import get_stack
from .output import console, print_frame

topics_app = typer.Typer(help="Kafka topics: partitions, leaders, replicas, ISR, offsets.")


def _bootstrap(bootstrap: Optional[str]) -> str:
    return bootstrap or get_stack("kafka").endpoints.kafka_bootstrap


BootstrapOpt = typer.Option(None, "--bootstrap", help="host:port,... (default: the stack's, or $KAFKA_BOOTSTRAP)")


@topics_app.callback(invoke_without_command=True)
def topics(ctx: typer.Context, bootstrap: Optional[str] = BootstrapOpt,
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


def groups(bootstrap: Optional[str] = BootstrapOpt) -> None:
    """Consumer groups: members, committed offsets, lag per partition."""
    from ..stack.explorer import describe_groups

    frame = describe_groups(_bootstrap(bootstrap))
    if frame.empty:
        console.print("no consumer groups yet")
        return
    print_frame(frame, "consumer groups")


def tail(topic: str, count: int = typer.Option(10, "-n", help="messages to show"),
         from_beginning: bool = typer.Option(False, help="first messages instead of the last"),
         bootstrap: Optional[str] = BootstrapOpt) -> None:
    """Show the last messages of a topic, decoded where they are text."""
    from ..stack.explorer import preview, tail as tail_messages

    messages = tail_messages(_bootstrap(bootstrap), topic, count, from_beginning)
    table = Table(title=f"{topic}: {len(messages)} message(s)")
    for col in ("partition", "offset", "time", "key", "value"):
        table.add_column(col)
    for m in messages:
        when = time.strftime("%H:%M:%S", time.localtime(m.timestamp_ms / 1000)) + f".{m.timestamp_ms % 1000:03d}"
        table.add_row(str(m.partition), str(m.offset), when, preview(m.key, 20), preview(m.value))
    console.print(table)
