"""Deep dive 5: offsets and reprocessing — what a committed offset promises, and reading the past again.

Three experiments:

- `crash_matrix`: a consumer that writes what it reads to a file in batches
  (like the application's sinks) is SIGKILLed at the worst moment for its
  commit strategy — just before a batch is written, or just after it was
  written and before its offsets are committed — then restarted; every
  sequence number in the file is counted. Auto-commit commits what was *read*,
  so a crash before the write loses the batch; commit-after-write commits what
  was *written*, so it never loses and re-writes at most one batch.
- `seek_to_time` and `reset_with_tool`: where `offsets_for_times` puts a
  reader for a wall-clock instant, and the same reset done to a whole group by
  Kafka's own `kafka-consumer-groups --reset-offsets --to-datetime` (from the
  jars), checked against each other.
- `reprocess`: the last N seconds of the fleet's telemetry scored again into a
  second health topic and compared record by record with the first output:
  cold (start exactly at the instant) and warmed (start one scoring window
  earlier and discard the warm-up output).

The crashing consumer is `offsets_worker`, run as its own process, because
only a separate process can be SIGKILLed for real.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ...codecs import get_codec
from ...domain import Fleet, TelemetryReading, VibrationWindow
from ...services.health_processor import HealthScorer
from ...transport.kafka_confluent import commit_sync
from . import common, offsets_worker
from .offsets_worker import CRASH_POINTS, MODES, WorkerPlan

# --------------------------------------------------------------------------- the crashing consumer


def _spawn(plan: WorkerPlan) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    return subprocess.Popen([sys.executable, "-m", offsets_worker.__name__, json.dumps(asdict(plan))], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _produce_numbered(bootstrap: str, topic_name: str, records: int, partitions: int) -> None:
    writer = common.producer(bootstrap, acks="all", linger_ms=5)
    for seq in range(records):
        writer.produce(topic_name, str(seq).encode(), partition=seq % partitions)
        if seq % 1000 == 0:
            writer.poll(0)
    common.require(writer.flush(30) == 0, f"could not write {records} records to {topic_name} within 30 s")


def crash_matrix(bootstrap: str, *, records: int = 3000, batch: int = 200, crash_at_batch: int = 3,
                 partitions: int = 3, timeout_s: float = 60.0) -> pd.DataFrame:
    """One row per commit mode × crash point: records written to the file, lost and duplicated by sequence number.

    Each scenario is its own group on one shared topic; the four run side by
    side. First run: SIGKILL at batch ``crash_at_batch``. Second run: the same
    group resumes from its committed offsets until the topic is drained.
    """
    common.require(records >= 10 and batch >= 1, "write at least 10 records, in batches of at least 1")
    common.require(1 <= crash_at_batch <= records // batch - 1,
                   f"crash_at_batch must lie between 1 and {records // batch - 1} (records / batch - 1) so a "
                   "batch remains after the crash")
    spec = common.topic(common.unique("offsets"), partitions, min(3, common.brokers(bootstrap)))
    rows = []
    with common.scratch_topics(bootstrap, [spec]), tempfile.TemporaryDirectory(prefix="dd5-") as tmp:
        _produce_numbered(bootstrap, spec.name, records, partitions)
        plans = [WorkerPlan(bootstrap, spec.name, common.unique("crash"), str(Path(tmp) / f"{i}.txt"), mode,
                            batch, crash_at_batch, point)
                 for i, (mode, point) in enumerate((m, p) for m in MODES for p in CRASH_POINTS)]
        for plan in plans:  # a fresh cluster creates __consumer_offsets on first use: wait for each coordinator
            common.holds_within(lambda plan=plan: common.kafka_admin.group_committed(
                bootstrap, plan.group, [(spec.name, 0)], timeout=5) is not None, 60, 0.5)
        first = [_spawn(plan) for plan in plans]
        codes = [_wait(proc, timeout_s) for proc in first]
        for proc, code in zip(first, codes):
            common.require(code in (0, -signal.SIGKILL), f"a consumer worker failed: {_last_line(proc)}")
        second = [_spawn(WorkerPlan(**{**asdict(plan), "crash_at_batch": 0})) for plan in plans]
        for proc in second:
            common.require(_wait(proc, timeout_s) == 0, f"the restarted consumer failed: {_last_line(proc)}")
        for plan, code in zip(plans, codes):
            seen = Counter(int(line) for line in Path(plan.out).read_text().split())
            rows.append({"mode": plan.mode, "crash_point": plan.crash_point, "records": records, "batch": batch,
                         "crash_at_batch": crash_at_batch, "killed_by_sigkill": code == -signal.SIGKILL,
                         "lines_written": sum(seen.values()), "distinct": len(seen),
                         "lost": records - len(set(seen) & set(range(records))),
                         "duplicates": sum(n - 1 for n in seen.values())})
    return pd.DataFrame(rows)


def _wait(proc: subprocess.Popen, timeout_s: float) -> int:
    try:
        return proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise common.UserError(
            f"a consumer worker did not finish within {timeout_s:.0f} s: is the cluster loaded?") from None


def _last_line(proc: subprocess.Popen) -> str:
    text = (proc.stderr.read() if proc.stderr else "") or ""
    return (text.strip().splitlines() or ["no output"])[-1]


def losing_modes(frame: pd.DataFrame) -> list[str]:
    """The commit modes that lost records at some crash point, in `MODES` order (a fact the prose names)."""
    lost = frame.groupby("mode")["lost"].sum()
    return [m for m in MODES if lost.get(m, 0) > 0]


# --------------------------------------------------------------------------- the fleet's history


@dataclass(frozen=True)
class History:
    """A topic holding ``seconds`` of the fleet's telemetry, time-stamped in the past, ending now.

    ``vibration`` holds one vibration window per machine, from the history's start: the processor's verdict
    joins both streams, and the topic holds telemetry only, so reprocessing gives every scorer these bands
    (held constant) and what it measures is the telemetry window's state."""

    topic: str
    readings: list[TelemetryReading]
    start_ms: int
    end_ms: int
    vibration: list[VibrationWindow]


