"""Run the whole pipeline as local processes: sinks, processor, then generators; stop in reverse.

Order matters both ways. Consumers start first so nothing waits unread at
start (on RabbitMQ it would not even wait: a message published before its
group's queue exists is dropped); at the end generators stop first, then each
stage is stopped only once it has drained what the stage before produced (its
group's backlog is zero), so a bounded run ends with every record on disk.

Broker-neutral: the runner asks the transport (`group_members`,
`group_backlog`), which reads Kafka's consumer-group lag or RabbitMQ's queue
depths. Neither is exact while consumers run (Kafka: records fetched but not
polled; RabbitMQ: deliveries not yet acked, invisible to AMQP), but both are
exact once a stage's consumers have gone; so after stopping a stage the runner
checks again and restarts the stage if anything was left.

A supervisor restarts a service that crashed (non-zero exit), after a backoff
that doubles with each restart of that service, and logs why (exit code and the
last line of its log); `restarts` counts them per service. It runs on a thread
of the run's own from `start()` to the end of `stop()`, so it works whatever
the caller does meanwhile: it used to run only inside the runner's own wait
loops, and a chapter that slept through its run left two crashed services down
(issue 36). A service that keeps crashing is given up after `max_restarts`: the
next call of any watching method raises the one-line error (compose's
`restart: on-failure` would keep trying forever).

`processors` instances of the processor share its group (`health_processor`,
`health_processor-2`, ...: the keys of `services`; their `--instance` names
`health-processor`, `health-processor-2`, ... name their logs and metrics). The
group is co-partitioned (`wiring.CO_PARTITIONED_GROUPS`), so each machine's
telemetry and vibration reach one instance, whichever instance dies.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import UserError
from ..paths import APP_DATA_DIR
from ..stack import procs
from .declare import app_transport, declare_app
from .wiring import GENERATORS, GROUPS, PROCESSOR, SINKS, consumer_groups

log = logging.getLogger("streamlab.runner")


@dataclass
class AppConfig:
    broker: str = "kafka"
    client: str = ""                  # "" = the broker's default client (confluent for Kafka, pika for RabbitMQ)
    codec: str = "orjson"
    machines: int = 20
    rate_hz: float = 10.0
    vibration_hz: float = 1.0
    duration_s: float = 60.0
    seed: int = 7
    data_dir: Path = APP_DATA_DIR
    namespace: str = ""
    drain_timeout_s: float = 60.0
    supervise: bool = True            # False: the caller restarts crashed services itself (a fault harness)
    max_restarts: int = 5             # per service; the supervisor gives up after that many crashes
    restart_backoff_s: float = 0.5    # before the first restart of a service; doubles each time, up to 30 s
    epoch_ns: int = 0                 # start of simulated time, shared by both generators (set by start())
    processors: int = 1               # processor instances in its one group (co-partitioned)
    #: the Parquet sink's rotate interval (s); None: its default of minutes (`services.sink_loop`). A run that
    #: measures the archive's latency or waits for its first file passes a short one (the book's runs: 1 s)
    archive_rotate_s: float | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from ..transport import KAFKA_CLIENTS, default_client

        # A Kafka client named for RabbitMQ is the CLI's Kafka-only default, not a choice: use RabbitMQ's.
        if not self.client or (self.broker != "kafka" and self.client in KAFKA_CLIENTS):
            self.client = default_client(self.broker)

    def service_args(self, service: str) -> list[str]:
        args = ["--broker", self.broker, "--client", self.client, "--codec", self.codec,
                "--data-dir", str(self.data_dir), "--namespace", self.namespace]
        if service in GENERATORS:
            args += ["--machines", str(self.machines), "--seed", str(self.seed), "--duration", str(self.duration_s)]
            args += ["--rate", str(self.rate_hz if service == "telemetry_generator" else self.vibration_hz),
                     "--epoch-ns", str(self.epoch_ns)]
        if service == "health_parquet_sink" and self.archive_rotate_s is not None:
            args += ["--flush-interval", str(self.archive_rotate_s)]
        return args


@dataclass
class RunningService:
    name: str
    process: subprocess.Popen
    log_file: Path
    supervised: bool = True           # False once a caller stops or signals it on purpose


@dataclass
class Restart:
    """One restart by the supervisor, and why."""

    service: str
    exit_code: int
    last_line: str
    backoff_s: float
    at: float


class AppRun:
    """A started pipeline: its processes, its run file, and how to stop it cleanly."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.services: dict[str, RunningService] = {}
        self.run_file = config.data_dir / "run.json"
        self.started_at = 0.0
        self.drain_restarts: dict[str, int] = {}   # services restarted because they stopped with a backlog
        self.restarts: dict[str, int] = {}         # services restarted by the supervisor after a crash
        self.restart_events: list[Restart] = []
        self._restart_due: dict[str, float] = {}   # crashed service → monotonic time of its restart
        self._transport = None
        # The supervisor thread and the caller's thread both spawn and stop services: one lock for that state.
        self._lock = threading.RLock()
        self._supervisor: threading.Thread | None = None
        self._supervisor_stop = threading.Event()
        self.failure: UserError | None = None      # set when the supervisor gave a service up

    @property
    def transport(self):
        if self._transport is None:
            self._transport = app_transport(self.config.broker, self.config.client)
        return self._transport

    @property
    def processor_keys(self) -> tuple[str, ...]:
        """The keys of the processor's instances in `services`: `health_processor`, `health_processor-2`, ..."""
        return (PROCESSOR, *(f"{PROCESSOR}-{i}" for i in range(2, self.config.processors + 1)))

    def command(self, key: str) -> list[str]:
        service = service_of(key)
        instance = ["--instance", key.replace("_", "-")] if key != service else []
        return [sys.executable, "-m", f"streamlab.services.{service}", *self.config.service_args(service), *instance]

    def _spawn(self, service: str) -> None:
        log_file = self.config.data_dir / "logs" / f"{service}.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.config.extra_env, "PYTHONUNBUFFERED": "1"}
        with self._lock, open(log_file, "ab") as out:
            process = subprocess.Popen(self.command(service), stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, env=env, start_new_session=True)
            self.services[service] = RunningService(service, process, log_file)

    def _write_run_file(self) -> None:
        info = {"config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self.config).items()},
                "started_at": self.started_at,
                "pids": {name: s.process.pid for name, s in self.services.items()}}
        self.run_file.write_text(json.dumps(info, indent=2))

    def start(self) -> None:
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        declare_app(self.transport, self.config.namespace)
        self.started_at = time.time()
        for service in (*SINKS, *self.processor_keys):
            self._spawn(service)
        self._wait_for_groups([GROUPS[s] for s in (*SINKS, PROCESSOR)])
        self.config.epoch_ns = time.time_ns()
        for service in GENERATORS:
            self._spawn(service)
        self._write_run_file()
        self.start_supervisor()

    def start_supervisor(self, interval_s: float = 0.5) -> None:
        """Supervise from a thread of the run's own until `stop()` or `kill_all()` (no-op without `supervise`)."""
        if not self.config.supervise or self._supervisor is not None:
            return
        self._supervisor_stop.clear()
        self._supervisor = threading.Thread(target=self._supervise_until_stopped, args=(interval_s,),
                                            name="streamlab-supervisor", daemon=True)
        self._supervisor.start()

    def stop_supervisor(self) -> None:
        thread, self._supervisor = self._supervisor, None
        if thread is not None:
            self._supervisor_stop.set()
            thread.join()

    def _supervise_until_stopped(self, interval_s: float) -> None:
        while not self._supervisor_stop.wait(interval_s):
            try:
                self.supervise()
            except UserError as exc:   # kept in `failure`: the caller's next watching call raises it
                log.error("%s", exc)
                return

    def _wait_for_groups(self, groups: list[str], timeout: float = 60.0) -> None:
        """Generators start once every consumer receives (Kafka: has its partitions; RabbitMQ: consumes from
        its bound queue), so the first records are neither a backlog nor, on RabbitMQ, dropped."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            if all(self.group_members(group) > 0 for group in groups):
                return
            time.sleep(0.5)
        raise UserError(
            f"consumers did not join their groups within {timeout:.0f}s; see {self.config.data_dir / 'logs'}"
        )

    def supervise(self) -> None:
        """Restart each crashed service once its backoff has passed; a UserError once one crashed too often.

        Called by the run's supervisor thread, and by every loop that watches a run (`wait_for_generators`,
        `watch_app`, ...), which so also raises the supervisor's failure. A service a caller stopped or
        signalled on purpose is left alone until restarted.
        """
        if self.failure is not None:
            raise self.failure
        if not self.config.supervise:
            return
        with self._lock:
            self._supervise_once()

    def _supervise_once(self) -> None:
        now = time.monotonic()
        for service in list(self.services.values()):
            code = service.process.poll()
            if code in (None, 0) or not service.supervised:
                continue
            name = service.name
            if name not in self._restart_due:
                last = _last_line(service.log_file)
                count = self.restarts.get(name, 0)
                if count >= self.config.max_restarts:
                    self.failure = UserError(f"{name} exited with code {code} after {count} restart(s): {last}")
                    raise self.failure
                backoff = min(30.0, self.config.restart_backoff_s * 2 ** count)
                self._restart_due[name] = now + backoff
                self.restart_events.append(Restart(name, code, last, backoff, time.time()))
                log.warning("%s exited with code %s (%s); restarting in %.1f s", name, code, last, backoff)
            if now >= self._restart_due[name]:
                del self._restart_due[name]
                self.restarts[name] = self.restarts.get(name, 0) + 1
                self._spawn(name)
                self._write_run_file()

    _check_alive = supervise   # the name its callers used before the supervisor existed

    def _group(self, name: str) -> str:
        return f"{self.config.namespace}.{name}" if self.config.namespace else name

    def _topics(self, group: str) -> list[str]:
        return consumer_groups(self.config.namespace)[self._group(group)]

    def group_members(self, group: str) -> int:
        return self.transport.group_members(self._group(group), self._topics(group))

    def group_backlog(self, group: str) -> int | None:
        """What the group has not yet committed: Kafka lag, RabbitMQ ready messages."""
        return self.transport.group_backlog(self._group(group), self._topics(group))

    group_lag = group_backlog   # the name from the Kafka-only days

    def generators_running(self) -> bool:
        return any(self.services[g].process.poll() is None for g in GENERATORS if g in self.services)

    def wait_for_generators(self, poll_s: float = 0.5) -> None:
        """Block until the generators have sent everything (their --duration), failing at once if any
        service dies on the way."""
        while self.generators_running():
            self._check_alive()
            time.sleep(poll_s)

    def _stop(self, service: str, timeout: float = 30.0) -> int | None:
        with self._lock:
            running = self.services.get(service)
            if running is None:
                return None
            running.supervised = False
            self._restart_due.pop(service, None)
            if running.process.poll() is None:
                running.process.send_signal(signal.SIGTERM)
        try:
            return running.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            running.process.kill()
            return running.process.wait()

    def _drain(self, groups: list[str]) -> bool:
        """Until every group's backlog reads zero twice in a row (True) or the drain timeout passes (False)."""
        deadline = time.monotonic() + self.config.drain_timeout_s
        zero_before = False
        while time.monotonic() < deadline:
            zero = all(self.group_backlog(group) == 0 for group in groups)
            if zero and zero_before:
                return True
            zero_before = zero
            time.sleep(0.5)
        return False

    def _backlog_after_stop(self, group: str, timeout: float = 5.0) -> int:
        """The backlog once the group has no consumers left, when it is exact (nothing fetched or unacked).

        RabbitMQ drops a consumer the moment its connection closes; Kafka keeps a killed member until its
        session times out, but reports committed offsets all along, so the wait is short either way."""
        deadline = time.monotonic() + timeout
        while self.group_members(group) > 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        return self.group_backlog(group) or 0

    def _stop_stage(self, services: tuple[str, ...], codes: dict[str, int | None], attempts: int = 3) -> None:
        """Drain, stop, verify; a service that left a backlog behind is started again to finish it."""
        todo = list(services)
        for attempt in range(attempts):
            drained = self._drain(list(dict.fromkeys(GROUPS[service_of(s)] for s in todo)))
            for service in todo:
                code = self._stop(service)
                codes[service] = code if codes.get(service) in (None, 0) else codes[service]
            if not drained or attempt == attempts - 1:
                return   # a stage that did not drain while running would not drain after a restart either
            left = [s for s in todo if codes[s] == 0 and self._backlog_after_stop(GROUPS[service_of(s)]) > 0]
            if not left:
                return
            for service in left:
                self.drain_restarts[service] = self.drain_restarts.get(service, 0) + 1
                self.restart_service(service)
            self._wait_for_groups(list(dict.fromkeys(GROUPS[service_of(s)] for s in left)))
            todo = left

    def stop(self) -> dict[str, int | None]:
        """Generators first; then the processor, then the sinks, each once its backlog is zero. Exit codes."""
        codes: dict[str, int | None] = {}
        for service in GENERATORS:
            codes[service] = self._stop(service)
        self._stop_stage(tuple(key for key in self.processor_keys if key in self.services), codes)
        self._stop_stage(SINKS, codes)
        self.stop_supervisor()
        return codes

    def signal_service(self, service: str, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send one service a signal and wait for it to exit (failure experiments and tests)."""
        with self._lock:
            running = self.services[service]
            running.supervised = False   # the caller decides whether and when it comes back (restart_service)
            self._restart_due.pop(service, None)
            running.process.send_signal(sig)
        return running.process.wait(timeout=timeout)

    def restart_service(self, service: str) -> None:
        self._spawn(service)
        self._write_run_file()

    def kill_all(self) -> None:
        self.stop_supervisor()
        with self._lock:
            for service in self.services.values():
                service.supervised = False
                if service.process.poll() is None:
                    service.process.kill()
                    service.process.wait()


def service_of(key: str) -> str:
    """The service an instance key runs: `health_processor-2` → `health_processor` (service names have no '-')."""
    return key.partition("-")[0]


def instance_service(instance: str) -> str:
    """The service an instance name (its metrics and logs) belongs to: `health-processor-2` →
    `health-processor`; a name without an instance number is its service's. Instances 2..N of a service
    write metrics files of their own, and whatever counts a service counts all of them."""
    stem, _, number = instance.rpartition("-")
    return stem if stem and number.isdigit() else instance


def _last_line(log_file: Path) -> str:
    """The last non-empty line a service wrote (its error, usually), shortened for one log line."""
    try:
        with open(log_file, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - 4096))
            lines = handle.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "no output"


def stop_recorded_run(data_dir: Path) -> list[str]:
    """`make app-stop`: SIGTERM the processes a run file names, if they are still ours."""
    run_file = data_dir / "run.json"
    if not run_file.exists():
        raise UserError(f"no running app recorded in {run_file}: nothing to stop")
    info = json.loads(run_file.read_text())
    stopped = []
    processors = [key for key in info["pids"] if service_of(key) == PROCESSOR]
    order = [*GENERATORS, *processors, *SINKS]
    for name in order:
        pid = info["pids"].get(name)
        module = f"streamlab.services.{service_of(name)}"
        if pid and procs.pid_is_ours(pid, module):
            procs.stop_pid(pid, module, timeout=30)
            stopped.append(name)
    return stopped
