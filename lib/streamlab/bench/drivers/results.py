"""The driver interface, the one result schema, and the process orchestration Python drivers share.

A driver runs one workload against one broker and returns a `RunResult`: per role
(`producer`, `consumer`, `e2e`) the records and bytes counted in the measurement
window, the window's length, a per-second series, and a latency summary. Every
driver fills the same object, whether it runs Python clients in child processes
or parses what a Java perf tool printed, so `RunResult.rows()` gives the same tidy
rows (one per run × role × metric) for all of them.

Python drivers (`ProcessDriver`) run each producer and each consumer in its own
process (spawned: the GIL would otherwise serialize them) and coordinate them
like this:

1. the parent creates the topic/queues;
2. consumers start, take their partitions/queues and report ready (concurrent runs);
3. producers start, connect and report ready; the parent sets a common start time;
4. producers send for warm-up + duration (max rate, or on a fixed schedule),
   flush, and report what was acknowledged;
5. consumers (started now for sequential runs) read until they have received all
   acknowledged records or a drain timeout passes, then report;
6. the parent merges timelines and histograms and deletes what it created.

Every payload starts with its send time (8 bytes, `time.time_ns()`, little
endian); the consumer's receive time minus that is the end-to-end latency (one
machine, one clock). In fixed-rate mode the stamp is the *intended* send time of
the record's slot in the schedule, so a producer that falls behind shows up as
latency instead of being hidden (coordinated omission).
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing as mp
import os
import queue as queue_mod
import random
import re
import struct
import sys
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ...errors import UserError
from ...measure.latency import LatencyRecorder, LatencySummary, Timeline, merge_encoded, summarize
from ...transport import kafka_admin
from ...transport.rabbitmq import connection_parameters
from ...transport.spec import TopicSpec
from ..workload import TIMESTAMP_BYTES, Workload

MB = 1024 * 1024          # MB/s as the Kafka and RabbitMQ tools print it (2^20 bytes)
ROLES = ("producer", "consumer", "e2e")
THROUGHPUT_METRICS = ("records_per_s", "mb_per_s", "records", "errors")
STAMP = struct.Struct("<Q")

# one row per run × role × metric; the columns after `value` say what it was measured under
RESULT_COLUMNS = [
    "bench_id", "run_id", "round", "timestamp", "driver", "broker", "native", "workload", "role", "metric", "value",
    "message_size", "rate", "target_rate", "producers", "consumers", "partitions", "queues", "replication",
    "brokers", "acks", "compression", "batch_size", "linger_ms", "confirms", "prefetch", "persistent",
    "queue_type", "phases", "warmup_s", "duration_s", "client_version", "cores", "memory_gb", "settings",
    "notes", "error",
]


class DriverError(RuntimeError):
    """A run failed (a child crashed, a tool exited badly); the runner records it and goes on."""


# -- results ------------------------------------------------------------------------------------

@dataclass
class RoleResult:
    """What one role did in the measurement window (records, bytes, seconds) and over the whole run."""

    role: str
    records: int = 0                 # counted inside the measurement window
    bytes: int = 0
    seconds: float = 0.0             # the window's length
    total_records: int = 0           # the whole run, warm-up and drain included
    errors: int = 0
    latency: LatencySummary | None = None
    per_second: list[int] = field(default_factory=list)

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else math.nan

    @property
    def mb_per_s(self) -> float:
        return self.bytes / self.seconds / MB if self.seconds > 0 else math.nan

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.role != "e2e":
            out.update(records_per_s=self.records_per_s, mb_per_s=self.mb_per_s,
                       records=float(self.total_records), errors=float(self.errors))
        else:
            out["records"] = float(self.latency.count if self.latency else self.total_records)
        if self.latency is not None:
            out.update(self.latency.metrics())
        return out


@dataclass
class RunResult:
    """One driver × one workload: the roles it measured and everything needed to interpret them."""

    driver: str
    broker: str
    native: bool
    workload: Workload
    client_version: str = ""
    brokers: int = 0                 # Kafka brokers in the cluster / RabbitMQ nodes
    replication: int = 0             # the replication the topic really got (capped at the broker count)
    target_rate: float | None = None
    phases: str = ""
    roles: dict[str, RoleResult] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)   # the client/tool configuration actually used
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    started_at: float = field(default_factory=time.time)
    calibrated_max: float | None = None
    rate_label: str | None = None    # how the tool loaded the broker when it ignores the workload's rate

    def role(self, name: str) -> RoleResult | None:
        return self.roles.get(name)

    @property
    def sent(self) -> int:
        producer = self.roles.get("producer")
        return producer.total_records if producer else 0

    @property
    def received(self) -> int:
        consumer = self.roles.get("consumer")
        return consumer.total_records if consumer else 0

    def rows(self, bench_id: str = "", run_id: str = "", machine: dict | None = None,
             round_: int = 0) -> list[dict]:
        wl = self.workload
        machine = machine or {}
        base = {
            "bench_id": bench_id, "run_id": run_id, "round": round_,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.started_at)),
            "driver": self.driver, "broker": self.broker, "native": self.native, "workload": wl.name,
            "message_size": wl.message_size, "rate": self.rate_label or wl.rate_label,
            "target_rate": float(self.target_rate) if self.target_rate is not None else math.nan,
            "producers": wl.producers, "consumers": wl.consumers, "partitions": wl.partitions, "queues": wl.queues,
            "replication": self.replication, "brokers": self.brokers, "acks": wl.acks,
            "compression": wl.compression, "batch_size": wl.batch_size, "linger_ms": wl.linger_ms,
            "confirms": wl.confirms, "prefetch": wl.prefetch, "persistent": wl.persistent,
            "queue_type": wl.queue_type, "phases": self.phases or wl.phases, "warmup_s": wl.warmup_s,
            "duration_s": wl.duration_s, "client_version": self.client_version,
            "cores": machine.get("cores", os.cpu_count()), "memory_gb": machine.get("memory_gb", math.nan),
            "settings": json.dumps(self.settings, sort_keys=True, default=str), "notes": "; ".join(self.notes),
            "error": self.error or "",
        }
        rows = []
        if self.calibrated_max is not None:
            rows.append({**base, "role": "producer", "metric": "calibrated_max_records_per_s",
                         "value": float(self.calibrated_max)})
        if self.error:
            rows.append({**base, "role": "run", "metric": "failed", "value": 1.0})
        for role in ROLES:
            result = self.roles.get(role)
            if result is None:
                continue
            for metric, value in result.metrics().items():
                rows.append({**base, "role": role, "metric": metric, "value": float(value)})
        return [{col: row.get(col) for col in RESULT_COLUMNS} for row in rows]

    def timeseries_rows(self, bench_id: str = "", run_id: str = "") -> list[dict]:
        rows = []
        for role in ("producer", "consumer"):
            result = self.roles.get(role)
            if result is None:
                continue
            for second, records in enumerate(result.per_second):
                rows.append({"bench_id": bench_id, "run_id": run_id, "driver": self.driver, "broker": self.broker,
                             "workload": self.workload.name, "role": role, "second": second, "records": records,
                             "mb": records * self.workload.message_size / MB})
        return rows


# -- drivers ------------------------------------------------------------------------------------

class Progress:
    """What drivers report while they run.

    On a terminal, a tqdm bar over the estimated seconds. Anywhere else (CI, `> file`, the book runner) a
    bar is hundreds of `\r` frames on one line, so it prints one plain line per phase instead: a note
    opens a new phase when it differs from the last one in more than its numbers ("sent 1,200" → "sent
    2,400" is the same phase)."""

    def __init__(self, total_s: float = 0.0, enabled: bool = True, stream: Any = None) -> None:
        self.total_s = max(total_s, 1.0)
        self.started = time.monotonic()
        self.bar = None
        self.stream = stream if stream is not None else sys.stderr
        self.plain = enabled and not _is_tty(self.stream)
        self._phase = ""
        if enabled and not self.plain:
            from tqdm import tqdm

            self.bar = tqdm(total=round(self.total_s), unit="s", leave=True, mininterval=0.5, file=self.stream,
                            bar_format="{percentage:3.0f}%|{bar:20}| {n:.0f}/{total:.0f} s est. {desc}")

    def note(self, text: str) -> None:
        if self.plain:
            phase = re.sub(r"\d[\d,.]*", "#", text)
            if phase != self._phase:
                self._phase = phase
                self._line(text)
        elif self.bar is not None:
            self.bar.set_description_str(text, refresh=False)
            self.refresh()

    def _line(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:5.0f} s / ~{self.total_s:.0f} s] {text}", file=self.stream,
              flush=True)

    def refresh(self) -> None:
        if self.bar is not None:
            elapsed = min(time.monotonic() - self.started, self.bar.total - 0.5)
            if elapsed > self.bar.n:
                self.bar.update(elapsed - self.bar.n)     # update() honours mininterval; refresh() would not

    def close(self) -> None:
        if self.plain:
            self._line("done")
        elif self.bar is not None:
            self.bar.n = self.bar.total
            self.bar.set_description_str("done", refresh=False)
            self.bar.refresh()
            self.bar.close()


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Driver(ABC):
    """Runs a workload against one broker and returns a RunResult; one instance per run is fine."""

    name: ClassVar[str]
    broker: ClassVar[str]                 # "kafka" or "rabbitmq"
    native: ClassVar[bool] = False        # the broker's own Java tool (the reference of the ratios)
    takes_rate: ClassVar[bool] = True     # False: the driver sets its own load (ping-pong), "50%" means nothing
    description: ClassVar[str] = ""

    @abstractmethod
    def client_version(self) -> str: ...

    def check(self, endpoints: Any) -> None:
        """Raise UserError with one line when this driver cannot run (broker down, tool missing)."""
        check_broker(self.broker, endpoints)

    @abstractmethod
    def run(self, workload: Workload, endpoints: Any, progress: Progress | None = None) -> RunResult:
        """Run `workload` (its rate already absolute: the runner resolves "50%") and measure it."""

    def estimate_s(self, workload: Workload) -> float:
        """Wall time one run takes, for the progress bar."""
        return workload.warmup_s + workload.duration_s + 6.0


