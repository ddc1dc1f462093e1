"""Kafka's own Java tools behind the driver interface: the reference for every ratio.

`kafka-perf-test` runs `org.apache.kafka.tools.ProducerPerformance`
(kafka-producer-perf-test) with the workload's producer settings, then
`ConsumerPerformance` (kafka-consumer-perf-test) over everything that was
written, from the jars `make setup` fetched, with `java`.

ProducerPerformance takes a record count, not a duration, and prints a line
every 5 s. At max rate the driver gives it an unreachable count and stops it
(SIGTERM) once it has printed the warm-up windows plus the measured windows, and
reports the measured windows only: warm-up and duration are rounded up to whole
5 s windows (the rows record the seconds actually measured). At a fixed rate
the count is rate × (warm-up + duration) and the tool ends by itself, printing
the send→ack latency percentiles of the whole run (whole milliseconds).

`kafka-e2e-latency` runs `org.apache.kafka.tools.EndToEndLatency`: one record at a
time, sent synchronously and polled back, so it measures end-to-end latency at
the lowest possible load; it prints whole-millisecond (floored) percentiles.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from ...errors import UserError
from ...measure.latency import LatencySummary
from ...stack.config import StackConfig
from ...transport.kafka_admin import delete_topics, message_count
from ..workload import Workload
from .base import Driver, DriverError, Progress, bench_name, create_topic
from .processes import share
from .results import RoleResult, RunResult

WINDOW_S = 5.0                    # ProducerPerformance's fixed reporting interval
LOG4J2_QUIET = """\
status = error
appender.console.type = Console
appender.console.name = STDERR
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRefs = stderr
rootLogger.appenderRef.stderr.ref = STDERR
"""

_WINDOW = re.compile(r"^(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
                     r"([\d.]+) ms max latency\.?$")
_TOTAL = re.compile(r"^(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
                    r"([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th\.?$")
_E2E_AVG = re.compile(r"Avg latency: ([\d.]+) ms")
_E2E_PCT = re.compile(r"Percentiles: 50th = (\d+), 99th = (\d+), 99\.9th = (\d+)")


# -- running a Java tool ------------------------------------------------------------------------------

def jars_dir(kind: str) -> Path:
    return StackConfig.from_env().jars_dir / kind


def jar_version(kind: str, artifact: str) -> str:
    # `[0-9]`: kafka-tools-*.jar would also match kafka-tools-api-4.1.1.jar and report "api-4.1.1"
    jars = sorted(jars_dir(kind).glob(f"{artifact}-[0-9]*.jar"))
    return jars[-1].stem.removeprefix(f"{artifact}-") if jars else ""


def quiet_log4j2() -> Path:
    path = Path(tempfile.gettempdir()) / "streamlab-log4j2-quiet.properties"
    if not path.exists() or path.read_text() != LOG4J2_QUIET:
        path.write_text(LOG4J2_QUIET)
    return path


def java_command(kind: str, main: str, args: list[str], heap: str = "512m") -> list[str]:
    java = StackConfig.from_env().java
    return [java, f"-Xmx{heap}", "-XX:+UseG1GC", f"-Dlog4j2.configurationFile={quiet_log4j2()}",
            "-Duser.language=en", "-Duser.country=US", "-Dfile.encoding=UTF-8", "-Dstdout.encoding=UTF-8",
            "-cp", f"{jars_dir(kind)}/*", main, *[str(a) for a in args]]


def require_jars(kind: str, artifact: str) -> None:
    if not jar_version(kind, artifact):
        raise UserError(f"{artifact} jar not found in {jars_dir(kind)}: run `make setup` to fetch it")
    try:
        subprocess.run([StackConfig.from_env().java, "-version"], capture_output=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        raise UserError("java is not on PATH (or $JAVA is wrong): install Java 17, e.g. with `make setup`") from None


class ToolProcess:
    """A Java tool whose output lines are collected (with their arrival time) by a reader thread."""

    def __init__(self, command: list[str], name: str) -> None:
        self.name = name
        self.command = command
        env = dict(os.environ, LC_ALL="C.UTF-8")
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     encoding="utf-8", errors="replace", bufsize=1, env=env, start_new_session=True)
        self.lines: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.time(), line.rstrip("\n")))

    def text(self) -> list[str]:
        return [line for _, line in self.lines]

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the tool (by its pid), then SIGKILL if it does not go."""
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._reader.join(timeout=5)

    def wait(self, timeout: float) -> int | None:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._reader.join(timeout=5)
        return code

    def tail(self, n: int = 5) -> str:
        return " | ".join(self.text()[-n:])


