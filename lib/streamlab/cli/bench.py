"""`streamlab bench`: run a workload with several drivers side by side, list workloads and drivers.

    streamlab bench run max-throughput-100b --driver kafka-python,confluent-kafka,kafka-perf-test --duration 20s
    streamlab bench run latency-half-max --driver rabbitmq
    streamlab bench list

    streamlab bench pipeline      # the application's own numbers
    streamlab bench codecs        # Bonus 1: encode/decode time and size per codec
    streamlab bench rabbitmq-speed   # pika vs aio-pika vs PerfTest, queue types, the app's hops (issue 17)

Errors the user can fix (unknown workload or driver, a bad field, a broker that
is not running) are UserErrors: one line, no traceback.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ..paths import RESULTS_DIR
from ..stack import get_stack
from .output import Column, console, print_frame, print_table
from .units import positive_duration

bench_app = typer.Typer(help="Benchmarks: workloads × drivers (Python clients vs the brokers' Java tools).",
                        no_args_is_help=True)


def _overrides(partitions: int | None, replication: int | None, message_size: str | None,
               producers: int | None, consumers: int | None, acks: str | None,
               queues: int | None, sets: list[str]) -> dict:
    from ..bench.workload import WorkloadError

    changes: dict = {}
    for key, value in (("partitions", partitions), ("replication", replication), ("message_size", message_size),
                       ("producers", producers), ("consumers", consumers), ("acks", acks), ("queues", queues)):
        if value is not None:
            changes[key] = value
    for item in sets:
        if "=" not in item:
            raise WorkloadError(f"--set {item!r}: use FIELD=VALUE, e.g. --set linger_ms=10")
        key, value = item.split("=", 1)
        changes[key.strip()] = value.strip()
    return changes


@bench_app.command("run")
def bench_run(
    workload: str = typer.Argument(..., help="a workload name (see `streamlab bench list`) or a path to a .yaml"),
    driver: str = typer.Option("kafka-python,confluent-kafka,kafka-perf-test", "--driver", "-d",
                               help="comma-separated drivers or aliases (kafka, rabbitmq, python, all)"),
    duration: str | None = typer.Option(None, help="measured time per driver, e.g. 20s (default: the workload's)"),
    warmup: str | None = typer.Option(None, help="warm-up before measuring, e.g. 5s"),
    rate: str | None = typer.Option(None, help="max, records/s (5000) or a share of the max (50%)"),
    partitions: int | None = typer.Option(None, help="Kafka partitions"),
    replication: int | None = typer.Option(None, help="Kafka replication factor (capped at the brokers)"),
    message_size: str | None = typer.Option(None, "--message-size", "--size", help="bytes, e.g. 100 or 1KB"),
    producers: int | None = typer.Option(None, help="producer processes"),
    consumers: int | None = typer.Option(None, help="consumer processes"),
    acks: str | None = typer.Option(None, help="0, 1 or all"),
    queues: int | None = typer.Option(None, help="RabbitMQ queues"),
    set_: list[str] = typer.Option([], "--set", help="any other workload field, FIELD=VALUE (repeatable)"),
    repeat: int = typer.Option(1, help="rounds: every driver runs this often, interleaved; the table shows medians"),
    out: str | None = typer.Option(None, help="results folder (default data/results/bench/<id>)"),
    save: bool = typer.Option(True, "--save/--no-save", help="write Parquet/CSV results"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
) -> None:
    """Run WORKLOAD with each driver in turn on the same stack; print the side-by-side table with ratios."""
    from ..bench.run import DISPLAY_CAPTION, DISPLAY_COLUMNS, result_rows, run_bench

    overrides = _overrides(partitions, replication, message_size, producers, consumers, acks, queues, set_)
    bench = run_bench(workload, driver, duration=duration, warmup=warmup, rate=rate, overrides=overrides,
                      out_dir=out, save=save, progress=progress, repeat=repeat)
    machine = bench.machine
    title = (f"{bench.workload.name} — {machine.get('cores')} cores, {machine.get('memory_gb')} GB, "
             f"{machine.get('cpu', '')}")
    print_table([Column(name, justify) for name, justify in DISPLAY_COLUMNS], result_rows(bench.table),
                title=title, caption=DISPLAY_CAPTION)
    shown: set[tuple[str, str]] = set()
    for _run_id, run in bench.runs:
        for note in run.notes:
            line = note.splitlines()[0] if note else ""
            if not line or (run.driver, line) in shown or (run.error and line in run.error):
                continue
            shown.add((run.driver, line))
            console.print(f"[dim]{run.driver}: {line}[/]")
        if run.error:
            console.print(f"[red]{run.driver} failed: {run.error}[/]")
    if bench.out_dir is not None:
        console.print(f"results: {bench.out_dir}")


@bench_app.command("list")
def bench_list() -> None:
    """The shipped workloads and the drivers."""
    from ..bench.drivers.base import ALIASES, DRIVERS, get_driver
    from ..bench.workload import list_workloads, load_workload

    columns = [Column("name"), Column("size", "right"), Column("rate", "right"), Column("prod", "right"),
               Column("cons", "right"), Column("partitions", "right"), Column("acks"), Column("phases"),
               Column("warm-up", "right"), Column("duration", "right"), Column("description", prose=True)]
    rows = []
    for name in list_workloads():
        wl = load_workload(name)
        rows.append([wl.name, f"{wl.message_size} B", wl.rate_label, str(wl.producers), str(wl.consumers),
                     str(wl.partitions), wl.acks, wl.phases, f"{wl.warmup_s:g}s", f"{wl.duration_s:g}s",
                     wl.description])
    print_table(columns, rows, title="workloads (streamlab/bench/workloads)")
    print_table([Column("driver"), Column("broker"), Column("kind"), Column("description", prose=True)],
                [[name, get_driver(name).broker, "native (Java)" if get_driver(name).native else "Python",
                  get_driver(name).description] for name in DRIVERS], title="drivers")
    console.print("aliases: " + "; ".join(f"{k} = {','.join(v)}" for k, v in ALIASES.items()
                                          if k in ("kafka", "rabbitmq", "python", "native", "all")))


@bench_app.command("pipeline")
def bench_pipeline(
    clients: str = typer.Option("confluent,kafka-python", "--client", help="Kafka clients to compare"),
    messages: int = typer.Option(200_000, min=1000, help="telemetry readings preloaded for the processor"),
    nominal: str = typer.Option("60s", help="length of the nominal-load run (20 machines × 10 Hz); 0 skips it"),
    out: Path = typer.Option(RESULTS_DIR / "pipeline", help="where the tidy results go"),
) -> None:
    """The application's own numbers: processor throughput per client, latency per stage at nominal load."""
    import pandas as pd

    from ..bench.pipeline_bench import nominal_latency, processor_throughput
    from ..plots import machine_facts

    get_stack("kafka").require_ready()
    names = [c.strip() for c in clients.split(",") if c.strip()]
    throughput = pd.DataFrame([processor_throughput(c, messages) for c in names])
    nominal_s = 0.0 if nominal.strip() in ("0", "0s") else positive_duration(nominal)
    latency = pd.concat([nominal_latency(c, nominal_s) for c in names]) if nominal_s else pd.DataFrame()
    out.mkdir(parents=True, exist_ok=True)
    throughput.to_csv(out / "processor_throughput.csv", index=False)
    if not latency.empty:
        latency.to_csv(out / "nominal_latency.csv", index=False)
    print_frame(throughput.round(1), "processor throughput (preloaded telemetry topic)")
    if not latency.empty:
        wide = latency.pivot_table(index=["client", "stage"], columns="metric", values="value", sort=False)
        wide = wide[[m for m in ("p50_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms") if m in wide]]
        print_frame(wide.round(1).reset_index(), f"latency from generator send, ms ({nominal_s:.0f} s at nominal load)")
    facts = machine_facts()
    console.print(
        f"machine: {facts['logical cores']} cores, {facts['memory (GiB)']} GiB, {facts['cpu']} — results in {out}"
    )