DRIVERS: dict[str, str] = {
    "kafka-python": "streamlab.bench.drivers.kafka_python:KafkaPythonDriver",
    "confluent-kafka": "streamlab.bench.drivers.confluent:ConfluentDriver",
    "kafka-perf-test": "streamlab.bench.drivers.kafka_java_tools:KafkaPerfTestDriver",
    "kafka-e2e-latency": "streamlab.bench.drivers.kafka_java_tools:KafkaEndToEndLatencyDriver",
    "pika": "streamlab.bench.drivers.pika_driver:PikaDriver",
    "aio-pika": "streamlab.bench.drivers.aio_pika_driver:AioPikaDriver",
    "rabbitmq-perftest": "streamlab.bench.drivers.rabbitmq_perftest:RabbitPerfTestDriver",
}
ALIASES: dict[str, list[str]] = {
    "kafka": ["kafka-python", "confluent-kafka", "kafka-perf-test"],
    "rabbitmq": ["pika", "rabbitmq-perftest"],
    "rabbitmq-clients": ["pika", "aio-pika", "rabbitmq-perftest"],
    "python": ["kafka-python", "confluent-kafka", "pika", "aio-pika"],
    "native": ["kafka-perf-test", "rabbitmq-perftest"],
    "all": ["kafka-python", "confluent-kafka", "kafka-perf-test", "pika", "rabbitmq-perftest"],
    "confluent": ["confluent-kafka"], "kafka-producer-perf-test": ["kafka-perf-test"],
    "perftest": ["rabbitmq-perftest"], "perf-test": ["rabbitmq-perftest"], "aiopika": ["aio-pika"],
}
REFERENCE = {"kafka": "kafka-perf-test", "rabbitmq": "rabbitmq-perftest"}   # what ratios divide by


