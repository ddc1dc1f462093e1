"""Deep dive 7: Kafka Streams — one windowed aggregation written three ways, compared record by record.

The aggregation is the processor's temperature statistics made into tumbling
event-time windows: per machine and window of ``window_ms`` (on the records'
timestamps, the reading times), the count, mean and max of ``temperature_c``,
one output record per closed window. Three implementations, each run as its own
process so that each can be SIGKILLed:

- ``hand-written``: a consume → compute → publish → commit loop on the project's
  transport, state in a dict (`streams_handwritten`);
- ``quixstreams``: a quixstreams `tumbling_window(...).agg(...).final()`, state in
  RocksDB with a changelog topic (`streams_quix`, run by the Python of
  `.cache/quix-venv`, because quixstreams pins an older confluent-kafka);
- ``Kafka Streams``: a Java topology (`java/streams-aggregate`, built by
  `make setup` into `.cache/streams-aggregate`) — `windowedBy(...).aggregate(...)
  .suppress(untilWindowCloses)`, exactly-once, state in RocksDB with changelogs.

`compare_ways` feeds the same preloaded topic (the seeded fleet's telemetry) to
each and checks every output window against the windows computed from the
readings written; it also measures throughput. `restart` kills each instance
after the first half of its input, writes the second half and starts it again
on an empty state directory: the stream libraries restore their state from the
changelog (restore time measured), the hand-written loop starts empty.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ... import paths
from ...bench.drivers.kafka_java_tools import ToolProcess
from ...codecs import get_codec
from ...domain import Fleet
from ...measure.process import cpu_seconds_or_nan
from ...stack.config import StackConfig
from ...transport import kafka_admin
from . import common, streams_handwritten, streams_quix

WAYS = ("hand-written", "quixstreams", "Kafka Streams")
JAVA_OUT = paths.HOME / ".cache" / "streams-aggregate"
JAVA_SOURCE = paths.HOME / "java" / "streams-aggregate" / "src" / "main" / "java" / "org" / "streamlab" / "streams" \
    / "WindowedTemperature.java"
JAVA_MAIN = "org.streamlab.streams.WindowedTemperature"
QUIX_PYTHON = paths.HOME / ".cache" / "quix-venv" / "bin" / "python"
SOURCES = {"hand-written": Path(streams_handwritten.__file__), "quixstreams": Path(streams_quix.__file__),
           "Kafka Streams": JAVA_SOURCE}


# --------------------------------------------------------------------------- the three implementations


def missing(way: str) -> str:
    """Why ``way`` cannot run here ('' when it can): what `make setup` builds and where."""
    if way == "Kafka Streams":
        if not (JAVA_OUT / "streams-aggregate.jar").is_file():
            return f"the Kafka Streams topology is not built ({JAVA_OUT}/streams-aggregate.jar): run `make setup`"
        if shutil.which(StackConfig.from_env().java) is None:
            return "java is not on PATH: install a JDK 17 (`make setup` says how)"
    if way == "quixstreams" and not QUIX_PYTHON.is_file():
        return f"quixstreams' venv is missing ({QUIX_PYTHON}): run `make setup`"
    return ""


def require_ways(ways: tuple[str, ...] = WAYS) -> None:
    for way in ways:
        common.require(way in WAYS, f"unknown implementation {way!r}: choose from {', '.join(WAYS)}")
        reason = missing(way)
        common.require(not reason, reason)


def command(way: str, bootstrap: str, source: str, sink: str, app_id: str, state_dir: str, window_ms: int) -> list[str]:
    """The process that runs ``way`` on ``source`` into ``sink`` (``app_id``: its group / application id)."""
    if way == "hand-written":
        return [sys.executable, "-m", streams_handwritten.__name__, bootstrap, source, sink, app_id, str(window_ms)]
    if way == "quixstreams":
        return [str(QUIX_PYTHON), "-u", str(SOURCES[way]), bootstrap, source, sink, app_id, state_dir, str(window_ms)]
    return [StackConfig.from_env().java, "-Xmx384m", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            "-cp", f"{JAVA_OUT}/*", JAVA_MAIN, bootstrap, source, sink, app_id, state_dir, str(window_ms)]


def lines_of_code() -> pd.DataFrame:
    """Per implementation: non-blank, non-comment lines of its whole program and of its marked aggregation part."""
    rows = []
    for way, path in SOURCES.items():
        whole, marked, inside = 0, 0, False
        for line in path.read_text().splitlines():
            text = line.strip()
            if "--- aggregation" in text:
                inside = True
                continue
            if "--- end of aggregation" in text:
                inside = False
                continue
            if not text or text.startswith(("#", "//", "*", "/*", "/**")) or text in ('"""',):
                continue
            whole += 1
            marked += inside
        rows.append({"implementation": way, "file": str(path.relative_to(paths.HOME)) if path.is_relative_to(
            paths.HOME) else path.name, "aggregation_lines": marked, "program_lines": whole,
            "language": "Java" if path.suffix == ".java" else "Python"})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- input and the expected windows


