"""The benchmark runner: one workload, several drivers one after the other, one tidy table.

`run_bench("max-throughput-100b", "kafka-python,confluent-kafka,kafka-perf-test")`
runs each driver on the same stack in turn (so their ratios hold on a noisy
machine), resolves `rate: 50%` by a short calibration run of the same driver,
and returns a `BenchResult`: the tidy results (one row per run × role × metric,
with the workload's settings and the machine's cores and memory on every row),
the per-second series, the machine's description, and `table` — one row per
driver, side by side, with the ratios to the broker's own Java tool.

Results are saved under `data/results/bench/<bench id>/` (or `out_dir`):
`results.parquet` / `.csv`, `timeseries.parquet`, `table.csv`, `machine.json` and
the effective `workload.yaml`. Each driver deletes the topic/queues it created,
also when it fails or is interrupted.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ..errors import UserError
from ..measure.machine import cpu_model
from ..measure.noise import NoiseMeter
from ..measure.results import bundle_dir, write_json, write_table, write_text
from ..paths import RESULTS_DIR
from ..stack import endpoints as stack_endpoints
from ..stack.config import StackConfig
from ..transport import TransportError
from .drivers.base import REFERENCE, Driver, Progress, driver_names, get_driver
from .drivers.results import RESULT_COLUMNS, RunResult
from .workload import Workload, as_workload

DEFAULT_DRIVERS = "kafka-python,confluent-kafka,kafka-perf-test"
RESULTS_ROOT = RESULTS_DIR / "bench"
CALIBRATION_WARMUP_S = 1.0
CALIBRATION_DURATION_S = 4.0
TABLE_COLUMNS = [
    ("producer", "records_per_s"), ("producer", "mb_per_s"), ("consumer", "records_per_s"),
    ("consumer", "mb_per_s"), ("e2e", "p50_ms"), ("e2e", "p99_ms"), ("e2e", "p999_ms"), ("e2e", "max_ms"),
    ("producer", "p50_ms"), ("producer", "p99_ms"),
]


@dataclass
class BenchResult:
    bench_id: str
    results: pd.DataFrame                  # tidy: one row per run × role × metric
    timeseries: pd.DataFrame               # records per second per run and role
    machine: dict[str, Any]
    workload: Workload
    runs: list[tuple[str, RunResult]] = field(default_factory=list)
    out_dir: Path | None = None

    @property
    def table(self) -> pd.DataFrame:
        return ratio_table(self.results)

    def save(self, out_dir: Path | str) -> Path:
        out = bundle_dir(out_dir)
        write_table(self.results, out, "results", ("parquet", "csv"))
        write_table(self.timeseries, out, "timeseries", ("parquet",))
        write_table(self.table, out, "table")
        write_json(self.machine, out, "machine.json")
        write_text(yaml.safe_dump(self.workload.to_dict(), sort_keys=False), out, "workload.yaml")
        self.out_dir = out
        return out


# -- the machine -------------------------------------------------------------------------------------

def _java_version() -> str:
    from ..stack.config import StackConfig

    try:
        out = subprocess.run([StackConfig.from_env().java, "-version"], capture_output=True, text=True, timeout=20)
        return (out.stderr or out.stdout).splitlines()[0].strip()
    except (OSError, subprocess.SubprocessError, IndexError):
        return ""


def _client_versions() -> dict[str, str]:
    versions = {}
    for module, attr in (("kafka", "__version__"), ("pika", "__version__"), ("pandas", "__version__"),
                         ("numpy", "__version__")):
        try:
            versions[module if module != "kafka" else "kafka-python"] = getattr(__import__(module), attr)
        except Exception:  # noqa: BLE001 - a missing client is just absent from the description
            pass
    try:
        import confluent_kafka

        versions["confluent-kafka"] = confluent_kafka.version()[0]
        versions["librdkafka"] = confluent_kafka.libversion()[0]
    except Exception:  # noqa: BLE001
        pass
    try:
        from importlib.metadata import version

        versions["hdrhistogram"] = version("hdrhistogram")
    except Exception:  # noqa: BLE001
        pass
    return versions


def machine_description(endpoints: Any = None, brokers: Iterable[str] = ("kafka", "rabbitmq")) -> dict[str, Any]:
    """Cores, memory, CPU, OS and every version that shapes a figure; recorded with every result."""
    import psutil

    from .drivers.kafka_java_tools import jar_version

    brokers = set(brokers)
    info: dict[str, Any] = {
        "hostname": platform.node(), "os": platform.platform(), "cpu": cpu_model(),
        "cores": os.cpu_count(), "physical_cores": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2), "python": platform.python_version(), "java": _java_version(),
        "clients": _client_versions(), "kafka_tools": jar_version("kafka", "kafka-tools"),
        "perf_test": jar_version("perftest", "perf-test"),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if endpoints is not None and "kafka" in brokers:
        info["kafka_bootstrap"] = endpoints.kafka_bootstrap
        try:
            from ..transport.kafka_admin import broker_count

            info["kafka_brokers"] = broker_count(endpoints.kafka_bootstrap)
        except UserError:
            info["kafka_brokers"] = None
    if endpoints is not None and "rabbitmq" in brokers:
        from .drivers.pika_driver import rabbit_version

        info["amqp_url"] = endpoints.amqp_url.replace("guest:guest@", "")
        info["rabbitmq_version"] = rabbit_version(endpoints.amqp_url)
    return info


# -- running --------------------------------------------------------------------------------------

def calibrate(driver: Driver, workload: Workload, endpoints: Any, progress: Progress) -> float:
    """The max records/s this driver sustains for the workload (a short max-rate run, producer and consumer at once)."""
    probe = workload.replace(rate="max", phases="concurrent", warmup=CALIBRATION_WARMUP_S,
                             duration=min(CALIBRATION_DURATION_S, workload.duration_s), max_records=None)
    progress.note(f"{driver.name}: calibrating the max rate")
    result = driver.run(probe, endpoints, progress)
    rates = [result.roles["producer"].records_per_s]
    if result.phases == "concurrent" and "consumer" in result.roles:
        rates.append(result.roles["consumer"].records_per_s)
    rates = [r for r in rates if r and not math.isnan(r)]
    if not rates:
        raise UserError(f"{driver.name}: the calibration run measured no throughput")
    return min(rates)


def measurement_markers() -> list[str]:
    """What marks a process as part of a bench's measurement besides its own tree: the local stack's data dir.

    The brokers are not the bench's children (`make up` started them), but their load is the measurement's;
    another stack's brokers (another checkout's data dir) are other work.
    """
    try:
        return [str(StackConfig.from_env().stack_dir.resolve())]
    except UserError:
        return []


def run_one(driver: Driver, workload: Workload, endpoints: Any, progress: Progress) -> RunResult:
    """One driver, with `rate: NN%` resolved; failures become a RunResult with `error` set."""
    calibrated = None
    try:
        run_wl = workload
        scaled = workload.rate_fraction is not None and driver.takes_rate
        if scaled:
            calibrated = calibrate(driver, workload, endpoints, progress)
            run_wl = workload.replace(rate=max(1.0, round(calibrated * workload.rate_fraction, 1)))
        with NoiseMeter(measurement_markers()) as meter:
            result = driver.run(run_wl, endpoints, progress)
        result.machine_state = meter.state.row()
        if scaled:
            result.workload = workload                # the rows say "50% of max" and carry the absolute target
            result.notes.append(f"calibrated max {calibrated:,.0f} records/s; ran at {run_wl.rate:,.0f} records/s")
    except Exception as exc:
        if isinstance(exc, UserError) and not isinstance(exc, TransportError):
            raise                 # a bad setting stops the bench; a broker failing one driver's run does not
        result = RunResult(
            driver.name,
            driver.broker,
            driver.native,
            workload,
            client_version=driver.client_version(),
            error=f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
        )
        result.notes.append(str(exc)[-2000:])
    result.calibrated_max = calibrated
    return result


def run_bench(workload: Workload | str | Path | dict, drivers: str | list[str] = DEFAULT_DRIVERS, *,
              duration: Any = None, warmup: Any = None, rate: Any = None, overrides: dict | None = None,
              endpoints: Any = None, out_dir: Path | str | None = None, save: bool = True,
              progress: bool = True, bench_id: str | None = None, repeat: int = 1) -> BenchResult:
    """Run `workload` with each driver in turn; tidy results, saved unless `save=False`.

    `duration`/`warmup` ("20s", 20) and `rate` ("max", 5000, "50%") override the workload's;
    `overrides` changes any other field (e.g. {"partitions": 1, "replication": 1}).
    `repeat` > 1 runs every driver that many times, interleaved and in a rotated order each round
    (A B C, B C A, ...), so slow drifts of a shared machine hit every driver alike; the table
    then shows the median of the rounds.
    """
    if repeat < 1:
        raise UserError(f"repeat must be at least 1, got {repeat}")
    wl = as_workload(workload)
    changes = dict(overrides or {})
    for key, value in (("duration", duration), ("warmup", warmup), ("rate", rate)):
        if value is not None:
            changes[key] = value
    if changes:
        wl = wl.replace(**changes)
    names = driver_names(drivers)
    ep = endpoints or stack_endpoints()
    instances = [get_driver(name) for name in names]
    for driver in instances:                              # fail before anything runs, with one line
        driver.check(ep)
    machine = machine_description(ep, {d.broker for d in instances})
    bench_id = bench_id or time.strftime("%Y%m%d-%H%M%S")
    calibration = CALIBRATION_WARMUP_S + CALIBRATION_DURATION_S + 8 if wl.rate_fraction is not None else 0
    bar = Progress(repeat * sum(d.estimate_s(wl) + (calibration if d.takes_rate else 0) for d in instances),
                   enabled=progress)
    runs: list[tuple[str, RunResult]] = []
    rounds: dict[str, int] = {}
    try:
        for round_ in range(repeat):
            shift = round_ % len(instances)
            for driver in instances[shift:] + instances[:shift]:
                index = instances.index(driver) + 1
                run_id = f"{bench_id}-{index:02d}-{driver.name}" + (f"-r{round_ + 1}" if repeat > 1 else "")
                runs.append((run_id, run_one(driver, wl, ep, bar)))
                rounds[run_id] = round_ + 1
    finally:
        bar.close()
    rows = [row for run_id, run in runs for row in run.rows(bench_id, run_id, machine, rounds[run_id])]
    results = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    ts_rows = [row for run_id, run in runs for row in run.timeseries_rows(bench_id, run_id)]
    timeseries = pd.DataFrame(ts_rows, columns=["bench_id", "run_id", "driver", "broker", "workload", "role",
                                                "second", "records", "mb"])
    bench = BenchResult(bench_id, results, timeseries, machine, wl, runs)
    if save:
        bench.save(Path(out_dir) if out_dir is not None else RESULTS_ROOT / bench_id)
    return bench


# -- the side-by-side table -------------------------------------------------------------------------

def ratio_table(results: pd.DataFrame) -> pd.DataFrame:
    """One row per bench × workload × driver: throughput and latency side by side (the median over
    rounds when a driver ran more than once), and, for max-rate runs, the ratio of records/s to the
    broker's own Java tool in the same bench (`producer_ratio`, `consumer_ratio`)."""
    if results.empty:
        return pd.DataFrame()
    keys = ["bench_id", "workload", "broker", "brokers", "replication", "acks", "message_size", "rate", "driver"]
    frame = results.copy()
    measured = frame[frame["role"].isin(["producer", "consumer", "e2e"])]
    if measured.empty:
        wide = pd.DataFrame(columns=keys)
    else:
        wide = measured.pivot_table(index=keys, columns=["role", "metric"], values="value", aggfunc="median")
        wide.columns = [f"{role}_{metric}" for role, metric in wide.columns]
        wide = wide.reset_index()
        extra = measured.groupby(keys).agg(target_rate=("target_rate", "median"), runs=("run_id", "nunique"))
        wide = wide.merge(extra.reset_index(), on=keys, how="left")
    failed = frame[frame["metric"] == "failed"]
    if not failed.empty:
        errors = failed.groupby(keys)["error"].agg(lambda e: "; ".join(sorted(set(e)))).reset_index()
        if "runs" in wide:                      # a driver with some good rounds shows those, not the failure
            short = ["bench_id", "workload", "broker", "driver"]
            errors = errors.merge(wide[short].drop_duplicates(), on=short, how="left", indicator=True)
            errors = errors[errors["_merge"] == "left_only"].drop(columns="_merge")
        wide = pd.concat([wide, errors], ignore_index=True)
    for column in ("target_rate", "runs"):
        if column not in wide:
            wide[column] = math.nan
    for role, metric in TABLE_COLUMNS:
        col = f"{role}_{metric}"
        if col not in wide:
            wide[col] = math.nan
    for role in ("producer", "consumer"):
        col = f"{role}_records_per_s"
        ratios = []
        for _, row in wide.iterrows():
            if row["rate"] != "max":            # at a set rate, throughput says only "it kept up"
                ratios.append(math.nan)
                continue
            reference = REFERENCE.get(row["broker"])
            ref = wide[(wide["bench_id"] == row["bench_id"]) & (wide["workload"] == row["workload"])
                       & (wide["broker"] == row["broker"]) & (wide["driver"] == reference)]
            value = ref[col].iloc[0] if not ref.empty else math.nan
            ratios.append(row[col] / value if value and not pd.isna(value) else math.nan)
        wide[f"{role}_ratio"] = ratios
    order = {name: i for i, name in enumerate(["kafka-python", "confluent-kafka", "kafka-perf-test",
                                               "kafka-e2e-latency", "pika", "aio-pika",
                                               "rabbitmq-perftest"])}
    wide["_order"] = wide["driver"].map(order).fillna(99)
    wide = wide.sort_values(["bench_id", "workload", "broker", "_order"]).drop(columns="_order")
    columns = keys + ["target_rate", "runs"] + [f"{r}_{m}" for r, m in TABLE_COLUMNS] + ["producer_ratio",
                                                                                         "consumer_ratio"]
    if "error" in wide:
        columns.append("error")
    return wide[columns].reset_index(drop=True)


