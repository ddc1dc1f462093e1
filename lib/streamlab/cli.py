"""`streamlab` command line: stacks, a cluster explorer, and (later) the app and benchmarks.

Errors the user can fix (a broker not running, a bad value, a port in use) are
`StackError`s and print as one line with what to do, exit code 2, no traceback.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from .stack import REPO_ROOT, NodeStatus, StackConfig, StackError, get_stack

app = typer.Typer(help="streamlab: streaming systems, measured.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
stack_app = typer.Typer(help="Start, stop, inspect and break the broker stacks.", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics: partitions, leaders, replicas, ISR, offsets.")
app.add_typer(stack_app, name="stack")
app.add_typer(topics_app, name="topics")
run_app = typer.Typer(help="Run the application.", no_args_is_help=True)
app.add_typer(run_app, name="run")

console = Console()
err_console = Console(stderr=True)

BrokerOpt = typer.Option(None, "--broker", "-b", help="kafka, rabbitmq or all (default: $BROKER or all)")


def _config(brokers: Optional[int] = None, rabbit_nodes: Optional[int] = None) -> StackConfig:
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
def stack_up(broker: Optional[str] = BrokerOpt,
             brokers: Optional[int] = typer.Option(None, help="Kafka nodes: 1 or 3 (default: $BROKERS or 3)"),
             rabbit_nodes: Optional[int] = typer.Option(None, help="RabbitMQ nodes: 1 or 3 (default: $RABBIT_NODES or 1)")) -> None:
    """Start the brokers (idempotent) and wait until they really serve."""
    stack = get_stack(broker, _config(brokers, rabbit_nodes))
    started = time.monotonic()
    stack.up()
    console.print(_status_table(stack.status()))
    console.print(f"ready in {time.monotonic() - started:.1f} s — "
                  f"KAFKA_BOOTSTRAP={stack.endpoints.kafka_bootstrap} AMQP_URL={stack.endpoints.amqp_url}")


@stack_app.command("down")
def stack_down(broker: Optional[str] = BrokerOpt) -> None:
    """Stop every broker process this stack started (by pid)."""
    stack = get_stack(broker)
    stack.down()
    console.print(_status_table(stack.status()))


@stack_app.command("status")
def stack_status(broker: Optional[str] = BrokerOpt) -> None:
    """Show each node: state, pid, address, role (quorum leader, fenced, ...)."""
    console.print(_status_table(get_stack(broker).status()))


@stack_app.command("check")
def stack_check(broker: Optional[str] = BrokerOpt,
                quiet: bool = typer.Option(False, "-q", "--quiet", help="no output, exit code only")) -> None:
    """Exit 0 when every selected broker serves, 1 otherwise (for scripts and make)."""
    stack = get_stack(broker)
    try:
        stack.require_ready()
    except StackError as exc:
        if not quiet:
            err_console.print(f"[yellow]not ready:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    if not quiet:
        console.print("ready")


@stack_app.command("env")
def stack_env() -> None:
    """Print the endpoints as shell exports: eval "$(streamlab stack env)"."""
    ep = get_stack("all").endpoints
    print(f"export KAFKA_BOOTSTRAP={ep.kafka_bootstrap}\nexport AMQP_URL='{ep.amqp_url}'")


@stack_app.command("clean")
def stack_clean(broker: Optional[str] = BrokerOpt) -> None:
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


def _print_frame(frame, title: str) -> None:
    table = Table(title=title)
    for col in frame.columns:
        table.add_column(str(col))
    for row in frame.itertuples(index=False):
        table.add_row(*["" if v is None or (isinstance(v, float) and v != v) else str(v) for v in row])
    console.print(table)


def _bootstrap(bootstrap: Optional[str]) -> str:
    return bootstrap or get_stack("kafka").endpoints.kafka_bootstrap


BootstrapOpt = typer.Option(None, "--bootstrap", help="host:port,... (default: the stack's, or $KAFKA_BOOTSTRAP)")


@topics_app.callback(invoke_without_command=True)
def topics(ctx: typer.Context, bootstrap: Optional[str] = BootstrapOpt,
           internal: bool = typer.Option(False, help="include __consumer_offsets and friends")) -> None:
    """List partitions with leader, replicas, ISR and offsets."""
    if ctx.invoked_subcommand is not None:
        return
    from .explorer import describe_brokers, describe_topics

    server = _bootstrap(bootstrap)
    _print_frame(describe_brokers(server), f"brokers at {server}")
    frame = describe_topics(server, include_internal=internal)
    if frame.empty:
        console.print("no topics yet")
        return
    _print_frame(frame, "topics")


@topics_app.command("create")
def topics_create(namespace: str = typer.Option("", help="prefix for the topic names"),
                  client: str = typer.Option("confluent", help="Kafka client used for admin calls")) -> None:
    """Create the application's topics (idempotent) with the settings in streamlab.topics."""
    from .services.common import ensure_app_topics
    from .transport import get_transport

    created = ensure_app_topics(get_transport("kafka", client), namespace)
    console.print(f"created: {', '.join(created)}" if created else "all topics exist already")


