"""Run the whole pipeline as local processes: sinks, processor, then generators; stop in reverse.

Order matters both ways. Consumers start first so nothing waits unread at
start; at the end generators stop first, then each stage is stopped only once
it has drained what the stage before produced (its consumer-group lag is
zero), so a bounded run ends with every record on disk.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .stack import REPO_ROOT, StackError
from .stack import procs

GENERATORS = ("telemetry_generator", "vibration_generator")
PROCESSOR = "health_processor"
SINKS = ("health_parquet_sink", "alert_csv_sink")
GROUPS = {PROCESSOR: "health-processor", "health_parquet_sink": "health-parquet-sink",
          "alert_csv_sink": "alert-csv-sink"}


@dataclass
class AppConfig:
    broker: str = "kafka"
    client: str = "confluent"
    codec: str = "orjson"
    machines: int = 20
    rate_hz: float = 10.0
    vibration_hz: float = 1.0
    duration_s: float = 60.0
    seed: int = 7
    data_dir: Path = REPO_ROOT / "data" / "app"
    namespace: str = ""
    drain_timeout_s: float = 60.0
    epoch_ns: int = 0                 # start of simulated time, shared by both generators (set by start())
    extra_env: dict[str, str] = field(default_factory=dict)

    def service_args(self, service: str) -> list[str]:
        args = ["--broker", self.broker, "--client", self.client, "--codec", self.codec,
                "--data-dir", str(self.data_dir), "--namespace", self.namespace]
        if service in GENERATORS:
            args += ["--machines", str(self.machines), "--seed", str(self.seed), "--duration", str(self.duration_s)]
            args += ["--rate", str(self.rate_hz if service == "telemetry_generator" else self.vibration_hz),
                     "--epoch-ns", str(self.epoch_ns)]
        return args


@dataclass
class RunningService:
    name: str
    process: subprocess.Popen
    log_file: Path


class AppRun:
    """A started pipeline: its processes, its run file, and how to stop it cleanly."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.services: dict[str, RunningService] = {}
        self.run_file = config.data_dir / "run.json"
        self.started_at = 0.0

    def _spawn(self, service: str) -> None:
        log_file = self.config.data_dir / "logs" / f"{service}.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.config.extra_env, "PYTHONUNBUFFERED": "1"}
        with open(log_file, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", f"streamlab.services.{service}", *self.config.service_args(service)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        self.services[service] = RunningService(service, process, log_file)

    def _write_run_file(self) -> None:
        info = {"config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self.config).items()},
                "started_at": self.started_at,
                "pids": {name: s.process.pid for name, s in self.services.items()}}
        self.run_file.write_text(json.dumps(info, indent=2))

    def start(self) -> None:
        from .services.common import ensure_app_topics
        from .transport import get_transport

        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        ensure_app_topics(get_transport(self.config.broker, self.config.client), self.config.namespace)
        self.started_at = time.time()
        for service in (*SINKS, PROCESSOR):
            self._spawn(service)
        self._wait_for_groups()
        self.config.epoch_ns = time.time_ns()
        for service in GENERATORS:
            self._spawn(service)
        self._write_run_file()

    def _wait_for_groups(self, timeout: float = 60.0) -> None:
        """Generators start once every consumer has its partitions, so the first records are not a backlog."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            if all(self.group_members(GROUPS[s]) > 0 for s in (*SINKS, PROCESSOR)):
                return
            time.sleep(0.5)
        raise StackError(f"consumers did not join their groups within {timeout:.0f}s; see {self.config.data_dir / 'logs'}")

    def _check_alive(self) -> None:
        for service in self.services.values():
            code = service.process.poll()
            if code not in (None, 0):
                tail = service.log_file.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
                raise StackError(f"{service.name} exited with code {code}: {tail[0][:300]}")

    def _group(self, name: str) -> str:
        return f"{self.config.namespace}.{name}" if self.config.namespace else name

    def group_members(self, group: str) -> int:
        frame = self._groups()
        rows = frame[frame["group"] == self._group(group)]
        return int(rows["members"].max()) if not rows.empty else 0

    def group_lag(self, group: str) -> int | None:
        frame = self._groups()
        rows = frame[frame["group"] == self._group(group)]
        if rows.empty or rows["lag"].isna().any():
            return None
        return int(rows["lag"].sum())

    def _groups(self):
        from .explorer import describe_groups
        from .stack import endpoints

        return describe_groups(endpoints().kafka_bootstrap)

    def generators_running(self) -> bool:
        return any(self.services[g].process.poll() is None for g in GENERATORS if g in self.services)

    def _stop(self, service: str, timeout: float = 30.0) -> int | None:
        running = self.services.get(service)
        if running is None:
            return None
        if running.process.poll() is None:
            running.process.send_signal(signal.SIGTERM)
        try:
            return running.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            running.process.kill()
            return running.process.wait()

    def _drain(self, group: str) -> None:
        deadline = time.monotonic() + self.config.drain_timeout_s
        while time.monotonic() < deadline:
            if self.group_lag(group) == 0:
                return
            time.sleep(0.5)

    def stop(self) -> dict[str, int | None]:
        """Generators first; then each consumer once its lag is zero. Returns exit codes."""
        codes: dict[str, int | None] = {}
        for service in GENERATORS:
            codes[service] = self._stop(service)
        self._drain(GROUPS[PROCESSOR])
        codes[PROCESSOR] = self._stop(PROCESSOR)
        for sink in SINKS:
            self._drain(GROUPS[sink])
            codes[sink] = self._stop(sink)
        return codes

    def signal_service(self, service: str, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send one service a signal and wait for it to exit (failure experiments and tests)."""
        running = self.services[service]
        running.process.send_signal(sig)
        return running.process.wait(timeout=timeout)

    def restart_service(self, service: str) -> None:
        self._spawn(service)
        self._write_run_file()

    def kill_all(self) -> None:
        for service in self.services.values():
            if service.process.poll() is None:
                service.process.kill()
                service.process.wait()


def stop_recorded_run(data_dir: Path) -> list[str]:
    """`make app-stop`: SIGTERM the processes a run file names, if they are still ours."""
    run_file = data_dir / "run.json"
    if not run_file.exists():
        raise StackError(f"no running app recorded in {run_file}: nothing to stop")
    info = json.loads(run_file.read_text())
    stopped = []
    order = [*GENERATORS, PROCESSOR, *SINKS]
    for name in order:
        pid = info["pids"].get(name)
        if pid and procs.pid_is_ours(pid, f"streamlab.services.{name}"):
            procs.stop_pid(pid, f"streamlab.services.{name}", timeout=30)
            stopped.append(name)
    return stopped