def wait_all(tools: list[ToolProcess], until: Any, deadline: float, progress: Progress, label: str) -> None:
    while time.monotonic() < deadline and not until():
        time.sleep(0.2)
        progress.note(label)


# -- parsing ------------------------------------------------------------------------------------------

def parse_producer_output(lines: list[str]) -> tuple[list[tuple[int, float, float, float, float]], dict | None]:
    """(windows: records, records/s, MB/s, avg ms, max ms), and the final total line (or None)."""
    windows, total = [], None
    for line in lines:
        line = line.strip()
        match = _TOTAL.match(line)
        if match:
            g = match.groups()
            total = {"records": int(g[0]), "records_per_s": float(g[1]), "mb_per_s": float(g[2]),
                     "mean_ms": float(g[3]), "max_ms": float(g[4]), "p50_ms": float(g[5]), "p95_ms": float(g[6]),
                     "p99_ms": float(g[7]), "p999_ms": float(g[8])}
            continue
        match = _WINDOW.match(line)
        if match:
            g = match.groups()
            windows.append((int(g[0]), float(g[1]), float(g[2]), float(g[3]), float(g[4])))
    return windows, total


def parse_consumer_output(lines: list[str]) -> dict | None:
    """The data line of kafka-consumer-perf-test (with its header)."""
    header = None
    for line in lines:
        fields = [f.strip() for f in line.split(",")]
        if "data.consumed.in.nMsg" in fields:
            header = fields
            continue
        if header and len(fields) == len(header):
            row = dict(zip(header, fields))
            try:
                return {k: float(v) for k, v in row.items() if k not in ("start.time", "end.time")}
            except ValueError:
                continue
    return None


def parse_e2e_output(lines: list[str]) -> dict | None:
    text = "\n".join(lines)
    avg, pct = _E2E_AVG.search(text), _E2E_PCT.search(text)
    if not (avg and pct):
        return None
    return {"mean_ms": float(avg.group(1)), "p50_ms": float(pct.group(1)), "p99_ms": float(pct.group(2)),
            "p999_ms": float(pct.group(3))}


# -- the drivers --------------------------------------------------------------------------------------

class _KafkaToolDriver(Driver):
    """What Kafka's Java tools share: they run from the kafka-tools jar that setup fetched."""

    broker = "kafka"
    native = True

    def client_version(self) -> str:
        return f"kafka-tools {jar_version('kafka', 'kafka-tools')} (Java)"

    def check(self, endpoints: Any) -> None:
        require_jars("kafka", "kafka-tools")
        super().check(endpoints)


