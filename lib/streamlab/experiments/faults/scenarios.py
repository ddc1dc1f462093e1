"""Scenarios: the application run with one fault injected, then every sequence number counted.

Each scenario is a bounded `AppRun` (a fresh namespace and data dir) on one
broker. Two kinds of fault:

- **crash**: services SIGKILL themselves at their worst moment through
  `streamlab.crashpoints` (`STREAMLAB_CRASH_AT`, once per stamp file); the harness
  restarts each killed service itself (`AppRun.restart_service`) as soon as it
  sees it gone, so the scenario measures recovery whether or not a supervisor
  exists. (A supervisor that restarts it first is noticed: the harness restarts
  only a process it still sees dead.)
- **broker**: a Kafka broker (the leader of `telemetry` partition 0) SIGKILLed and
  started again, SIGSTOPped and resumed, or cut off from its peers and
  reconnected (`netcut`), under the running app on a 3-node cluster, through
  `streamlab.stack`.
- **moves**: no fault at all, the routine changes of a healthy cluster made again
  and again under the running app (`moves`): Kafka group coordinators moved by
  reassignments and preferred-leader elections, a controlled broker restart,
  every partition's preferred leader elected; RabbitMQ quorum queue leaders
  transferred between nodes. The promise: no service exits at all.

A scenario with `exactly_once` runs the processor in Kafka transactions; the
audit also reads back the processor's output topics, so duplicates are counted
on the topic itself as well as on disk.

After the run, `ledger.count_stage` compares what the broker holds (read back
by audit groups declared before the run) with what the sinks wrote.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from ...pipeline.declare import rabbit_group_queues
from ...pipeline.topics import ALL_TOPICS
from ...pipeline.wiring import GROUPS
from ...transport.retry import REFUSED, RETRIED
from ..application.sink_output import load_health
from . import audit, ledger

PROCESSOR = "health_processor"
PARQUET_SINK = "health_parquet_sink"
CSV_SINK = "alert_csv_sink"
#: service (module name) → its instance name, the prefix of its crash points
INSTANCE = {PROCESSOR: "health-processor", PARQUET_SINK: "health-parquet-sink", CSV_SINK: "alert-csv-sink"}

ALERT_KEY = ["machine_id", "source_ts_ns", "state"]   # how the CSV sink identifies an alert
EXACTLY_ONCE_TOPIC = "exactly once on the processor's output topics and on disk"


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    kind: str                   # "crash" | "broker-kill" | "broker-pause" | "disk-full" | "moves" | "none"
    crashes: tuple[tuple[str, str, int], ...] = ()   # (service, moment, nth pass)
    brokers: tuple[str, ...] = ("kafka", "rabbitmq")
    nodes: int = 1                              # broker nodes the scenario needs (of its broker)
    replication: int = 0                        # Kafka: the app's topics with this RF (0: as declared, 3)
    promise: str = "exactly once on disk"
    exactly_once: bool = False                  # the processor in Kafka transactions (STREAMLAB_PROCESSOR_TRANSACTIONS)

    def crash_env(self, stamp_prefix: Path) -> dict[str, str]:
        """The services' environment for this scenario: its crash points, and the processor's mode."""
        mode = {"STREAMLAB_PROCESSOR_TRANSACTIONS": "1"} if self.exactly_once else {}
        if not self.crashes:
            return mode
        spec = ",".join(f"{INSTANCE[s]}.{moment}:{n}" for s, moment, n in self.crashes)
        return {"STREAMLAB_CRASH_AT": spec, "STREAMLAB_CRASH_STAMP": str(stamp_prefix), **mode}


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("baseline", "no fault", "none"),
    Scenario("processor-after-publish", "processor killed after publish, before commit", "crash",
             ((PROCESSOR, "after_publish", 5),)),
    Scenario("processor-mid-batch", "processor killed mid-batch (part published, nothing flushed)", "crash",
             ((PROCESSOR, "mid_batch", 100),)),
    # The 2nd commit, not the 5th: a transactional processor starts late (the first transaction creates the
    # transaction log) and takes the backlog in fewer, larger batches, so a 5th commit may never come.
    Scenario("processor-after-publish-eos", "processor in Kafka transactions killed after publish, before commit",
             "crash", ((PROCESSOR, "after_publish", 2),), brokers=("kafka",), exactly_once=True,
             promise=EXACTLY_ONCE_TOPIC),
    Scenario("processor-mid-batch-eos", "processor in Kafka transactions killed mid-batch", "crash",
             ((PROCESSOR, "mid_batch", 100),), brokers=("kafka",), exactly_once=True, promise=EXACTLY_ONCE_TOPIC),
    Scenario("baseline-eos", "no fault, processor in Kafka transactions", "none", brokers=("kafka",),
             exactly_once=True, promise=EXACTLY_ONCE_TOPIC),
    Scenario("parquet-after-write", "Parquet sink killed after write, before commit", "crash",
             ((PARQUET_SINK, "after_write", 2),)),
    Scenario("csv-after-write", "CSV sink killed after write, before commit", "crash",
             ((CSV_SINK, "after_write", 1),)),
    Scenario("services-after-write", "processor and both sinks killed at their crash points", "crash",
             ((PROCESSOR, "after_publish", 5), (PARQUET_SINK, "after_write", 2), (CSV_SINK, "after_write", 1))),
    Scenario("parquet-disk-full", "Parquet sink's disk full (a small tmpfs), space freed after", "disk-full"),
    Scenario("kafka-broker-kill", "Kafka leader broker SIGKILLed, restarted", "broker-kill",
             brokers=("kafka",), nodes=3),
    Scenario("kafka-broker-pause", "Kafka leader broker SIGSTOPped, resumed", "broker-pause",
             brokers=("kafka",), nodes=3),
    Scenario("kafka-broker-partitioned", "Kafka leader broker cut off from its peers (still running), healed",
             "broker-partition", brokers=("kafka",), nodes=3),
    Scenario("kafka-disk-lost", "Kafka leader broker SIGKILLed, its disk lost, restarted (RF 3)", "broker-disk-lost",
             brokers=("kafka",), nodes=3),
    Scenario("kafka-disk-lost-rf1", "Kafka leader broker SIGKILLed, its disk lost, restarted (RF 1)",
             "broker-disk-lost", brokers=("kafka",), nodes=3, replication=1,
             promise="none: one replica cannot survive its disk"),
    Scenario("rabbit-leader-kill", "RabbitMQ node leading the processor's first shard queue SIGKILLed, restarted",
             "broker-kill", brokers=("rabbitmq",), nodes=3),
    Scenario("kafka-coordinator-moves", "Kafka group coordinators moved: reassignments and preferred-leader "
             "elections, a controlled broker restart", "moves", brokers=("kafka",), nodes=3,
             promise="no service exits; exactly once on disk"),
    Scenario("rabbit-leader-moves", "RabbitMQ quorum queue leaders transferred between nodes", "moves",
             brokers=("rabbitmq",), nodes=3, promise="no service exits; exactly once on disk"),
)}


#: streams the audit groups read back: the generator's input, and the processor's two outputs the sinks consume
AUDITED = ["telemetry", "alerts", "machine-health"]


@dataclass(frozen=True)
class ServiceCounts:
    """What the run's consuming services went through, each service counted once: exits while they should
    have run (killed at a crash point, or failed), commits retried because the coordinator moved, commits
    refused by a rebalancing group (kept for the next commit)."""

    exits: int = 0
    commit_retries: int = 0
    commits_refused: int = 0


@dataclass
class ScenarioResult:
    scenario: Scenario
    broker: str
    rows: pd.DataFrame                   # the scenario table's rows (one per sink/stream)
    timeline: pd.DataFrame               # send time → delay to disk, per bin (Parquet stream)
    events: pd.DataFrame                 # what happened when (s since start)
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    wall_s: float = 0.0
    data_dir: Path | None = None         # the run's files (Parquet, CSV, logs)
    services: ServiceCounts = field(default_factory=ServiceCounts)


@contextlib.contextmanager
def environment(env: dict[str, str]):
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _generator_acked(data_dir: Path, instance: str = "telemetry-generator") -> int:
    import json

    path = data_dir / "metrics" / f"{instance}.jsonl"
    lines = path.read_text().strip().splitlines() if path.exists() else []
    return int(json.loads(lines[-1]).get("acked", 0)) if lines else 0


def _leader_of_telemetry(bootstrap: str, namespace: str) -> int:
    from ...transport.kafka_admin import partition_rows

    for row in partition_rows(bootstrap):
        if row["topic"] == f"{namespace}.telemetry" and row["partition"] == 0 and row["leader"] >= 0:
            return int(row["leader"])
    return 2


class _Events:
    def __init__(self, start: float) -> None:
        self.start = start
        self.rows: list[dict] = []

    def mark(self, event: str, detail: str = "", at_ns: int | None = None) -> int:
        at_ns = at_ns or time.time_ns()
        self.rows.append({"t_s": round(at_ns / 1e9 - self.start, 3), "event": event, "detail": detail})
        return at_ns


def run_scenario(scenario: Scenario, broker: str, data_dir: Path, *, stack=None, env: dict[str, str] | None = None,
                 duration_s: float = 12.0, machines: int = 6, fault_at_s: float = 4.0, down_s: float = 4.0,
                 seed: int = 7, drain_timeout_s: float = 45.0,
                 session_timeout_ms: int | None = 6000, move_every_s: float = 1.0) -> ScenarioResult:
    """One bounded run of the app on `broker` with `scenario`'s fault; `stack` (a `streamlab.stack.Stack`)
    is needed for broker faults and moves, `env` (KAFKA_BOOTSTRAP / AMQP_URL...) points the services at a
    stack. `session_timeout_ms`: how long Kafka keeps a killed consumer's partitions (None: Kafka's 45 s
    default). `move_every_s`: the pause between two moves of a "moves" scenario."""
    from ...pipeline.runner import AppConfig, AppRun

    if broker not in scenario.brokers:
        raise ValueError(f"scenario {scenario.name} does not apply to {broker}")
    data_dir = Path(data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    namespace = f"f-{broker[:5]}-{uuid.uuid4().hex[:6]}"
    stamp = data_dir / "crash"
    session = {"STREAMLAB_KAFKA_SESSION_TIMEOUT_MS": str(session_timeout_ms)} if session_timeout_ms else {}
    config = AppConfig(broker=broker, machines=machines, duration_s=duration_s, seed=seed, data_dir=data_dir,
                       namespace=namespace, drain_timeout_s=drain_timeout_s,
                       archive_rotate_s=1.0,   # the harness waits for the first file and crashes at the Nth write
                       supervise=False,   # the harness's Watchdog restarts, and records why
                       extra_env={**(env or {}), **scenario.crash_env(stamp), **session})
    wall = time.monotonic()
    with environment(env or {}):
        run = AppRun(config)
        transport = run.transport
        from ...pipeline.declare import declare_app

        if scenario.replication:
            _declare_with_replication(transport, namespace, scenario.replication)
        declare_app(transport, namespace)
        audit.declare_audit(transport, namespace, AUDITED)
        events = _Events(time.time())
        fault_ns: dict[str, int] = {}
        disk = SmallDisk(data_dir / "health") if scenario.kind == "disk-full" else None
        try:
            if disk is not None:
                disk.mount()
            run.start()
            events.start = config.epoch_ns / 1e9   # the clock of the timeline: generators' start
            events.mark("generators started", at_ns=config.epoch_ns)
            with Watchdog(run, scenario, stamp, events) as watchdog:
                if scenario.kind in BROKER_FAULTS:
                    at = _break_broker(run, scenario, stack, namespace, events, fault_at_s, down_s)
                    fault_ns = {PROCESSOR: at, PARQUET_SINK: at, CSV_SINK: at}
                elif scenario.kind == "disk-full":
                    fault_ns = {PARQUET_SINK: _fill_disk(run, disk, events, fault_at_s, down_s)}
                elif scenario.kind == "moves":
                    at = _make_moves(run, stack, broker, namespace, events, fault_at_s, move_every_s)
                    fault_ns = {PROCESSOR: at, PARQUET_SINK: at, CSV_SINK: at}
                while run.generators_running():
                    time.sleep(0.2)
                events.mark("generators done")
                codes = run.stop()          # the watchdog still restarts a crash during the drain
                events.mark("app stopped (drained)")
            fault_ns.update(watchdog.crashed)
            for name, service in run.services.items():   # restarted by the watchdog after the runner stopped it
                if service.process.poll() is None:
                    events.mark(f"{name} still running after the stop", "killed by the harness")
                    service.process.kill()
                    service.process.wait()
            rows, timeline = _count(scenario, broker, transport, namespace, data_dir, config, fault_ns)
            rows.insert(rows.columns.get_loc("sent"), "faults", _injected(events.rows))
            service_counts = ServiceCounts(exits=_exits(events.rows), commit_retries=_log_lines(data_dir, RETRIED),
                                           commits_refused=_log_lines(data_dir, REFUSED))
        except BaseException:
            run.kill_all()
            raise
        finally:
            if disk is not None:
                disk.unmount()
        with contextlib.suppress(Exception):
            transport.delete_topics([f"{namespace}.{spec.name}" for spec in ALL_TOPICS])
    return ScenarioResult(scenario, broker, rows, timeline, pd.DataFrame(events.rows), codes,
                          round(time.monotonic() - wall, 1), data_dir, service_counts)


class Watchdog:
    """The harness's stand-in for a supervisor: restarts the processor or a sink whenever it has failed.

    A kill at a crash point is recorded with its stamp's time; any other non-zero exit is recorded with the
    last error line of the service's log (a crash the fault caused, which a supervisor would hide), and the
    service is restarted either way, at most `max_restarts` times each; a clean exit (0, the runner's
    SIGTERM at the end) is left alone. Runs in a thread beside the fault, through the final drain.
    """

    def __init__(self, run, scenario: Scenario, stamp: Path, events: _Events, max_restarts: int = 5) -> None:
        import threading

        self.run, self.scenario, self.stamp, self.events = run, scenario, stamp, events
        self.max_restarts = max_restarts
        self.restarts: dict[str, int] = {}
        self.crashed: dict[str, int] = {}      # service → crash-point kill time (ns)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fault-watchdog", daemon=True)

    def __enter__(self) -> Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        for service, moment, _n in self.scenario.crashes:
            if service not in self.crashed:
                self.events.mark(f"{INSTANCE[service]} crash point not reached", moment)

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            for service in (PROCESSOR, PARQUET_SINK, CSV_SINK):
                running = self.run.services.get(service)
                if running is None or running.process.poll() in (None, 0):
                    continue
                if self.restarts.get(service, 0) >= self.max_restarts:
                    continue
                self._record_exit(service, running)
                self.restarts[service] = self.restarts.get(service, 0) + 1
                self.run.restart_service(service)
                self.events.mark(f"{INSTANCE[service]} restarted")

    def _record_exit(self, service: str, running) -> None:
        moment = next((m for s, m, _n in self.scenario.crashes if s == service), None)
        stamp_file = Path(f"{self.stamp}.{INSTANCE[service]}.{moment}") if moment else None
        if stamp_file is not None and stamp_file.exists() and service not in self.crashed:
            crash_ns = int(stamp_file.read_text())
            self.crashed[service] = crash_ns
            self.events.mark(f"{INSTANCE[service]} killed", f"SIGKILL at {moment}", crash_ns)
        else:
            self.events.mark(f"{INSTANCE[service]} failed",
                             f"exit {running.process.returncode}: {_last_error(running.log_file)}")


def _break_broker(run, scenario: Scenario, stack, namespace: str, events: _Events, fault_at_s: float,
                  down_s: float) -> int:
    if stack is None:
        raise ValueError(f"scenario {scenario.name} needs the stack (streamlab.stack.Stack) to break a broker")
    broker = scenario.brokers[0]
    part = stack.part(broker)
    due = _flowing(run, events) + fault_at_s
    # the leader is looked up first (rabbitmqctl boots an Erlang VM: seconds), so the fault lands on time
    if broker == "kafka":
        node = _leader_of_telemetry(stack.endpoints.kafka_bootstrap, namespace)
    else:
        # the processor's first shard queue: a machine's telemetry and vibration, as partition 0 on Kafka
        node = _rabbit_queue_leader(part, rabbit_group_queues(GROUPS[PROCESSOR], namespace)[0])
    time.sleep(max(0.0, due - time.monotonic()))
    if scenario.kind == "broker-partition":
        fault_ns = _partition_broker(part, node, namespace, events, down_s)
    elif scenario.kind in ("broker-kill", "broker-disk-lost"):
        fault_ns = time.time_ns()
        part.kill_node(node)
        events.mark(f"broker {node} killed", "SIGKILL", fault_ns)
        if scenario.kind == "broker-disk-lost":
            wiped = _wipe_namespace_logs(part.node(node).dir / "data", namespace)
            events.mark(f"broker {node} disk lost", f"{wiped} partition folders of the run deleted")
        time.sleep(down_s)
        events.mark(f"broker {node} restarting")
        part.restart_node(node)
        events.mark(f"broker {node} back (cluster ready)")
    else:
        fault_ns = time.time_ns()
        part.pause_node(node)
        events.mark(f"broker {node} paused", "SIGSTOP", fault_ns)
        try:
            time.sleep(down_s)
        finally:
            part.resume_node(node)
        events.mark(f"broker {node} resumed", "SIGCONT")
    return fault_ns


def _partition_broker(part, node: int, namespace: str, events: _Events, down_s: float) -> int:
    """Cut Kafka node `node` off from the other nodes for `down_s` (its process and its clients' connections
    stay); meanwhile watch, as the majority sees it, who leads `telemetry` partition 0 and its ISR."""
    from .netcut import NetworkCut, Side

    cut_node = part.node(node)
    peers = [n for n in part.nodes if n.index != node]
    cut = NetworkCut(Side((part.running_pid(node),), (cut_node.port, cut_node.controller_port)),
                     Side(tuple(part.running_pid(n.index) for n in peers),
                          tuple(p for n in peers for p in (n.port, n.controller_port))), namespace[-6:])
    majority = ",".join(f"127.0.0.1:{n.port}" for n in peers)
    topic = f"{namespace}.telemetry"
    fault_ns = time.time_ns()
    with cut:
        events.mark(f"broker {node} cut off from its peers",
                    f"iptables on their ports, {cut.aborted} open node-to-node connections aborted", fault_ns)
        seen = None
        until = time.monotonic() + down_s
        while time.monotonic() < until:
            view = _majority_view(majority, topic, node)
            if view is not None and view[:2] != seen:
                events.mark("telemetry/0 as the majority sees it",
                            f"leader {view[0]}, ISR {list(view[1])} ({_answered_by(view[2])})")
                seen = view[:2]
            time.sleep(0.5)
    events.mark(f"broker {node} reconnected (partition healed)")
    return fault_ns


def _majority_view(majority: str, topic: str, cut_node: int) -> tuple[Any, tuple, Any] | None:
    """(leader, ISR, answering broker) of `topic` partition 0; None when the cut-off node answered.

    A client reaches every node, the cut-off one included, whatever it was bootstrapped with: the cut-off
    node still serves its last (stale) metadata, in which it leads with the full ISR, so its answers are
    not the majority's view. A bootstrap address (id -1) is one of the majority's."""
    from ...transport.kafka_admin import metadata

    try:
        meta = metadata(majority, topic)
        part = meta.topics[topic].partitions[0]
    except Exception as exc:   # noqa: BLE001 -- a watch, not the fault: note it and go on
        return None, (type(exc).__name__,), None
    if meta.orig_broker_id == cut_node:
        return None
    return part.leader, tuple(sorted(part.isrs)), meta.orig_broker_id


def _answered_by(broker_id: int | None) -> str:
    if broker_id is None:
        return "no answer"
    return f"answered by broker {broker_id}" if broker_id >= 0 else "answered by a bootstrap address"


def _declare_with_replication(transport, namespace: str, replication: int) -> None:
    """Create the run's topics with another replication factor before `declare_app` (which keeps what exists)."""
    specs = []
    for spec in ALL_TOPICS:
        config = dict(spec.config)
        if "min.insync.replicas" in config:
            config["min.insync.replicas"] = str(min(int(config["min.insync.replicas"]), replication))
        specs.append(replace(spec, name=f"{namespace}.{spec.name}", replication=replication, config=config))
    transport.ensure_topics(specs)