DISPLAY_CAPTION = ("e2e: send → receive; ack: send → broker ack (Kafka acks / RabbitMQ confirms); "
                  "×native: records/s ÷ the broker's Java tool (max-rate runs)")
#: (header, justify) of the results table; the driver first, so a narrow terminal can repeat it per panel
DISPLAY_COLUMNS = (("driver", "left"), ("broker", "left"), ("workload", "left"), ("rate", "right"),
                  ("prod rec/s", "right"), ("prod MB/s", "right"), ("cons rec/s", "right"), ("cons MB/s", "right"),
                  ("e2e p50 ms", "right"), ("p99", "right"), ("p99.9", "right"), ("max", "right"),
                  ("ack p50", "right"), ("ack p99", "right"), ("prod ×native", "right"), ("cons ×native", "right"))


def result_rows(table: pd.DataFrame) -> list[list[str]]:
    """`ratio_table(...)` as strings in DISPLAY_COLUMNS order; a failed run says so (its error is printed below)."""
    def num(value: float, digits: int = 0) -> str:
        return "" if value is None or pd.isna(value) else f"{value:,.{digits}f}"

    rows = []
    for _, row in table.iterrows():
        rate = row["rate"] if pd.isna(row.get("target_rate")) else f"{row['target_rate']:,.0f}/s"
        broker = f"{row['broker']} ×{int(row['brokers'])}" if not pd.isna(row.get("brokers")) else row["broker"]
        if isinstance(row.get("error"), str) and row["error"]:
            rows.append([row["driver"], broker, row["workload"], rate, "[red]failed[/]"]
                        + [""] * (len(DISPLAY_COLUMNS) - 5))
            continue
        rows.append([
            row["driver"], broker, row["workload"], rate, num(row["producer_records_per_s"]),
            num(row["producer_mb_per_s"], 2), num(row["consumer_records_per_s"]), num(row["consumer_mb_per_s"], 2),
            num(row["e2e_p50_ms"], 2), num(row["e2e_p99_ms"], 2), num(row["e2e_p999_ms"], 2),
            num(row["e2e_max_ms"], 2), num(row["producer_p50_ms"], 2), num(row["producer_p99_ms"], 2),
            num(row["producer_ratio"], 2), num(row["consumer_ratio"], 2)])
    return rows


def format_table(table: pd.DataFrame, title: str = "") -> Any:
    """A rich Table of `ratio_table(...)`, all columns in one (the CLI splits it to fit the terminal)."""
    from rich.table import Table

    rich_table = Table(title=title or None, caption=DISPLAY_CAPTION)
    for name, justify in DISPLAY_COLUMNS:
        rich_table.add_column(name, justify=justify)
    for row in result_rows(table):
        rich_table.add_row(*row)
    return rich_table


__all__ = ["run_bench", "run_one", "calibrate", "BenchResult", "ratio_table", "format_table", "result_rows",
    "DISPLAY_COLUMNS", "DISPLAY_CAPTION", "machine_description", "DEFAULT_DRIVERS", "RESULTS_ROOT"]