class KafkaPerfTestDriver(_KafkaToolDriver):
    name = "kafka-perf-test"
    description = "kafka-producer-perf-test, then kafka-consumer-perf-test (Java, from the Kafka jars)"

    def estimate_s(self, workload: Workload) -> float:
        windows = math.ceil(workload.warmup_s / WINDOW_S) + max(1, round(workload.duration_s / WINDOW_S))
        return windows * WINDOW_S + 12.0

    @staticmethod
    def producer_props(workload: Workload, bootstrap: str) -> dict[str, Any]:
        return {"bootstrap.servers": bootstrap, "acks": workload.acks, "batch.size": workload.batch_size,
                "linger.ms": f"{workload.linger_ms:g}", "compression.type": workload.compression,
                "enable.idempotence": str(workload.acks == "all").lower(),
                "max.in.flight.requests.per.connection": 5}

    def run(self, workload: Workload, endpoints: Any, progress: Progress | None = None) -> RunResult:
        progress = progress or Progress(enabled=False)
        wl = workload
        bootstrap = endpoints.kafka_bootstrap
        result = RunResult(self.name, self.broker, True, wl, client_version=self.client_version(),
                           target_rate=wl.rate, phases="sequential")
        props = self.producer_props(wl, bootstrap)
        result.settings = {"producer": {k: v for k, v in props.items() if k != "bootstrap.servers"},
                           "consumer": {"fetch-size": 1048576, "tool": "ConsumerPerformance"}}
        topic = bench_name(self.name)
        progress.note(f"{self.name}: preparing")
        result.brokers, result.replication = create_topic(bootstrap, topic, wl.partitions, wl.replication)
        if result.replication < wl.replication:
            result.notes.append(f"replication {wl.replication} capped at {result.replication}: the cluster has "
                                f"{result.brokers} broker(s)")
        try:
            self._produce(wl, topic, props, result, progress)
            if wl.consumers:
                self._consume(wl, topic, bootstrap, result, progress)
        finally:
            progress.note(f"{self.name}: cleaning up")
            delete_topics(bootstrap, [topic])
        return result

    def _produce(self, wl: Workload, topic: str, props: dict, result: RunResult, progress: Progress) -> None:
        fixed = wl.rate is not None
        warm_windows = math.ceil(wl.warmup_s / WINDOW_S)
        meas_windows = max(1, round(wl.duration_s / WINDOW_S))
        tools = []
        for i in range(wl.producers):
            if wl.max_records is not None:
                count = share(wl.max_records, wl.producers, i)
            elif fixed:
                count = int(round(wl.per_producer_rate * (wl.warmup_s + wl.duration_s)))
            else:
                count = 10**12          # unreachable: stopped after the windows it needs
            args = ["--topic", topic, "--num-records", count, "--record-size", wl.message_size,
                    "--throughput", f"{wl.per_producer_rate:g}" if fixed else -1, "--producer-props",
                    *[f"{k}={v}" for k, v in {**props, "client.id": f"perf-producer-{i}"}.items()]]
            tools.append(ToolProcess(java_command("kafka", "org.apache.kafka.tools.ProducerPerformance", args),
                                     f"producer-{i}"))
        bounded = fixed or wl.max_records is not None
        hard = time.monotonic() + (warm_windows + meas_windows) * WINDOW_S + 60
        started = time.time()

        def enough() -> bool:
            if bounded:
                return not any(t.running() for t in tools)
            return all(len(parse_producer_output(t.text())[0]) >= warm_windows + meas_windows or not t.running()
                       for t in tools)

        try:
            wait_all(tools, enough, hard, progress, f"{self.name}: producing ({time.time() - started:.0f}s)")
        finally:                                   # also on Ctrl-C: no JVM outlives the run
            for tool in tools:
                tool.stop()
        windows_all, totals = [], []
        for tool in tools:
            windows, total = parse_producer_output(tool.text())
            if not windows and total is None:
                raise DriverError(f"ProducerPerformance printed no results: {tool.tail()}")
            windows_all.append(windows)
            totals.append(total)
        records = nbytes = 0
        seconds = 0.0
        per_second: list[int] = []
        if bounded and all(t is not None for t in totals):
            # ended by itself: its total covers the whole run (the rate limiter makes warm-up moot)
            records = sum(t["records"] for t in totals)
            seconds = max(t["records"] / t["records_per_s"] for t in totals if t["records_per_s"] > 0)
            lat = LatencySummary(count=records, **{k: max(t[k] for t in totals)
                                                   for k in ("p50_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms")},
                                 mean_ms=sum(t["mean_ms"] * t["records"] for t in totals) / max(records, 1))
            if len(totals) > 1:
                result.notes.append("producer latency percentiles: the worst of the producers' own percentiles")
            total_records = records
        else:
            total_records = 0
            for windows in windows_all:
                measured = windows[warm_windows:warm_windows + meas_windows] or windows[-meas_windows:]
                records += sum(w[0] for w in measured)
                seconds = max(seconds, sum(w[0] / w[1] for w in measured if w[1] > 0))
                total_records += sum(w[0] for w in windows)
            lat = LatencySummary(count=records, p50_ms=math.nan,
                                 mean_ms=sum(w[0] * w[3] for ws in windows_all for w in ws[warm_windows:])
                                 / max(1, sum(w[0] for ws in windows_all for w in ws[warm_windows:])),
                                 max_ms=max((w[4] for ws in windows_all for w in ws[warm_windows:]), default=math.nan))
            result.notes.append(f"ProducerPerformance stopped after {warm_windows} warm-up + {meas_windows} measured "
                                f"5-second windows; its latency is send→ack (mean and max only)")
            longest = max(len(ws) for ws in windows_all)
            per_second = [int(sum(ws[i][1] for ws in windows_all if i < len(ws)))
                          for i in range(longest) for _ in range(int(WINDOW_S))]
        nbytes = records * wl.message_size
        result.roles["producer"] = RoleResult("producer", records=records, bytes=nbytes, seconds=seconds,
                                              total_records=total_records, latency=lat, per_second=per_second)

    def _consume(self, wl: Workload, topic: str, bootstrap: str, result: RunResult, progress: Progress) -> None:
        expected = message_count(bootstrap, topic)
        result.roles["producer"].total_records = expected     # what the broker holds: acked or not
        if expected == 0:
            raise DriverError("ProducerPerformance wrote no records")
        group = f"streamlab-bench-perf-{os.urandom(3).hex()}"
        args = ["--bootstrap-server", bootstrap, "--topic", topic, "--messages", expected, "--group", group,
                "--timeout", 20000]
        tool = ToolProcess(java_command("kafka", "org.apache.kafka.tools.ConsumerPerformance", args), "consumer")
        deadline = time.monotonic() + max(60.0, 3 * (wl.warmup_s + wl.duration_s))
        try:
            wait_all([tool], lambda: not tool.running(), deadline, progress, f"{self.name}: consuming {expected:,}")
        finally:
            tool.stop()
        row = parse_consumer_output(tool.text())
        if row is None:
            raise DriverError(f"ConsumerPerformance printed no results: {tool.tail()}")
        received = int(row["data.consumed.in.nMsg"])
        seconds = row["fetch.time.ms"] / 1000.0
        if wl.consumers > 1:
            result.notes.append("ConsumerPerformance ran one consumer (the workload asks for "
                                f"{wl.consumers})")
        result.roles["consumer"] = RoleResult("consumer", records=received,
                                              bytes=int(row["data.consumed.in.MB"] * 1024 * 1024),
                                              seconds=seconds, total_records=received)
        result.notes.append("consumer rate = fetch.nMsg.sec (group join time excluded)")