def _wipe_namespace_logs(log_dir: Path, namespace: str) -> int:
    """Delete a (killed) Kafka broker's partition folders of this run only: its disk, as far as the run goes."""
    folders = [p for p in log_dir.glob(f"{namespace}.*") if p.is_dir()]
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    return len(folders)


def _flowing(run, events: _Events, timeout_s: float = 30.0) -> float:
    """Wait until the first Parquet file is on disk (the pipeline runs end to end); returns then (monotonic).

    Faults are timed from here, not from the start, so that on a loaded machine, where the services take
    seconds to start, a fault still lands on a pipeline that has data in flight."""
    deadline = time.monotonic() + timeout_s
    health = run.config.data_dir / "health"
    while time.monotonic() < deadline and not any(health.rglob("*.parquet")):
        time.sleep(0.1)
    events.mark("first Parquet file on disk")
    return time.monotonic()


def _rabbit_queue_leader(part, queue: str) -> int:
    """The index of the RabbitMQ node leading a quorum queue (`rabbitmqctl list_queues name leader`)."""
    answer = part.ctl(part.node(1), "list_queues", "-q", "--no-table-headers", "name", "leader")
    for line in answer.stdout.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0] == queue:
            return int(fields[1].split("@")[0].rsplit("-", 1)[-1])
    raise RuntimeError(f"queue {queue} not found on the cluster: {answer.stdout[-300:]} {answer.stderr[-300:]}")