def write_history(bootstrap: str, topic_name: str, *, machines: int, seconds: float, hz: float = 10.0,
                  seed: int = 7) -> History:
    """The fleet's readings for the last ``seconds``, keyed by machine, each with its reading time as timestamp."""
    fleet = Fleet.with_faults(machines, seed, seconds, fault_fraction=0.5)
    codec = get_codec("json")
    end_ms = int(time.time() * 1000)
    start_ms = end_ms - int(seconds * 1000)
    # idempotent: a retried batch can never land behind a later one, so each partition stays in time order
    writer = common.producer(bootstrap, acks="all", enable_idempotence=True, linger_ms=20,
                             partitioner="murmur2_random")
    readings = []
    steps = int(seconds * hz)
    for step in range(steps):
        ts_ms = start_ms + int(step * 1000 / hz)
        for machine in fleet.machine_ids:
            reading = fleet.telemetry(machine, step / hz, ts_ns=ts_ms * 1_000_000)
            readings.append(reading)
            writer.produce(topic_name, codec.encode(reading), key=machine.encode(), timestamp=ts_ms)
        writer.poll(0)
    common.require(writer.flush(60) == 0, f"could not write the history to {topic_name} within 60 s")
    vibration = [fleet.vibration(machine, 0.0, ts_ns=start_ms * 1_000_000) for machine in fleet.machine_ids]
    return History(topic_name, readings, start_ms, end_ms, vibration)


def offsets_at(bootstrap: str, topic_name: str, ts_ms: int) -> dict[int, int]:
    """`offsets_for_times`: per partition, the first offset whose timestamp is ≥ ``ts_ms`` (the end if none)."""
    from confluent_kafka import TopicPartition

    ends = common.end_offsets(bootstrap, topic_name)
    reader = common.consumer(bootstrap, common.unique("times"))
    try:
        found = reader.offsets_for_times([TopicPartition(topic_name, p, ts_ms) for p in ends], timeout=10)
    finally:
        reader.close()
    return {tp.partition: tp.offset if tp.offset >= 0 else ends[tp.partition] for tp in found}


def read_from(bootstrap: str, topic_name: str, starts: dict[int, int], timeout_s: float = 30.0) -> list[common.Record]:
    """Every record from the given offsets to the high watermark, without a group."""
    from confluent_kafka import TopicPartition

    ends = common.end_offsets(bootstrap, topic_name)
    reader = common.consumer(bootstrap, common.unique("from"))
    out: list[common.Record] = []
    try:
        reader.assign([TopicPartition(topic_name, p, o) for p, o in starts.items()])
        remaining = {p for p, o in starts.items() if o < ends[p]}
        deadline = time.monotonic() + timeout_s
        while remaining and time.monotonic() < deadline:
            for m in reader.consume(1000, 0.3):
                if m.error():
                    continue
                out.append(common.Record(m.partition(), m.offset(), m.key(), m.value(), m.timestamp()[1]))
                if m.offset() + 1 >= ends[m.partition()]:
                    remaining.discard(m.partition())
    finally:
        reader.close()
    return out