def driver_names(spec: str | list[str] | tuple[str, ...]) -> list[str]:
    """"kafka-python,confluent-kafka" or a list → known driver names (aliases expanded, order kept)."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names: list[str] = []
    for item in (i.strip().lower() for i in items):
        if not item:
            continue
        expanded = ALIASES.get(item, [item])
        for name in expanded:
            if name not in DRIVERS:
                raise UserError(f"driver {item!r} is not known: use {', '.join(DRIVERS)} "
                                 f"(or {', '.join(a for a in ALIASES if a in ('kafka', 'rabbitmq', 'python', 'all'))})")
            if name not in names:
                names.append(name)
    if not names:
        raise UserError("no driver given: use --driver kafka-python,confluent-kafka,kafka-perf-test (for example)")
    return names


def get_driver(name: str) -> Driver:
    import importlib

    if name not in DRIVERS:
        name = driver_names(name)[0]
    module, cls = DRIVERS[name].split(":")
    return getattr(importlib.import_module(module), cls)()


# -- broker plumbing shared by the Kafka drivers ------------------------------------------------

def check_broker(broker: str, endpoints: Any) -> None:
    if broker == "kafka":
        kafka_admin.metadata(endpoints.kafka_bootstrap, timeout=8)
    elif broker == "rabbitmq":
        import pika

        try:
            conn = pika.BlockingConnection(amqp_params(endpoints.amqp_url, timeout=5))
            conn.close()
        except Exception as exc:  # noqa: BLE001 - any connection failure means the same to the user
            raise UserError(f"RabbitMQ does not answer at {endpoints.amqp_url} ({type(exc).__name__}): start it with "
                            f"`streamlab stack up --broker rabbitmq`") from None


def amqp_params(url: str, timeout: float = 10):
    """A bench client's connection: the broker's heartbeat, and a publisher blocked by flow control for
    up to a minute before it gives up."""
    return connection_parameters(url, "streamlab-bench", socket_timeout=timeout, heartbeat=None, blocked_timeout=60)


def create_topic(bootstrap: str, topic: str, partitions: int, replication: int,
                 config: dict[str, str] | None = None) -> tuple[int, int]:
    """Create a bench topic (replication capped at the broker count); returns (brokers, replication)."""
    brokers = kafka_admin.broker_count(bootstrap)
    spec = TopicSpec(topic, "raw", partitions, max(1, replication), dict(config or {})).for_cluster(brokers)
    kafka_admin.ensure_topics(bootstrap, [spec])
    return brokers, spec.replication


def bench_name(driver: str) -> str:
    return f"streamlab-bench-{driver}-{os.urandom(3).hex()}"


# -- payloads and pacing (used inside the child processes) ---------------------------------------

def payload_template(size: int, seed: int = 0) -> bytearray:
    """`size` bytes of random capital letters (as kafka-producer-perf-test sends); bytes 0–7 get the stamp."""
    rng = random.Random(seed)
    return bytearray(rng.choices(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", k=max(size, TIMESTAMP_BYTES)))


def split_evenly(items: list[Any], parts: int, index: int) -> list[Any]:
    """The share of `items` the `index`-th of `parts` workers takes (round-robin; may be empty)."""
    return [item for i, item in enumerate(items) if i % parts == index]


def share(total: int | None, parts: int, index: int) -> int | None:
    if total is None:
        return None
    return total // parts + (1 if index < total % parts else 0)


class Schedule:
    """Intended send times of a fixed-rate producer: slot i is due at start + i / rate."""

    def __init__(self, rate_per_s: float, start_ns: int) -> None:
        self.interval_ns = 1e9 / rate_per_s
        self.start_ns = start_ns
        self.index = 0

    def next_due_ns(self) -> int:
        return self.start_ns + int(self.index * self.interval_ns)

    def due(self, now_ns: int, limit: int) -> int:
        """How many slots are due at `now_ns` (at most `limit`)."""
        behind = int((now_ns - self.start_ns) / self.interval_ns) + 1 - self.index
        return max(0, min(behind, limit))


# -- process orchestration --------------------------------------------------------------------------

@dataclass
class ChildSpec:
    """What a child process needs to know (pickled to it)."""

    role: str
    index: int
    workload: Workload
    endpoint: str
    target: dict[str, Any]           # topic / queue names
    assignment: list[Any]            # partitions or queues this consumer reads
    settings: dict[str, Any]         # the client configuration (producer / consumer)
    run_tag: str
    max_records: int | None = None   # this producer's share of workload.max_records
    rate: float | None = None        # this producer's records/s (None = max)
    sequential: bool = False


class Control:
    """Shared between the parent and its children: events, the common start time, live counters."""

    def __init__(self, ctx, slots: int) -> None:
        self.go = ctx.Event()                 # producers may start at `start_at`
        self.consume = ctx.Event()            # consumers may start measuring at `consume_at`
        self.stop = ctx.Event()               # everyone: finish now
        self.start_at = ctx.Value("d", 0.0, lock=False)
        self.consume_at = ctx.Value("d", 0.0, lock=False)
        self.counters = ctx.Array("q", slots, lock=False)   # records sent / received per child
        self.results = ctx.Queue()

    # child side ---------------------------------------------------------------------------------
    def ready(self, spec: ChildSpec, info: dict | None = None) -> None:
        self.results.put(("ready", spec.role, spec.index, info or {}))

    def wait_start(self, spec: ChildSpec, timeout: float = 120.0) -> float:
        """Block until the parent says go; return the start time (wall clock, seconds), sleeping until it."""
        event, value = (self.consume, self.consume_at) if spec.role == "consumer" else (self.go, self.start_at)
        if not event.wait(timeout):
            raise DriverError(f"{spec.role} {spec.index}: no start signal within {timeout:.0f}s")
        start = value.value
        delay = start - time.time()
        if delay > 0:
            time.sleep(delay)
        return start

    def report(self, spec: ChildSpec, payload: dict) -> None:
        self.results.put(("result", spec.role, spec.index, payload))


PROFILE_ENV = "STREAMLAB_BENCH_PROFILE"   # a directory: each child writes <process name>.prof there (cProfile)


def _child_main(entry: Callable[[ChildSpec, Control], None], spec: ChildSpec, ctl: Control) -> None:
    try:
        out_dir = os.environ.get(PROFILE_ENV)
        if out_dir:
            _profiled(entry, spec, ctl, out_dir)
        else:
            entry(spec, ctl)
    except BaseException:  # noqa: BLE001 - everything goes back to the parent, which decides
        ctl.results.put(("error", spec.role, spec.index, traceback.format_exc()))
        raise SystemExit(1) from None


def _profiled(entry: Callable[[ChildSpec, Control], None], spec: ChildSpec, ctl: Control, out_dir: str) -> None:
    """Run a child under cProfile (for finding where a client's time goes; it slows the child down)."""
    import cProfile
    from pathlib import Path

    Path(out_dir).mkdir(parents=True, exist_ok=True)
    profile = cProfile.Profile()
    try:
        profile.runcall(entry, spec, ctl)
    finally:
        name = mp.current_process().name or f"{spec.role}-{spec.index}"
        profile.dump_stats(str(Path(out_dir) / f"{name}.prof"))


def producer_payload(*, records: int, errors: int, timeline: Timeline, send_end: float,
                     latency: LatencyRecorder | None = None, extra: dict | None = None) -> dict:
    return {"records": records, "errors": errors, "timeline": timeline.to_dict(), "send_end": send_end,
            "latency": latency.encode() if latency is not None and latency.count else None, **(extra or {})}


def consumer_payload(*, records: int, nbytes: int, timeline: Timeline, first_poll: float, last_receive: float,
                     latency: LatencyRecorder | None, errors: int = 0, extra: dict | None = None) -> dict:
    return {"records": records, "bytes": nbytes, "timeline": timeline.to_dict(), "first_poll": first_poll,
            "last_receive": last_receive, "errors": errors,
            "latency": latency.encode() if latency is not None and latency.count else None, **(extra or {})}


class ProcessDriver(Driver):
    """A Python client driven in child processes; subclasses give the entry points and the broker plumbing."""

    producer_entry: ClassVar[Callable[[ChildSpec, Control], None]]
    consumer_entry: ClassVar[Callable[[ChildSpec, Control], None]]
    START_TIMEOUT_S = 60.0
    FLUSH_TIMEOUT_S = 30.0
    # True: consumers beyond the number of queues share one (RabbitMQ's competing consumers);
    # False: they stay idle, as in a Kafka consumer group with more members than partitions
    competing_consumers: ClassVar[bool] = False

    # -- what a subclass provides ---------------------------------------------------------------------
    @abstractmethod
    def prepare(self, workload: Workload, endpoints: Any) -> dict[str, Any]:
        """Create topic/queues; return {"endpoint", "target", "units" (partitions/queues), "brokers", "replication"}."""

    @abstractmethod
    def cleanup(self, prepared: dict[str, Any], endpoints: Any) -> None: ...

    @abstractmethod
    def client_settings(self, workload: Workload) -> dict[str, Any]:
        """{"producer": {...}, "consumer": {...}}: the configuration the children use (and the results record)."""

    def phases(self, workload: Workload) -> str:
        return workload.phases

    # -- the run --------------------------------------------------------------------------------------
    def run(self, workload: Workload, endpoints: Any, progress: Progress | None = None) -> RunResult:
        progress = progress or Progress(enabled=False)
        phases = self.phases(workload)
        result = RunResult(self.name, self.broker, self.native, workload, client_version=self.client_version(),
                           target_rate=workload.rate, phases=phases)
        units = workload.queues if self.broker == "rabbitmq" else workload.partitions
        if workload.consumers > units and not self.competing_consumers:
            result.notes.append(f"{workload.consumers - units} of {workload.consumers} consumers idle: "
                                f"only {units} partitions")
        settings = self.client_settings(workload)
        result.settings = settings
        progress.note(f"{self.name}: preparing")
        prepared = self.prepare(workload, endpoints)
        result.brokers, result.replication = prepared["brokers"], prepared["replication"]
        result.notes.extend(prepared.get("notes", []))
        try:
            self._orchestrate(workload, prepared, settings, result, progress, sequential=phases == "sequential")
        finally:
            progress.note(f"{self.name}: cleaning up")
            self.cleanup(prepared, endpoints)
        return result

    def _orchestrate(self, wl: Workload, prepared: dict, settings: dict, result: RunResult,
                     progress: Progress, sequential: bool) -> None:
        ctx = mp.get_context("spawn")
        n_prod, n_cons = wl.producers, wl.consumers
        ctl = Control(ctx, n_prod + n_cons)
        tag = os.urandom(3).hex()
        procs: list[mp.process.BaseProcess] = []
        ready: set[tuple[str, int]] = set()
        reports: dict[tuple[str, int], dict] = {}

        def spawn(role: str, index: int) -> None:
            entry = type(self).producer_entry if role == "producer" else type(self).consumer_entry
            units = list(range(prepared["units"]))
            if role == "consumer":
                if n_cons <= len(units) or not self.competing_consumers:
                    assignment = split_evenly(units, n_cons, index)
                else:
                    assignment = [units[index % len(units)]]
            else:
                assignment = units
            spec = ChildSpec(role=role, index=index, workload=wl, endpoint=prepared["endpoint"],
                             target=prepared["target"], assignment=assignment, settings=settings[role],
                             run_tag=tag, max_records=share(wl.max_records, n_prod, index),
                             rate=wl.per_producer_rate, sequential=sequential)
            proc = ctx.Process(target=_child_main, args=(entry, spec, ctl), name=f"{self.name}-{role}-{index}",
                               daemon=True)
            with _main_module_hidden():
                proc.start()
            procs.append(proc)

        def pump(timeout: float) -> None:
            """Read one message from the children (or time out); a child's error aborts the run."""
            try:
                kind, role, index, payload = ctl.results.get(timeout=timeout)
            except queue_mod.Empty:
                for proc in procs:
                    if proc.exitcode not in (None, 0):
                        raise DriverError(f"{proc.name} exited with code {proc.exitcode}") from None
                return
            if kind == "ready":
                ready.add((role, index))
            elif kind == "result":
                reports[(role, index)] = payload
            else:
                raise DriverError(f"{self.name} {role} {index} failed: {_last_line(payload)}\n{payload}")

        def wait_for(keys: set[tuple[str, int]], store: set | dict, what: str, timeout: float) -> None:
            deadline = time.monotonic() + timeout
            while not keys <= set(store):
                if time.monotonic() > deadline:
                    missing = ", ".join(f"{r} {i}" for r, i in sorted(keys - set(store)))
                    raise DriverError(f"{self.name}: {missing} not {what} within {timeout:.0f}s")
                pump(0.2)
                progress.refresh()

        producers = {("producer", i) for i in range(n_prod)}
        consumers = {("consumer", i) for i in range(n_cons)}
        try:
            if not sequential:
                progress.note(f"{self.name}: starting consumers")
                for i in range(n_cons):
                    spawn("consumer", i)
                wait_for(consumers, ready, "ready", self.START_TIMEOUT_S)
            progress.note(f"{self.name}: starting producers")
            for i in range(n_prod):
                spawn("producer", i)
            wait_for(producers, ready, "ready", self.START_TIMEOUT_S)

            start = time.time() + 0.2
            ctl.start_at.value = start
            if not sequential:
                ctl.consume_at.value = start
                ctl.consume.set()
            ctl.go.set()
            run_s = wl.warmup_s + wl.duration_s
            deadline = time.monotonic() + run_s + self.FLUSH_TIMEOUT_S + 5
            while not producers <= set(reports):
                if time.monotonic() > deadline:
                    raise DriverError(
                        f"{self.name}: producers did not finish within {run_s + self.FLUSH_TIMEOUT_S:.0f}s"
                    )
                pump(0.2)
                sent = sum(ctl.counters[i] for i in range(n_prod))
                got = sum(ctl.counters[n_prod + i] for i in range(n_cons))
                phase = "warm-up" if time.time() < start + wl.warmup_s else "measuring"
                progress.note(
                    f"{self.name}: {phase}, sent {sent:,}" + (f", received {got:,}" if not sequential else "")
                )
            expected = sum(reports[k]["records"] for k in producers)

            if n_cons:
                if sequential:
                    progress.note(f"{self.name}: consuming {expected:,} records")
                    for i in range(n_cons):
                        spawn("consumer", i)
                    wait_for(consumers, ready, "ready", self.START_TIMEOUT_S)
                    ctl.consume_at.value = time.time() + 0.05
                    ctl.consume.set()
                    drain_s = max(30.0, 3 * run_s)
                else:
                    drain_s = max(10.0, wl.duration_s)
                drain_deadline = time.monotonic() + drain_s
                while True:
                    got = sum(ctl.counters[n_prod + i] for i in range(n_cons))
                    if got >= expected:
                        break
                    if time.monotonic() > drain_deadline:
                        result.notes.append(f"consumers received {got:,} of {expected:,} within the "
                                            f"{drain_s:.0f}s drain timeout")
                        break
                    pump(0.1)
                    progress.note(f"{self.name}: draining, received {got:,}/{expected:,}")
            ctl.stop.set()
            wait_for(consumers, reports, "finished", 30.0)
        finally:
            ctl.stop.set()
            ctl.go.set()
            ctl.consume.set()
            for proc in procs:
                proc.join(timeout=10)
            for proc in procs:
                if proc.is_alive():
                    proc.terminate()
                    proc.join(timeout=5)
            # leftover results must not keep the queue's feeder thread alive
            try:
                while True:
                    ctl.results.get_nowait()
            except (queue_mod.Empty, OSError, ValueError):
                pass
        self._collect(wl, result, reports, n_prod, n_cons, sequential)

    # -- turning child reports into roles ------------------------------------------------------------
    @staticmethod
    def _collect(wl: Workload, result: RunResult, reports: dict, n_prod: int, n_cons: int, sequential: bool) -> None:
        prod = [reports[("producer", i)] for i in range(n_prod)]
        cons = [reports[("consumer", i)] for i in range(n_cons)]
        warm, dur = wl.warmup_s, wl.duration_s
        timeline = Timeline.merge(Timeline.from_dict(p["timeline"]) for p in prod)
        send_end = max(p["send_end"] for p in prod) - timeline.start
        lo, hi = warm, min(warm + dur, send_end)
        if hi - lo < 0.5:                                   # max_records ended the run inside the warm-up
            lo, hi = 0.0, max(len(timeline.counts) * Timeline.BUCKET_S, 1e-3)    # until the last ack
            result.notes.append("producers finished before the warm-up ended: the whole run is measured "
                                "(0.1 s resolution)")
        records, nbytes = timeline.total(lo, hi)
        p_lat = merge_encoded(p.get("latency") for p in prod)
        result.roles["producer"] = RoleResult(
            "producer", records=records, bytes=nbytes, seconds=hi - lo,
            total_records=sum(p["records"] for p in prod), errors=sum(p["errors"] for p in prod),
            latency=summarize(p_lat), per_second=timeline.per_second())
        if not cons:
            return
        ctimeline = Timeline.merge(Timeline.from_dict(c["timeline"]) for c in cons)
        total = sum(c["records"] for c in cons)
        if sequential:
            first = min(c["first_poll"] for c in cons)
            last = max(c["last_receive"] for c in cons)
            seconds = max(last - first, 1e-3)
            consumer = RoleResult("consumer", records=total, bytes=sum(c["bytes"] for c in cons), seconds=seconds,
                                  total_records=total, errors=sum(c["errors"] for c in cons),
                                  per_second=ctimeline.per_second())
        else:
            crecords, cbytes = ctimeline.total(lo, hi)
            consumer = RoleResult("consumer", records=crecords, bytes=cbytes, seconds=hi - lo,
                                  total_records=total, errors=sum(c["errors"] for c in cons),
                                  per_second=ctimeline.per_second())
            e2e = summarize(merge_encoded(c.get("latency") for c in cons))
            result.roles["e2e"] = RoleResult("e2e", records=e2e.count if e2e else 0, total_records=total, latency=e2e)
        result.roles["consumer"] = consumer


class KafkaProcessDriver(ProcessDriver):
    """A Python Kafka client: one fresh topic per run (the workload's partitions and replication), deleted after."""

    broker: ClassVar[str] = "kafka"

    def prepare(self, workload: Workload, endpoints: Any) -> dict[str, Any]:
        topic = bench_name(self.name)
        bootstrap = endpoints.kafka_bootstrap
        brokers, rf = create_topic(bootstrap, topic, workload.partitions, workload.replication)
        notes = []
        if rf < workload.replication:
            notes.append(f"replication {workload.replication} capped at {rf}: the cluster has {brokers} broker(s)")
        return {"endpoint": bootstrap, "target": {"topic": topic}, "units": workload.partitions,
                "brokers": brokers, "replication": rf, "notes": notes}

    def cleanup(self, prepared: dict[str, Any], endpoints: Any) -> None:
        kafka_admin.delete_topics(endpoints.kafka_bootstrap, [prepared["target"]["topic"]])


@contextlib.contextmanager
def _main_module_hidden():
    """Spawn children without re-running the caller's script.

    The children's code lives in streamlab's modules, so they never need `__main__`;
    hiding its file keeps a script without an `if __name__ == "__main__":` guard
    (or a notebook) from being executed again in every child.
    """
    main = sys.modules.get("__main__")
    hidden = None
    if main is not None and getattr(main, "__spec__", None) is None and "__file__" in main.__dict__:
        hidden = main.__dict__.pop("__file__")
    try:
        yield
    finally:
        if hidden is not None:
            main.__dict__["__file__"] = hidden


def _last_line(text: str) -> str:
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1] if lines else str(text)


def python_version() -> str:
    return sys.version.split()[0]


__all__ = ["Driver", "ProcessDriver", "KafkaProcessDriver", "RunResult", "RoleResult", "Progress", "DriverError",
    "ChildSpec", "Control", "RESULT_COLUMNS", "DRIVERS", "ALIASES", "REFERENCE", "driver_names", "get_driver",
    "payload_template", "Schedule", "STAMP", "MB", "create_topic", "check_broker", "bench_name", "producer_payload",
    "consumer_payload"]