class SmallDisk:
    """A small tmpfs mounted over one folder (root only), to fill it on purpose; unmounted after the run."""

    def __init__(self, folder: Path, size_mb: int = 32) -> None:
        self.folder = folder
        self.size_mb = size_mb
        self.filler = folder / "filler.bin"
        self.mounted = False

    def mount(self) -> None:
        import subprocess

        self.folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m", "tmpfs", str(self.folder)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"cannot mount a tmpfs on {self.folder} (root needed): {done.stderr.strip()}")
        self.mounted = True

    def fill(self) -> int:
        """Write zeros until the disk is full; returns the bytes written."""
        written = 0
        chunk = b"\0" * (1 << 20)
        with open(self.filler, "wb", buffering=0) as handle:
            try:
                while True:
                    written += handle.write(chunk)
            except OSError:
                pass
        return written

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        import subprocess

        if self.mounted:
            subprocess.run(["umount", str(self.folder)], capture_output=True)
            self.mounted = False


def _last_error(log_file: Path) -> str:
    lines = [line for line in log_file.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "error" in line]
    return (errors or lines or ["no output"])[-1].strip()[:200]


def _fill_disk(run, disk: SmallDisk, events: _Events, fault_at_s: float, down_s: float) -> int:
    """Fill the Parquet sink's disk and free it `down_s` later (the watchdog restarts the sink if it dies)."""
    time.sleep(max(0.0, _flowing(run, events) + fault_at_s - time.monotonic()))
    fault_ns = events.mark("Parquet sink's disk filled", f"{disk.fill() / 2**20:.0f} MiB of zeros")
    time.sleep(down_s)
    disk.free()
    events.mark("space freed")
    return fault_ns