@dataclass(frozen=True)
class Reading:
    machine_id: str
    ts_ms: int
    temperature_c: float
    value: bytes


def fleet_readings(machines: int, seconds: float, window_ms: int, *, hz: float = 10.0, seed: int = 7) -> list[Reading]:
    """The seeded fleet's telemetry in time order, starting on a window boundary in the recent past, plus one
    *closing* reading per machine two windows after the end: it closes every machine's last real window in all
    three implementations, and its own window stays open (never emitted) in all three."""
    common.require(machines >= 1 and seconds * 1000 >= 2 * window_ms,
                   f"send at least one machine for two windows ({2 * window_ms / 1000:g} s)")
    fleet = Fleet.with_faults(machines, seed, seconds, fault_fraction=0.5)
    codec = get_codec("json")
    steps = int(seconds * hz)
    now_ms = int(time.time() * 1000)
    base = (now_ms - int(seconds * 1000) - 2 * window_ms) // window_ms * window_ms
    out = []
    for step in [*range(steps), steps - 1 + int(2 * window_ms * hz / 1000)]:
        ts_ms = base + int(step * 1000 / hz)
        for machine in fleet.machine_ids:
            reading = fleet.telemetry(machine, step / hz, ts_ns=ts_ms * 1_000_000)
            out.append(Reading(machine, ts_ms, reading.temperature_c, codec.encode(reading)))
    return out


def write(bootstrap: str, topic_name: str, readings: list[Reading]) -> None:
    """Keyed by machine, time-stamped with the reading time; idempotent, so each partition stays in time order."""
    writer = common.producer(bootstrap, acks="all", enable_idempotence=True, linger_ms=20,
                             partitioner="murmur2_random")
    for i, r in enumerate(readings):
        writer.produce(topic_name, r.value, key=r.machine_id.encode(), timestamp=r.ts_ms)
        if i % 1000 == 0:
            writer.poll(0)
    common.require(writer.flush(60) == 0, f"could not write {len(readings)} readings to {topic_name} within 60 s")


def expected_windows(readings: list[Reading], window_ms: int) -> pd.DataFrame:
    """The windows every implementation must emit, computed from the readings: all but each machine's last."""
    frame = pd.DataFrame({"machine_id": [r.machine_id for r in readings], "ts_ms": [r.ts_ms for r in readings],
                          "t": [r.temperature_c for r in readings]})
    frame["window_start_ms"] = frame["ts_ms"] - frame["ts_ms"] % window_ms
    # the sum in arrival order from 0.0, as all three add: the means then agree to the last bit
    sums = frame.groupby(["machine_id", "window_start_ms"], sort=True)["t"].agg(
        count="count", temp_sum=lambda s: sum(s.tolist(), 0.0), temp_max="max")
    sums["temp_mean"] = sums["temp_sum"] / sums["count"]
    sums = sums.reset_index().drop(columns="temp_sum")
    last = sums.groupby("machine_id")["window_start_ms"].transform("max")
    return sums[sums["window_start_ms"] < last].reset_index(drop=True)