def seek_to_time(bootstrap: str, history: History, seconds_back: float) -> pd.DataFrame:
    """Per partition: where `offsets_for_times` starts for now − ``seconds_back``, and what reading there yields."""
    common.require(0 < seconds_back * 1000 < history.end_ms - history.start_ms,
                   f"seconds_back={seconds_back} must be positive and shorter than the "
                   f"{(history.end_ms - history.start_ms) / 1000:.0f} s of history in the topic")
    since = history.end_ms - int(seconds_back * 1000)
    starts = offsets_at(bootstrap, history.topic, since)
    records = read_from(bootstrap, history.topic, starts)
    ends = common.end_offsets(bootstrap, history.topic)
    rows = []
    for p in sorted(starts):
        mine = [r for r in records if r.partition == p]
        rows.append({"partition": p, "since_ms": since, "offset_for_time": starts[p], "end_offset": ends[p],
                     "records_read": len(mine),
                     "earliest_read_ms_after_since": (min(r.timestamp_ms for r in mine) - since) if mine else None,
                     "older_than_since": sum(r.timestamp_ms < since for r in mine)})
    frame = pd.DataFrame(rows)
    frame.attrs["expected"] = sum(r.ts_ns // 1_000_000 >= since for r in history.readings)
    return frame


# --------------------------------------------------------------------------- a group reset by Kafka's tool


def _utc_iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def reset_with_tool(bootstrap: str, history: History, seconds_back: float, timeout_s: float = 60.0) -> pd.DataFrame:
    """A group that has read everything is moved back to now − ``seconds_back`` by `kafka-consumer-groups`.

    Per partition: the group's committed offset before and after the tool ran, and
    the offset `offsets_for_times` gives for the same instant — they must agree.
    """
    from ...bench.drivers.kafka_java_tools import java_command, require_jars

    require_jars("kafka", "kafka-tools")
    group = common.unique("reset")
    parts = sorted(common.end_offsets(bootstrap, history.topic))
    reader = common.consumer(bootstrap, group)
    from confluent_kafka import TopicPartition

    ends = common.end_offsets(bootstrap, history.topic)
    commit_sync(reader, [TopicPartition(history.topic, p, ends[p]) for p in parts])
    reader.close()
    keys = [(history.topic, p) for p in parts]
    before = common.kafka_admin.group_committed(bootstrap, group, keys)
    since = history.end_ms - int(seconds_back * 1000)
    command = java_command("kafka", "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
                           ["--bootstrap-server", bootstrap, "--group", group, "--topic", history.topic,
                            "--reset-offsets", "--to-datetime", _utc_iso(since), "--execute"], heap="256m")
    # a short-lived tool: the quick JIT tier and the serial collector start it about 3× faster
    command = [command[0], "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
               *(part for part in command[1:] if part != "-XX:+UseG1GC")]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    tool_s = time.monotonic() - started
    common.require(result.returncode == 0, "kafka-consumer-groups --reset-offsets failed: "
                   + ((result.stderr or result.stdout).strip().splitlines() or ["no output"])[-1])
    after = common.kafka_admin.group_committed(bootstrap, group, keys)
    expected = offsets_at(bootstrap, history.topic, since)
    return pd.DataFrame(
        [
            {
                "partition": p,
                "group": group,
                "to_datetime": _utc_iso(since),
                "committed_before": before[(history.topic, p)],
                "committed_after_tool": after[(history.topic, p)],
                "offsets_for_times": expected[p],
                "agree": after[(history.topic, p)] == expected[p],
                "tool_seconds": round(tool_s, 2),
            }
            for p in parts
        ]
    )


# --------------------------------------------------------------------------- reprocessing


def _score(records: list[common.Record], vibration: list[VibrationWindow]) -> list[dict]:
    """The processor's scoring (its `HealthScorer`, fresh state, each machine's bands known) over records in
    log order per partition."""
    codec = get_codec("json")
    scorer = HealthScorer()
    for window in vibration:
        scorer.on_vibration(window)
    out = []
    for r in sorted(records, key=lambda r: (r.timestamp_ms, r.partition, r.offset)):
        reading = codec.decode(r.value, TelemetryReading)
        health, _ = scorer.on_telemetry(reading)
        out.append(
            {
                "machine_id": health.machine_id,
                "seq": health.seq,
                "source_ts_ms": health.source_ts_ns // 1_000_000,
                "health_score": health.health_score,
                "state": health.state,
                "features": json.dumps({k: round(v, 9) for k, v in sorted(health.features.items())}),
            }
        )
    return out


def _publish(bootstrap: str, topic_name: str, rows: list[dict]) -> None:
    writer = common.producer(bootstrap, acks="all", linger_ms=20, partitioner="murmur2_random")
    for row in rows:
        writer.produce(topic_name, json.dumps(row).encode(), key=row["machine_id"].encode())
        writer.poll(0)
    common.require(writer.flush(60) == 0, f"could not write the health output to {topic_name}")


def _read_output(bootstrap: str, topic_name: str) -> pd.DataFrame:
    return pd.DataFrame([json.loads(r.value) for r in common.read_all(bootstrap, topic_name)])


def _same_features(first: object, second: object) -> bool:
    """The same features to 1e-6 (relative): the rolling sums drift in the last digits with their history."""
    if not isinstance(first, str) or not isinstance(second, str):
        return False
    a, b = json.loads(first), json.loads(second)
    return a.keys() == b.keys() and all(math.isclose(a[k], b[k], rel_tol=1e-6, abs_tol=1e-9) for k in a)


def reprocess(bootstrap: str, history: History, seconds_back: float, *, window: int = 50,
              hz: float = 10.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score the history once (v1), then the last ``seconds_back`` again into second health topics (cold, warmed).

    Returns (per record: v1 vs each reprocessing, for readings since the
    instant; summary per reprocessing). Warmed starts ``window`` readings
    (the scorer's rolling window) earlier and drops the output before the instant.
    """
    common.require(seconds_back * hz > window,
                   f"reprocess at least one scoring window: seconds_back × {hz:g} Hz must exceed {window} readings")
    since = history.end_ms - int(seconds_back * 1000)
    warm_since = since - int(window / hz * 1000)
    common.require(warm_since >= history.start_ms, "the warm-up reaches before the topic's history: "
                                                   "lower seconds_back or write a longer history")
    replication = min(3, common.brokers(bootstrap))
    first_spec, second_spec = (common.topic(common.unique(name), 3, replication) for name in ("health-v1", "health-v2"))
    cold_label, warm_label = "cold start at the instant", f"warmed ({window} readings earlier)"
    with common.scratch_topics(bootstrap, [first_spec, second_spec]):
        v1_rows = _score(common.read_all(bootstrap, history.topic), history.vibration)
        cold_rows = _score(read_from(bootstrap, history.topic, offsets_at(bootstrap, history.topic, since)),
                           history.vibration)
        warm_rows = [row for row in _score(read_from(bootstrap, history.topic,
                                                     offsets_at(bootstrap, history.topic, warm_since)),
                                                history.vibration)
                     if row["source_ts_ms"] >= since]
        _publish(bootstrap, first_spec.name, v1_rows)
        _publish(bootstrap, second_spec.name, [{**row, "run": cold_label} for row in cold_rows]
                 + [{**row, "run": warm_label} for row in warm_rows])
        v1, second = (_read_output(bootstrap, spec.name) for spec in (first_spec, second_spec))
    v1 = v1[v1["source_ts_ms"] >= since]
    frames, summary = [], []
    for label in (cold_label, warm_label):
        again = second[second["run"] == label].drop(columns=["run"])
        merged = v1.merge(again, on=["machine_id", "seq"], how="outer", suffixes=("_v1", "_again"), indicator=True)
        same = (
            (merged["_merge"] == "both")
            & ((merged["health_score_v1"] - merged["health_score_again"]).abs() < 1e-9)
            & (merged["state_v1"] == merged["state_again"])
            & pd.Series(
                [_same_features(a, b) for a, b in zip(merged["features_v1"], merged["features_again"])],
                index=merged.index,
            )
        )
        merged = merged.assign(reprocessing=label, identical=same)
        frames.append(merged)
        summary.append({"reprocessing": label, "since_ms": since, "first_output": len(v1),
                        "second_output": len(again), "matched": int((merged["_merge"] == "both").sum()),
                        "identical": int(same.sum()), "differing": int((~same).sum()),
                        "states_differing": int(((merged["_merge"] == "both")
                                                 & (merged["state_v1"] != merged["state_again"])).sum())})
    detail = pd.concat(frames, ignore_index=True).drop(columns=["_merge"])
    return detail, pd.DataFrame(summary)




def replay(bootstrap: str, *, machines: int = 20, history_s: float = 30.0,
           seconds_back: float = 15.0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The three time-travel experiments on one history topic: (seek, group reset, reprocessed detail, summary)."""
    common.require(machines >= 1 and history_s > 0, "write a history of at least one machine and a positive length")
    common.require(0 < seconds_back < history_s, f"seconds_back={seconds_back} must be positive and shorter "
                                                 f"than the history ({history_s} s)")
    spec = common.topic(common.unique("history"), 3, min(3, common.brokers(bootstrap)))
    with common.scratch_topics(bootstrap, [spec]):
        history = write_history(bootstrap, spec.name, machines=machines, seconds=history_s)
        seek = seek_to_time(bootstrap, history, seconds_back)
        reset = reset_with_tool(bootstrap, history, seconds_back)
        detail, summary = reprocess(bootstrap, history, seconds_back)
    return seek, reset, detail, summary