FAULT_EVENTS = ("killed", "paused", "disk filled", "cut off from its peers", "leader moved", "stopped and started",
                "preferred leader elected")

# a lost disk comes with its kill: one fault
BROKER_FAULTS = ("broker-kill", "broker-pause", "broker-disk-lost", "broker-partition")


def _injected(rows: list[dict]) -> int:
    """How many faults really happened (a crash point the run never reached does not count)."""
    return sum(1 for row in rows if row["event"].endswith(FAULT_EVENTS))


def _log_lines(data_dir: Path, phrase: str) -> int:
    """Lines of the consuming services' logs (every restart appends to the same file) that hold `phrase`."""
    files = [data_dir / "logs" / f"{service}.log" for service in INSTANCE]
    return sum(1 for path in files if path.exists()
               for line in path.read_text(errors="replace").splitlines() if phrase in line)


def _exits(rows: list[dict]) -> int:
    """How often a consuming service exited while it should have run: killed at a crash point, or failed
    (the watchdog's events)."""
    return sum(1 for row in rows for instance in INSTANCE.values()
               if row["event"] in (f"{instance} killed", f"{instance} failed"))


def _make_moves(run, stack, broker: str, namespace: str, events: _Events, fault_at_s: float,
                move_every_s: float) -> int:
    """The moves of a "moves" scenario, `move_every_s` apart; returns when the first was made (ns).

    Kafka: every group's coordinator moved twice, a controlled restart of the processor's coordinator, every
    partition's preferred leader elected (what the controller's periodic rebalance does: the move that
    crashed chapter 01), the coordinators moved twice more. RabbitMQ: every quorum queue's leader moved to
    the next node, four times (a round of the 3-node cluster and one more)."""
    from ...pipeline.wiring import consumer_groups
    from .moves import KafkaCoordinatorMoves, RabbitLeaderMoves

    if stack is None:
        raise ValueError("a moves scenario needs the stack (streamlab.stack.Stack) to move leaders")
    part = stack.part(broker)
    time.sleep(max(0.0, _flowing(run, events) + fault_at_s - time.monotonic()))
    first_ns = time.time_ns()
    if broker == "kafka":
        kafka = KafkaCoordinatorMoves(stack.endpoints.kafka_bootstrap, list(consumer_groups(namespace)))
        steps = [kafka.move_coordinators, kafka.move_coordinators, lambda: [kafka.restart_coordinator(part)],
                 lambda: [kafka.elect_all_preferred()], kafka.move_coordinators, kafka.move_coordinators]
    else:
        rabbit = RabbitLeaderMoves(part, f"{namespace}.")
        steps = [rabbit.move_leaders] * 4
    for i, step in enumerate(steps):
        if i:
            time.sleep(move_every_s)
        for move in step():
            events.mark(_move_event(move), f"{move.before} → {move.after} ({move.took_s:.2f} s)")
    return first_ns


