"""`streamlab run app|stop`: the application as local processes, watched live."""

from __future__ import annotations

from pathlib import Path

import typer

from ..paths import APP_DATA_DIR
from ..stack import get_stack
from .output import console
from .units import positive_duration

run_app = typer.Typer(help="Run the application.", no_args_is_help=True)


@run_app.command("app")
def run_application(
    broker: str = typer.Option("kafka", help="kafka or rabbitmq"),
    client: str = typer.Option("confluent", help="Kafka client: confluent or kafka-python"),
    codec: str = typer.Option("orjson", help="json, orjson, msgpack, avro, protobuf"),
    duration: str = typer.Option("60s", help="how long the generators run, e.g. 60s or 5m"),
    machines: int = typer.Option(20, min=1, help="fleet size"),
    rate: float = typer.Option(10.0, min=0.1, help="telemetry readings per second per machine"),
    vibration_rate: float = typer.Option(1.0, min=0.1, help="vibration windows per second per machine"),
    seed: int = typer.Option(7, help="seed of the fleet and its fault schedule"),
    data_dir: Path = typer.Option(APP_DATA_DIR, help="where sinks, metrics and logs write"),
    namespace: str = typer.Option("", help="prefix for topics and groups (a fresh one isolates this run)"),
    processors: int = typer.Option(1, min=1, help="processor instances in its group (at most the inputs' "
                                                  "partitions do work; each machine stays on one instance)"),
    archive_rotate: float | None = typer.Option(None, min=0.1, help="the Parquet archive's rotate interval (s); "
                                                   "default: the sink's (minutes; machine-health-latest is the "
                                                   "fresh view). Short where you want to watch files appear"),
) -> None:
    """Run generators, processor and sinks as local processes, show progress, stop cleanly."""
    from ..codecs import service_codec
    from ..pipeline.progress import print_summary, watch_app
    from ..pipeline.runner import AppConfig, AppRun

    service_codec(codec)  # an unknown or unsafe codec fails here in one line, before anything starts
    get_stack(broker).require_ready()
    config = AppConfig(broker=broker, client=client, codec=codec, machines=machines, rate_hz=rate,
                       vibration_hz=vibration_rate, duration_s=positive_duration(duration), seed=seed,
                       data_dir=data_dir, namespace=namespace, processors=processors,
                       archive_rotate_s=archive_rotate)
    run = AppRun(config)
    try:
        run.start()
        watch_app(run, console)
    except KeyboardInterrupt:
        console.print("interrupted: stopping the pipeline cleanly ...")
    except BaseException:
        run.kill_all()
        raise
    console.print("stopping: generators first, then each stage once it has drained ...")
    codes = run.stop()
    print_summary(run, console)
    failed = {name: code for name, code in codes.items() if code not in (0, None)}
    console.print(f"stopped; files under {data_dir}" + (f"; non-zero exits: {failed}" if failed else ""))
    if failed:
        raise typer.Exit(1)


@run_app.command("stop")
def stop_application(data_dir: Path = typer.Option(APP_DATA_DIR, help="the run's data dir")) -> None:
    """Stop a running app (from another terminal) by the pids in its run file."""
    from ..pipeline.runner import stop_recorded_run

    stopped = stop_recorded_run(data_dir)
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing of ours was running")