class KafkaEndToEndLatencyDriver(_KafkaToolDriver):
    name = "kafka-e2e-latency"
    takes_rate = False
    description = "Kafka's EndToEndLatency tool: one record in flight, send then poll it back (Java)"

    def estimate_s(self, workload: Workload) -> float:
        return workload.duration_s + 10.0

    def run(self, workload: Workload, endpoints: Any, progress: Progress | None = None) -> RunResult:
        progress = progress or Progress(enabled=False)
        wl = workload
        bootstrap = endpoints.kafka_bootstrap
        acks = wl.acks if wl.acks in ("1", "all") else "1"
        result = RunResult(self.name, self.broker, True, wl, client_version=self.client_version(),
                           target_rate=None, phases="ping-pong", rate_label="1 in flight")
        result.settings = {"producer": {"acks": acks, "linger.ms": 0}, "consumer": {"fetch.max.wait.ms": 0}}
        if acks != wl.acks:
            result.notes.append("EndToEndLatency needs acks 1 or all: ran with acks=1")
        topic = bench_name(self.name)
        result.brokers, result.replication = create_topic(bootstrap, topic, wl.partitions, wl.replication)
        try:
            progress.note(f"{self.name}: probing the round trip")
            probe = self._run_tool(bootstrap, topic, 200, acks, wl.message_size, 60)
            per_record_ms = max(probe["mean_ms"], 0.2)
            count = wl.max_records or int(min(200_000, max(500, wl.duration_s * 1000 / per_record_ms)))
            progress.note(f"{self.name}: {count:,} round trips")
            started = time.monotonic()
            out = self._run_tool(bootstrap, topic, count, acks, wl.message_size, wl.duration_s * 4 + 60)
            elapsed = time.monotonic() - started
        finally:
            delete_topics(bootstrap, [topic])
        result.roles["e2e"] = RoleResult("e2e", records=count, seconds=elapsed, total_records=count,
                                         latency=LatencySummary(count=count, p50_ms=out["p50_ms"],
                                                                p99_ms=out["p99_ms"], p999_ms=out["p999_ms"],
                                                                mean_ms=out["mean_ms"]))
        result.notes.append(f"one record in flight ({count / elapsed:.0f} round trips/s incl. JVM start); "
                            "percentiles are whole milliseconds, floored, as the tool prints them")
        return result

    @staticmethod
    def _run_tool(bootstrap: str, topic: str, count: int, acks: str, size: int, timeout: float) -> dict:
        tool = ToolProcess(java_command("kafka", "org.apache.kafka.tools.EndToEndLatency",
                                        [bootstrap, topic, count, acks, size]), "e2e")
        try:
            code = tool.wait(timeout)
        finally:
            tool.stop()
        out = parse_e2e_output(tool.text())
        if out is None:
            raise DriverError(f"EndToEndLatency {'timed out' if code is None else f'exited {code}'}: {tool.tail()}")
        return out