@app.command("groups")
def groups(bootstrap: Optional[str] = BootstrapOpt) -> None:
    """Consumer groups: members, committed offsets, lag per partition."""
    from .explorer import describe_groups

    frame = describe_groups(_bootstrap(bootstrap))
    if frame.empty:
        console.print("no consumer groups yet")
        return
    _print_frame(frame, "consumer groups")


@app.command("tail")
def tail(topic: str, count: int = typer.Option(10, "-n", help="messages to show"),
         from_beginning: bool = typer.Option(False, help="first messages instead of the last"),
         bootstrap: Optional[str] = BootstrapOpt) -> None:
    """Show the last messages of a topic, decoded where they are text."""
    from .explorer import preview, tail as tail_messages

    messages = tail_messages(_bootstrap(bootstrap), topic, count, from_beginning)
    table = Table(title=f"{topic}: {len(messages)} message(s)")
    for col in ("partition", "offset", "time", "key", "value"):
        table.add_column(col)
    for m in messages:
        when = time.strftime("%H:%M:%S", time.localtime(m.timestamp_ms / 1000)) + f".{m.timestamp_ms % 1000:03d}"
        table.add_row(str(m.partition), str(m.offset), when, preview(m.key, 20), preview(m.value))
    console.print(table)


def parse_duration(text: str) -> float:
    """'90', '90s', '2m', '1h' → seconds; a clear error otherwise."""
    units = {"s": 1, "m": 60, "h": 3600}
    raw = text.strip().lower()
    factor = units.get(raw[-1:], None)
    number = raw[:-1] if factor else raw
    try:
        value = float(number) * (factor or 1)
    except ValueError:
        raise StackError(f"duration {text!r} is not understood: use e.g. 60s, 2m or 90") from None
    if value <= 0:
        raise StackError(f"duration {text!r} must be positive")
    return value


@run_app.command("app")
def run_application(
    broker: str = typer.Option("kafka", help="kafka"),
    client: str = typer.Option("confluent", help="Kafka client: confluent or kafka-python"),
    codec: str = typer.Option("orjson", help="json, orjson, msgpack, avro, protobuf"),
    duration: str = typer.Option("60s", help="how long the generators run, e.g. 60s or 5m"),
    machines: int = typer.Option(20, min=1, help="fleet size"),
    rate: float = typer.Option(10.0, min=0.1, help="telemetry readings per second per machine"),
    vibration_rate: float = typer.Option(1.0, min=0.1, help="vibration windows per second per machine"),
    seed: int = typer.Option(7, help="seed of the fleet and its fault schedule"),
    data_dir: Path = typer.Option(REPO_ROOT / "data" / "app", help="where sinks, metrics and logs write"),
    namespace: str = typer.Option("", help="prefix for topics and groups (a fresh one isolates this run)"),
) -> None:
    """Run generators, processor and sinks as local processes, show progress, stop cleanly."""
    from .app import AppConfig, AppRun
    from .codecs import get_codec
    from .progress import watch_app

    get_codec(codec)  # a bad codec name fails here, before anything starts
    get_stack(broker).require_ready()
    config = AppConfig(broker=broker, client=client, codec=codec, machines=machines, rate_hz=rate,
                       vibration_hz=vibration_rate, duration_s=parse_duration(duration), seed=seed,
                       data_dir=data_dir, namespace=namespace)
    run = AppRun(config)
    try:
        run.start()
        watch_app(run, console)
    except KeyboardInterrupt:
        console.print("interrupted: stopping the pipeline cleanly ...")
    except BaseException:
        run.kill_all()
        raise
    codes = run.stop()
    failed = {name: code for name, code in codes.items() if code not in (0, None)}
    console.print(f"stopped; files under {data_dir}" + (f"; non-zero exits: {failed}" if failed else ""))
    if failed:
        raise typer.Exit(1)


@run_app.command("stop")
def stop_application(data_dir: Path = typer.Option(REPO_ROOT / "data" / "app", help="the run's data dir")) -> None:
    """Stop a running app (from another terminal) by the pids in its run file."""
    from .app import stop_recorded_run

    stopped = stop_recorded_run(data_dir)
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing of ours was running")


def main() -> None:
    try:
        app()
    except StackError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
