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

from .errors import UserError
from .stack import REPO_ROOT, NodeStatus, StackConfig, StackError, get_stack

app = typer.Typer(help="streamlab: streaming systems, measured.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
stack_app = typer.Typer(help="Start, stop, inspect and break the broker stacks.", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics: partitions, leaders, replicas, ISR, offsets.")
app.add_typer(stack_app, name="stack")
app.add_typer(topics_app, name="topics")
run_app = typer.Typer(help="Run the application.", no_args_is_help=True)
app.add_typer(run_app, name="run")
from .bench_cli import bench_app  # noqa: E402  (the bench group lives in its own module)

app.add_typer(bench_app, name="bench")

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
    """Create the application's topics (idempotent) with the settings in streamlab.pipeline.topics."""
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
    from .pipeline.runner import AppConfig, AppRun
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
    from .pipeline.runner import stop_recorded_run

    stopped = stop_recorded_run(data_dir)
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing of ours was running")


@bench_app.command("pipeline")
def bench_pipeline(
    clients: str = typer.Option("confluent,kafka-python", "--client", help="Kafka clients to compare"),
    messages: int = typer.Option(200_000, min=1000, help="telemetry readings preloaded for the processor"),
    nominal: str = typer.Option("60s", help="length of the nominal-load run (20 machines × 10 Hz); 0 skips it"),
    out: Path = typer.Option(REPO_ROOT / "data" / "results" / "pipeline", help="where the tidy results go"),
) -> None:
    """The application's own numbers: processor throughput per client, latency per stage at nominal load."""
    import pandas as pd

    from .experiments.pipeline_bench import nominal_latency, processor_throughput
    from .plots import machine_facts

    get_stack("kafka").require_ready()
    names = [c.strip() for c in clients.split(",") if c.strip()]
    throughput = pd.DataFrame([processor_throughput(c, messages) for c in names])
    nominal_s = 0.0 if nominal.strip() in ("0", "0s") else parse_duration(nominal)
    latency = pd.concat([nominal_latency(c, nominal_s) for c in names]) if nominal_s else pd.DataFrame()
    out.mkdir(parents=True, exist_ok=True)
    throughput.to_csv(out / "processor_throughput.csv", index=False)
    if not latency.empty:
        latency.to_csv(out / "nominal_latency.csv", index=False)
    _print_frame(throughput.round(1), "processor throughput (preloaded telemetry topic)")
    if not latency.empty:
        wide = latency.pivot_table(index=["client", "stage"], columns="metric", values="value", sort=False)
        wide = wide[[m for m in ("p50_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms") if m in wide]]
        _print_frame(wide.round(1).reset_index(), f"latency from generator send, ms ({nominal_s:.0f} s at nominal load)")
    facts = machine_facts()
    console.print(f"machine: {facts['logical cores']} cores, {facts['memory (GiB)']} GiB, {facts['cpu']} — results in {out}")


@bench_app.command("codecs")
def bench_codecs(messages: int = typer.Option(2000, min=10, help="messages per codec and type"),
                 repeats: int = typer.Option(5, min=1),
                 out: Path = typer.Option(REPO_ROOT / "data" / "results" / "codecs", help="where the CSV goes")) -> None:
    """Encode/decode time and size of every codec on every message type (Bonus 1)."""
    from .experiments.codec_bench import run_codec_benchmark, save_results, summary_table

    frame = run_codec_benchmark(n_messages=messages, repeats=repeats, progress=True)
    paths = save_results(frame, out)
    _print_frame(summary_table(frame).reset_index().round(2), "codecs: µs per message and bytes")
    console.print(f"saved: {', '.join(str(p) for p in paths)}")


def main() -> None:
    try:
        app()
    except UserError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