def compare(received: pd.DataFrame, expected: pd.DataFrame) -> dict:
    """Received windows against the expected ones, record by record on (machine, window start)."""
    key = ["machine_id", "window_start_ms"]
    if received.empty:
        received = pd.DataFrame(columns=[*key, "count", "temp_mean", "temp_max"])
    dup = int(received.duplicated(key).sum())
    merged = expected.merge(received.drop_duplicates(key, keep="last"), on=key, how="outer",
                            suffixes=("", "_got"), indicator=True)
    both = merged[merged["_merge"] == "both"]
    diff = (both[["temp_mean", "temp_max"]].to_numpy(float) - both[["temp_mean_got", "temp_max_got"]].to_numpy(float))
    differing = (both["count"].astype(int) != both["count_got"].astype(int)) | (abs(diff) > 1e-9).any(axis=1)
    return {
        "windows_expected": len(expected),
        "windows_received": len(received),
        "missing": int((merged["_merge"] == "left_only").sum()),
        "extra": int((merged["_merge"] == "right_only").sum()),
        "duplicates": dup,
        "differing": int(differing.sum()),
        "identical": int((~differing).sum()),
        "max_abs_diff": float(abs(diff).max()) if len(both) else float("nan"),
    }


# --------------------------------------------------------------------------- running an implementation


class OutputWatch:
    """Reads an output topic from the beginning in a thread (read_committed), noting when each window arrived."""

    def __init__(self, bootstrap: str, topic_name: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic_name
        self.rows: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        reader = common.consumer(self.bootstrap, common.unique("watch"), isolation_level="read_committed")
        try:
            parts = kafka_admin.topic_partitions(self.bootstrap, self.topic)
            reader.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in parts])
            while not self._stop.is_set():
                batch = reader.consume(1000, 0.1)
                now = time.time()
                for m in batch:
                    if not m.error():
                        self.rows.append({**json.loads(m.value()), "received_s": now})
        finally:
            reader.close()

    def windows(self) -> int:
        return len(self.rows)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.rows))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)


def events(tool: ToolProcess) -> list[dict]:
    """The JSON event lines a worker printed (other lines are library logs), each with its time in seconds."""
    out = []
    for _, line in list(tool.lines):
        if line.startswith("{\"event\""):
            try:
                item = json.loads(line)
            except ValueError:
                continue
            out.append({**item, "time_s": item["time_ms"] / 1000})
    return out


def cpu_seconds(tool: ToolProcess) -> float:
    """User + system CPU seconds of the tool's process so far; NaN once it is gone."""
    return cpu_seconds_or_nan(tool.proc.pid)


def _wait(until: Callable[[], bool], tool: ToolProcess, timeout_s: float, what: str) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if until():
            return True
        if not tool.running():
            raise common.UserError(f"{tool.name} exited before {what}: {tool.tail(8)}")
        time.sleep(0.05)
    return False


#: How often the restarted instance is started again when it died in its partition assignment, as a
#: supervisor (Kubernetes, systemd) restarts a crashed pod: the row's ``relaunched`` says it happened.
MAX_RELAUNCHES = 1


def _failed_assignment(message: str) -> bool:
    """quixstreams wraps any error of its rebalance callback (a broker call that timed out on a loaded machine,
    a committed-offset fetch that failed) in PartitionAssignmentError and exits."""
    return "PartitionAssignmentError" in message


def _kill(tool: ToolProcess) -> None:
    if tool.running():
        os.kill(tool.proc.pid, signal.SIGKILL)
        tool.proc.wait(10)


@dataclass(frozen=True)
class Run:
    """One implementation's scratch names: its output topic, application id / group, state folder."""

    way: str
    token: str
    sink: str
    app_id: str

    @classmethod
    def new(cls, way: str, tag: str) -> Run:
        token = common.unique(tag)
        short = {"hand-written": "hand", "quixstreams": "quix", "Kafka Streams": "kstreams"}[way]
        return cls(way, token, f"{token}-{short}-out", f"{token}-{short}")


