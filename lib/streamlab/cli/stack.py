"""`streamlab stack ...`: start, stop, inspect and break the broker stacks."""

from __future__ import annotations

import os
import time

import typer
from rich.table import Table

from ..errors import UserError
from ..stack import NodeStatus, StackConfig, get_stack
from .output import console, err_console

stack_app = typer.Typer(help="Start, stop, inspect and break the broker stacks.", no_args_is_help=True)

BrokerOpt = typer.Option(None, "--broker", "-b", help="kafka, rabbitmq or all (default: $BROKER or all)")


def _config(brokers: int | None = None, rabbit_nodes: int | None = None) -> StackConfig:
    env = dict(os.environ)
    if brokers is not None:
        env["BROKERS"] = str(brokers)
    if rabbit_nodes is not None:
        env["RABBIT_NODES"] = str(rabbit_nodes)
    return StackConfig.from_env(env)


def _status_table(rows: list[NodeStatus]) -> Table:
    table = Table(title="streamlab stack", show_lines=False)
    for col in ("broker", "node", "state", "pid", "address", "detail"):
        table.add_column(col)
    colour = {"running": "green", "paused": "yellow", "stopped": "red", "external": "green"}
    for row in rows:
        state = f"[{colour.get(row.state, 'white')}]{row.state}[/]"
        table.add_row(row.broker, str(row.node), state, str(row.pid or "-"), row.address, row.detail)
    return table


@stack_app.command("up")
def stack_up(
    broker: str | None = BrokerOpt,
    brokers: int | None = typer.Option(
        None, help="Kafka nodes: 1 or 3 (default: $BROKERS, else the size its data was formatted for, else 3)"
    ),
    rabbit_nodes: int | None = typer.Option(None, help="RabbitMQ nodes: 1 or 3 (default: $RABBIT_NODES or 1)"),
) -> None:
    """Start the brokers (idempotent) and wait until they really serve."""
    stack = get_stack(broker, _config(brokers, rabbit_nodes))
    started = time.monotonic()
    stack.up()
    console.print(_status_table(stack.status()))
    console.print(f"ready in {time.monotonic() - started:.1f} s — "
                  f"KAFKA_BOOTSTRAP={stack.endpoints.kafka_bootstrap} AMQP_URL={stack.endpoints.amqp_url}")


@stack_app.command("warm-up")
def stack_warm_up(broker: str | None = BrokerOpt,
                  max_seconds: float = typer.Option(60.0, min=0.0, envvar="STREAMLAB_BROKER_WARM_UP_S",
                                                    help="stop after this long even if the rate still rises "
                                                         "(0: no warm-up)")) -> None:
    """Put Kafka's own perf tools on the brokers until their rate reaches a plateau: a cold JVM measures its JIT."""
    from ..bench.broker_warmup import clear_record, last_rounds, save_rounds, warm_kafka, warm_state

    stack = get_stack(broker)
    if max_seconds <= 0 or "kafka" not in stack.parts:
        clear_record()   # the chapters then say no warm-up ran, instead of quoting an earlier stack's
        return
    stack.require_ready()

    def report(row) -> None:
        console.print(f"broker warm-up round {row.round}: {row.producer_records_per_s:,.0f} records/s "
                      f"(kafka-producer-perf-test, 1 KB, acks=all) at {row.elapsed_s:.0f} s", soft_wrap=True)

    clear_record()
    rounds = warm_kafka(max_seconds, stack.endpoints, report=report)
    if rounds:
        saved = save_rounds(rounds)
        console.print(f"{warm_state(last_rounds(saved))}; rounds in {saved}", soft_wrap=True)


@stack_app.command("down")
def stack_down(broker: str | None = BrokerOpt) -> None:
    """Stop every broker process this stack started (by pid)."""
    stack = get_stack(broker)
    stack.down()
    console.print(_status_table(stack.status()))


@stack_app.command("status")
def stack_status(broker: str | None = BrokerOpt) -> None:
    """Show each node: state, pid, address, role (quorum leader, fenced, ...)."""
    console.print(_status_table(get_stack(broker).status()))


@stack_app.command("check")
def stack_check(broker: str | None = BrokerOpt,
                quiet: bool = typer.Option(False, "-q", "--quiet", help="no output, exit code only")) -> None:
    """Exit 0 when every selected broker serves, 1 otherwise (for scripts and make)."""
    stack = get_stack(broker)
    try:
        stack.require_ready()
    except UserError as exc:
        if not quiet:
            err_console.print(f"[yellow]not ready:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    if not quiet:
        console.print("ready")


@stack_app.command("env")
def stack_env() -> None:
    """Print the endpoints as shell exports: eval "$(streamlab stack env)"."""
    ep = get_stack("all").endpoints
    print(f"export KAFKA_BOOTSTRAP={ep.kafka_bootstrap}\nexport AMQP_URL='{ep.amqp_url}'")


@stack_app.command("clean")
def stack_clean(broker: str | None = BrokerOpt) -> None:
    """Delete the stack's data (only when stopped)."""
    get_stack(broker).clean()
    console.print("stack data removed")


def _node_action(action: str, help_text: str) -> None:
    def command(node: int = typer.Argument(..., help="node number, from 1"),
                broker: str = typer.Option("kafka", "--broker", "-b", help="kafka or rabbitmq")) -> None:
        stack = get_stack(broker)
        getattr(stack.part(broker), action.replace("-", "_"))(node)
        console.print(_status_table(stack.status()))

    command.__doc__ = help_text
    stack_app.command(action)(command)


_node_action("kill-node", "SIGKILL one node: a crash, no controlled shutdown.")
_node_action("stop-node", "SIGTERM one node: a controlled shutdown.")
_node_action("pause-node", "SIGSTOP one node: alive but silent, like a long GC pause.")
_node_action("resume-node", "SIGCONT a paused node.")
_node_action("restart-node", "Start one node again (stopping it first if running) and wait until ready.")