def _move_event(move) -> str:
    if move.kind == "broker restart":
        return f"{move.target} stopped and started"
    if move.kind == "all partitions election":
        return "every partition's preferred leader elected"
    return f"{move.target} leader moved"


def _first_fault(fault_ns: dict[str, int], services: tuple[str, ...]) -> int | None:
    """The earliest fault on a stream's path (the processor's or its sink's), None if none happened there."""
    times = [fault_ns[s] for s in services if s in fault_ns]
    return min(times) if times else None


def _count(scenario: Scenario, broker: str, transport, namespace: str, data_dir: Path, config,
           fault_ns: dict[str, int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    health = load_health(data_dir / "health")
    telemetry = audit.read_back(transport, namespace, "telemetry", config.codec, ["machine_id", "seq", "ts_ns"])
    alerts_held = audit.read_back(transport, namespace, "alerts", config.codec, ALERT_KEY)
    health_held = audit.read_back(transport, namespace, "machine-health", config.codec, ["machine_id", "seq"])
    csv_path = data_dir / "alerts" / "alerts.csv"
    alerts_disk = pd.read_csv(csv_path) if csv_path.exists() else pd.DataFrame(
        columns=[*ALERT_KEY, "seq", "sink_received_ns", "sink_ts_ns"])
    middle = config.epoch_ns + int(config.duration_s / 2 * 1e9)   # no fault: the baseline delay at mid-run
    parquet_fault = _first_fault(fault_ns, (PROCESSOR, PARQUET_SINK))
    csv_fault = _first_fault(fault_ns, (PROCESSOR, CSV_SINK))
    parquet = ledger.count_stage(_generator_acked(data_dir), telemetry, health, ["machine_id", "seq"],
                                 "sink_received_ns", "seq", parquet_fault or middle)
    csv = ledger.count_stage(len(ledger.distinct_keys(alerts_held, ALERT_KEY)), alerts_held, alerts_disk, ALERT_KEY,
                             "sink_received_ns", "source_ts_ns", csv_fault or middle)
    rows = []
    for sink, stream, count, fault, folder, output in (
            ("Parquet", "telemetry → health", parquet, parquet_fault, "health", health_held),
            ("CSV", "alerts", csv, csv_fault, "alerts", alerts_held)):
        temp_files = sum(1 for _ in (data_dir / folder).rglob(".*.tmp"))   # a write that never completed
        rows.append({"scenario": scenario.label, "scenario_id": scenario.name, "broker": broker, "sink": sink,
                     "stream": stream, **count.as_dict(),
                     # the processor's output topic as a read_committed consumer sees it (before the sinks' dedup)
                     "topic_duplicated": ledger.duplicates(output, list(output.columns)),
                     "fault_on_path": fault is not None,
                     "temp_files_left": temp_files, "promise": scenario.promise})
    return pd.DataFrame(rows), ledger.durable_timeline(health, config.epoch_ns)


@dataclass(frozen=True)
class Planned:
    scenario: Scenario
    broker: str
    session_timeout_ms: int | None


def plan(names: Sequence[str], kafka_nodes: int, session_timeout_ms: int | None = 6000,
         compare_default_session: Sequence[str] = (), rabbit_nodes: int = 1) -> tuple[list[Planned], list[str]]:
    """The runs for the named scenarios on every broker they apply to, and why any were left out.

    `compare_default_session`: scenarios also run on Kafka with Kafka's default session timeout (45 s), to show
    what the shorter one buys after a consumer crash."""
    runs, skipped = [], []
    for entry in names:
        name, _, only = entry.partition("@")      # "parquet-disk-full@rabbitmq": on that broker only
        scenario = SCENARIOS[name]
        have = kafka_nodes if scenario.brokers == ("kafka",) else rabbit_nodes if scenario.brokers == ("rabbitmq",) \
            else min(kafka_nodes, rabbit_nodes)
        if scenario.nodes > have:
            broker = "Kafka brokers" if scenario.brokers == ("kafka",) else "RabbitMQ nodes"
            skipped.append(f"{scenario.label}: needs {scenario.nodes} {broker}, the stack has {have}")
            continue
        if scenario.kind == "disk-full" and os.geteuid() != 0:
            skipped.append(f"{scenario.label}: mounting a tmpfs needs root")
            continue
        if scenario.kind == "broker-partition":
            from .netcut import unavailable

            if (reason := unavailable()) is not None:
                skipped.append(f"{scenario.label}: {reason}")
                continue
        runs += [Planned(scenario, broker, session_timeout_ms) for broker in scenario.brokers
                 if not only or broker == only]
    for name in compare_default_session:
        base = SCENARIOS[name]
        slow = replace(base, name=f"{base.name}-default-session", label=f"{base.label} (session timeout 45 s)",
                       brokers=("kafka",))
        runs.append(Planned(slow, "kafka", None))
    return runs, skipped


def run_plan(runs: Sequence[Planned], data_root: Path, stack=None, progress: bool = True,
             **options) -> list[ScenarioResult]:
    """Each planned run in turn (a tqdm bar), its files under `data_root/<scenario>-<broker>/`."""
    from tqdm.auto import tqdm

    results = []
    for planned in tqdm(runs, desc="fault scenarios", disable=not progress):
        results.append(run_scenario(planned.scenario, planned.broker,
                                    Path(data_root) / f"{planned.scenario.name}-{planned.broker}", stack=stack,
                                    session_timeout_ms=planned.session_timeout_ms, **options))
    return results


def run_moves(stack, data_root: Path, **options) -> tuple[list[ScenarioResult], list[str]]:
    """Both "moves" scenarios, and why either was left out: Kafka's on the stack (it needs 3 brokers),
    RabbitMQ's on the stack's cluster or, where the stack runs one node (the book's default), on a private
    3-node cluster beside it (`streamlab.stack.private_rabbit_cluster`), started and stopped here."""
    from ...stack import private_rabbit_cluster

    results, skipped = [], []
    kafka_nodes = stack.config.brokers if "kafka" in stack.parts else 0
    if kafka_nodes >= 3:
        results.append(run_scenario(SCENARIOS["kafka-coordinator-moves"], "kafka",
                                    Path(data_root) / "kafka-coordinator-moves-kafka", stack=stack, **options))
    else:
        skipped.append(f"{SCENARIOS['kafka-coordinator-moves'].label}: needs 3 Kafka brokers, the stack has "
                       f"{kafka_nodes}")
    if "rabbitmq" not in stack.parts or stack.config.stack != "local":
        skipped.append(f"{SCENARIOS['rabbit-leader-moves'].label}: needs a local RabbitMQ stack")
        return results, skipped
    with contextlib.ExitStack() as cleanup:
        cluster = stack if stack.config.rabbit_nodes >= 3 else cleanup.enter_context(private_rabbit_cluster(3))
        results.append(run_scenario(SCENARIOS["rabbit-leader-moves"], "rabbitmq",
                                    Path(data_root) / "rabbit-leader-moves-rabbitmq", stack=cluster,
                                    env=cluster.service_env("rabbitmq"),
                                    **options))
    return results, skipped