@contextmanager
def _scratch(
    bootstrap: str, source_partitions: int, ways: tuple[str, ...], tag: str
) -> Iterator[tuple[str, list[Run]]]:
    """An input topic and one output topic per implementation; every topic of the run deleted afterwards
    (the stream libraries' changelogs too: their names carry the run's token)."""
    replication = min(3, common.brokers(bootstrap))
    source = common.topic(common.unique(tag), source_partitions, replication)
    runs = [Run.new(way, tag) for way in ways]
    specs = [source, *(common.topic(run.sink, source_partitions, replication) for run in runs)]
    try:
        with common.scratch_topics(bootstrap, specs):
            yield source.name, runs
    finally:
        tokens = [run.token for run in runs]
        names = kafka_admin.admin_client(bootstrap).list_topics(timeout=10).topics
        kafka_admin.delete_topics(bootstrap, [n for n in names if any(t in n for t in tokens)])


def _changelog_records(bootstrap: str, run: Run) -> int:
    """Records in the implementation's changelog topics (what a restore has to read)."""
    names = [n for n in kafka_admin.admin_client(bootstrap).list_topics(timeout=10).topics
             if run.app_id in n and "changelog" in n]
    return sum(end for name in names for end in common.end_offsets(bootstrap, name).values())


def _rate(frame: pd.DataFrame) -> float:
    """Input records per second once output flows: the readings in windows that arrived after the first
    batch of output, over the time from that first batch to the last window."""
    if frame.empty:
        return float("nan")
    first, last = frame["received_s"].min(), frame["received_s"].max()
    later = frame[frame["received_s"] > first]
    return float(later["count"].sum() / (last - first)) if last > first else float("nan")


# --------------------------------------------------------------------------- the experiments