@bench_app.command("rabbitmq-speed")
def bench_rabbitmq_speed(
    drivers: str = typer.Option("pika,aio-pika,rabbitmq-perftest", "--driver", help="RabbitMQ drivers to compare"),
    queue_type: str = typer.Option("quorum", help="queue type of the throughput and latency runs"),
    duration: str = typer.Option("8s", help="measured time per run (plus the warm-up)"),
    warmup: str = typer.Option("2s", help="warm-up per run"),
    repeat: int = typer.Option(1, min=1, help="runs per driver, interleaved; the table shows the median"),
    app: bool = typer.Option(True, help="also run the application on RabbitMQ for its hop latencies"),
    out: Path = typer.Option(None, help="where the tidy results go (default data/results/rabbitmq-speed/<time>)"),
) -> None:
    """pika vs aio-pika vs PerfTest on one node: max rates, e2e latency at the same fixed rates, classic vs
    quorum vs stream (with node memory), and the app's hops beside raw pika (issue 17)."""
    import time

    from ..experiments.patterns.rabbitmq_speed import SpeedConfig, large_reads_table, queue_type_table, run_all, verdict

    get_stack("rabbitmq").require_ready()
    names = tuple(d.strip() for d in drivers.split(",") if d.strip())
    cfg = SpeedConfig(drivers=names, queue_type=queue_type, warmup_s=positive_duration(warmup),
                      duration_s=positive_duration(duration), repeat=repeat, app=app)
    result = run_all(cfg)
    saved = result.save(out or RESULTS_DIR / "rabbitmq-speed" / time.strftime("%Y%m%d-%H%M%S"))
    print_frame(result.table.round(2), f"RabbitMQ at the speed of RabbitMQ: {verdict(result.table)}")
    print_frame(queue_type_table(result.results).round(1), "classic vs quorum vs stream")
    print_frame(result.profile.round(1), "where pika's CPU goes at max rate (py-spy, share by component)")
    print_frame(large_reads_table(result.results).round(2), "pika consumer: 4 KB vs 16 KB socket reads")
    console.print(f"results in {saved}")


@bench_app.command("codecs")
def bench_codecs(messages: int = typer.Option(2000, min=10, help="messages per codec and type"),
                 repeats: int = typer.Option(5, min=1),
                 out: Path = typer.Option(RESULTS_DIR / "codecs", help="where the CSV goes")) -> None:
    """Encode/decode time and size of every codec on every message type (Bonus 1)."""
    from ..bench.codec_bench import run_codec_benchmark, save_results, summary_table

    frame = run_codec_benchmark(n_messages=messages, repeats=repeats, progress=True)
    paths = save_results(frame, out)
    print_frame(summary_table(frame).reset_index().round(2), "codecs: µs per message and bytes")
    console.print(f"saved: {', '.join(str(p) for p in paths)}")