def compare_ways(bootstrap: str, *, machines: int = 20, seconds: float = 60.0, window_ms: int = 1000,
                 partitions: int = 3, ways: tuple[str, ...] = WAYS, timeout_s: float | None = None,
                 seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each implementation over the same preloaded topic, one after the other.

    Returns (one row per implementation: windows expected/received/missing/
    duplicated/differing, seconds to the first output, input records/s, CPU
    seconds; every window received, tagged with its implementation).
    ``timeout_s`` per implementation; by default a minute plus 200 records/s.
    """
    require_ways(ways)
    readings = fleet_readings(machines, seconds, window_ms, seed=seed)
    expected = expected_windows(readings, window_ms)
    timeout_s = timeout_s or 60.0 + len(readings) / 200
    rows, frames = [], []
    with _scratch(bootstrap, partitions, ways, "streams") as (source, runs), \
            tempfile.TemporaryDirectory(prefix="dd7-") as tmp:
        write(bootstrap, source, readings)
        for run in runs:
            watch = OutputWatch(bootstrap, run.sink)
            started = time.time()
            tool = ToolProcess(command(run.way, bootstrap, source, run.sink, run.app_id,
                                       str(Path(tmp) / run.app_id), window_ms), run.way)
            try:
                complete = _wait(lambda: watch.windows() >= len(expected),  # noqa: B023 - waited on here
                                 tool, timeout_s, "its output was complete")
                time.sleep(0.3)  # anything more (a duplicate) would arrive now
                cpu = cpu_seconds(tool)
            finally:
                tool.stop()
                watch.close()
            frame = watch.frame()
            check = compare(frame, expected)
            start_events = [e["time_s"] for e in events(tool) if e["event"] == "start"]
            rows.append({"implementation": run.way, "input_records": len(readings), "machines": machines,
                         "window_ms": window_ms, **check, "complete": complete,
                         "process_up_s": (start_events[0] - started) if start_events else float("nan"),
                         "first_output_s": float(frame["received_s"].min() - started) if len(frame) else float("nan"),
                         "all_output_s": float(frame["received_s"].max() - started) if len(frame) else float("nan"),
                         "records_per_s": _rate(frame), "cpu_s": cpu})
            frames.append(frame.assign(implementation=run.way))
    return pd.DataFrame(rows), pd.concat(frames, ignore_index=True)


def restart(bootstrap: str, *, machines: int = 20, seconds: float = 30.0, window_ms: int = 1000,
            partitions: int = 3, ways: tuple[str, ...] = WAYS, timeout_s: float = 120.0,
            seed: int = 11) -> pd.DataFrame:
    """Each implementation killed (SIGKILL) half-way and restarted on an empty state folder.

    The input's first half ends in the middle of a window. Once the instance
    has emitted every window that half closes and committed all of it, it is
    killed; the second half is written and a new instance starts on a fresh
    state directory (a replaced host or container). The stream libraries
    restore their state from the changelog topics first; the windows that
    straddle the kill are correct only if that state came back.
    """
    require_ways(ways)
    readings = fleet_readings(machines, seconds, window_ms, seed=seed)
    expected = expected_windows(readings, window_ms)
    base = min(r.ts_ms for r in readings)
    split = base + (int(seconds * 1000) // 2 // window_ms) * window_ms + window_ms // 2   # mid-window
    first = [r for r in readings if r.ts_ms < split]
    second = [r for r in readings if r.ts_ms >= split]
    closed_by_first = int((expected["window_start_ms"] + window_ms <= split - window_ms // 2).sum())
    rows = []
    with tempfile.TemporaryDirectory(prefix="dd7-restart-") as tmp:
        for way in ways:
            with _scratch(bootstrap, partitions, (way,), "restart") as (source, (run,)):
                rows.append(_kill_and_restart(bootstrap, run, source, first, second, expected, closed_by_first,
                                              Path(tmp), window_ms, timeout_s))
    return pd.DataFrame(rows)


def _kill_and_restart(bootstrap: str, run: Run, source: str, first: list[Reading], second: list[Reading],
                      expected: pd.DataFrame, closed_by_first: int, tmp: Path, window_ms: int,
                      timeout_s: float) -> dict:
    write(bootstrap, source, first)
    watch = OutputWatch(bootstrap, run.sink)
    try:
        tool = ToolProcess(command(run.way, bootstrap, source, run.sink, run.app_id, str(tmp / f"{run.app_id}-a"),
                                   window_ms), run.way)
        try:
            _wait(lambda: watch.windows() >= closed_by_first, tool, timeout_s, "the first half's windows")
            _wait(lambda: kafka_admin.group_backlog(bootstrap, run.app_id, [source]) == 0, tool, timeout_s,
                  "it committed the first half")
            before_kill = watch.windows()
        finally:
            _kill(tool)
            tool.stop()
        changelog = _changelog_records(bootstrap, run)
        write(bootstrap, source, second)
        started = time.time()
        relaunched = 0
        while True:
            again = ToolProcess(command(run.way, bootstrap, source, run.sink, run.app_id,
                                        str(tmp / f"{run.app_id}-b{relaunched}"), window_ms), f"{run.way} (restarted)")
            try:
                complete = _wait(lambda: watch.windows() >= len(expected), again, timeout_s,
                                 "its output was complete")
                time.sleep(0.3)
                break
            except common.UserError as exc:
                if relaunched >= MAX_RELAUNCHES or not _failed_assignment(str(exc)):
                    raise
                relaunched += 1
            finally:
                again.stop()
    finally:
        watch.close()
    frame = watch.frame()
    after = frame[frame["received_s"] >= started] if len(frame) else frame
    seen = events(again)
    starts = [e["time_s"] for e in seen if e["event"] == "restore-start"]
    ends = [e["time_s"] for e in seen if e["event"] == "restore-end"]
    restored = sum(int(e.get("restored", 0)) for e in seen if e["event"] == "restore-end")
    up = [e["time_s"] for e in seen if e["event"] == "start"]
    return {"implementation": run.way, "input_records": len(first) + len(second), "killed_after": len(first),
            "windows_before_kill": before_kill, **compare(frame, expected), "complete": complete,
            "relaunched": relaunched,
            # Kafka Streams' restore listener counts what it read; quixstreams logs only that it recovered
            "changelog_records": changelog, "restored_records": restored if run.way == "Kafka Streams" else
            (float("nan") if starts else 0),
            "process_up_s": (up[0] - started) if up else float("nan"),
            "restore_s": (max(ends) - min(starts)) if starts and ends else float("nan"),
            "first_output_after_restart_s": float(after["received_s"].min() - started) if len(after) else float("nan")}


def inexact(check: pd.DataFrame) -> list[str]:
    """The implementations whose windows were not exactly the expected ones (missing, extra, doubled or differing)."""
    wrong = (check["missing"] > 0) | (check["extra"] > 0) | (check["duplicates"] > 0) | (check["differing"] > 0)
    return check.loc[wrong, "implementation"].tolist()
