"""Deep dive 6: retention and compaction — what a topic keeps, watched on the broker's disk.

- `segments`: two topics written at the same steady rate, one with time-based
  retention (`retention.ms`, segments rolled by `segment.ms`) and one with
  size-based retention (`retention.bytes`, segments rolled by `segment.bytes`).
  The partition's folder in the leader's log directory is listed twice a second:
  which segment files exist, how large, and the log start offset (the first
  offset a consumer can still read). Kafka deletes whole segments, never single
  records, and never the active one.
- `compaction`: the application's compacted `machine-health-latest` settings on
  scratch topics (with `segment.ms` cut to seconds): many updates per machine and
  tombstones for decommissioned machines; the records in the log are counted as
  the log cleaner runs, for two `min.cleanable.dirty.ratio` values; then a new
  consumer rebuilds the fleet's latest state from the compacted topic alone and
  it is compared with what was last written.

Deletion and cleaning happen on the broker's own schedule: the local stack sets
`log.retention.check.interval.ms` and `log.cleaner.backoff.ms` to seconds (see
`stack.kafka_local`), so both show within the experiment's window.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd

from ...pipeline.topics import MACHINE_HEALTH_LATEST
from . import common

MB = 1024 * 1024


# --------------------------------------------------------------------------- segments on disk


def _log_dir(kafka, node: int, topic_name: str, partition: int = 0) -> Path:
    return kafka.nodes[node - 1].dir / "data" / f"{topic_name}-{partition}"


def _segment_files(folder: Path) -> list[tuple[int, int]]:
    """(base offset, bytes) of each segment's .log file; a folder being deleted lists nothing."""
    out = []
    for path in folder.glob("*.log"):
        try:
            out.append((int(path.stem), path.stat().st_size))
        except (FileNotFoundError, ValueError):
            continue
    return sorted(out)


def segments(kafka, bootstrap: str, *, seconds: float = 12.0, rate_per_s: float = 400.0, size: int = 1000,
             segment_ms: int = 1000, retention_ms: int = 4000, segment_bytes: int = MB,
             retention_bytes: int = 2 * MB, every_s: float = 0.5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Segment files over time under time and size retention; returns (one row per snapshot × segment, summary).

    Both topics have one partition with one replica, placed on the first
    broker, so their folders are in one known log directory.
    """
    common.require(hasattr(kafka, "nodes"), "this experiment reads the brokers' log directories, which only a "
                                            "local stack allows (STACK=local)")
    common.require(seconds > 0 and rate_per_s > 0 and size > 0, "seconds, rate and record size must be positive")
    common.require(segment_bytes >= MB, f"segment.bytes={segment_bytes} is below Kafka 4's minimum of 1 MiB "
                                        f"({MB} bytes)")
    common.require(retention_bytes >= segment_bytes, "retention_bytes below segment_bytes would keep only the "
                                                     "active segment: raise it")
    common.require(rate_per_s * size * seconds > retention_bytes + segment_bytes,
                   f"{rate_per_s:g} records/s of {size} B for {seconds:g} s never exceed retention.bytes plus a "
                   "segment: nothing could be deleted by size; raise the rate or the seconds")
    common.require(retention_ms < seconds * 1000, f"retention_ms={retention_ms} is longer than the {seconds:g} s "
                                                  "the experiment watches: nothing could be deleted")
    node = common.broker_ids(bootstrap)[0]
    policies = {
        f"time: retention.ms={retention_ms}, segment.ms={segment_ms}":
            common.topic(common.unique("ret-time"), 1, 1, retention_ms=retention_ms, segment_ms=segment_ms,
                         file_delete_delay_ms=0),
        f"size: retention.bytes={retention_bytes // MB} MiB, segment.bytes={segment_bytes // MB} MiB":
            common.topic(common.unique("ret-size"), 1, 1, retention_ms=-1, retention_bytes=retention_bytes,
                         segment_bytes=segment_bytes, file_delete_delay_ms=0),
    }
    layout = {spec.name: [[node]] for spec in policies.values()}
    rows = []
    written = 0
    payload = b"x" * size
    with common.scratch_topics(bootstrap, list(policies.values()), layout):
        writer = common.producer(bootstrap, acks="1", linger_ms=20)
        reader = common.consumer(bootstrap, common.unique("watermarks"))
        started = time.monotonic()
        next_snapshot = started
        while (elapsed := time.monotonic() - started) < seconds:
            due = int(elapsed * rate_per_s)
            while written < due:
                for spec in policies.values():
                    _produce(writer, spec.name, payload)
                written += 1
            writer.poll(0)
            if time.monotonic() >= next_snapshot:
                rows.extend(_snapshot(kafka, reader, node, policies, round(elapsed, 2)))
                next_snapshot += every_s
            time.sleep(0.01)
        writer.flush(30)
        rows.extend(_snapshot(kafka, reader, node, policies, round(time.monotonic() - started, 2)))
        reader.close()
    frame = pd.DataFrame(rows)
    return frame, segments_summary(frame, written, size)


def _produce(writer, topic_name: str, payload: bytes) -> None:
    while True:
        try:
            writer.produce(topic_name, payload)
            return
        except BufferError:
            writer.poll(0.01)


def _watermarks(reader, partition, attempts: int = 5) -> tuple[int, int]:
    """(log start, log end) offsets; (-1, -1) when the leader does not answer (a new topic's metadata settling)."""
    from confluent_kafka import KafkaException

    for _ in range(attempts):
        try:
            return reader.get_watermark_offsets(partition, timeout=5, cached=False)
        except KafkaException:
            time.sleep(0.2)
    return -1, -1


def _snapshot(kafka, reader, node: int, policies: dict, t_s: float) -> list[dict]:
    from confluent_kafka import TopicPartition

    rows = []
    for policy, spec in policies.items():
        start, end = _watermarks(reader, TopicPartition(spec.name, 0))
        if start < 0:
            continue                       # no answer from the leader this time: skip the snapshot
        files = _segment_files(_log_dir(kafka, node, spec.name))
        for base, size in files:
            rows.append({"t_s": t_s, "policy": policy, "segment": base, "bytes": size, "log_start_offset": start,
                         "log_end_offset": end, "segments_on_disk": len(files)})
    return rows


def segments_summary(frame: pd.DataFrame, written: int, size: int) -> pd.DataFrame:
    """Per policy: segments seen, deleted by the end, most bytes on disk at once, the first offset still readable."""
    out = []
    for policy, mine in frame.groupby("policy", sort=False):
        final_t = mine["t_s"].max()
        final = mine[mine["t_s"] == final_t]
        first_deletion = mine[mine["log_start_offset"] > 0]["t_s"]
        out.append(
            {
                "policy": policy,
                "records_written": written,
                "record_bytes": size,
                "segments_seen": mine["segment"].nunique(),
                "segments_deleted": mine["segment"].nunique() - final["segment"].nunique(),
                "segments_at_end": final["segment"].nunique(),
                "max_bytes_on_disk": int(mine.groupby("t_s")["bytes"].sum().max()),
                "bytes_at_end": int(final["bytes"].sum()),
                "first_deletion_s": float(first_deletion.min()) if len(first_deletion) else None,
                "log_start_offset_at_end": int(final["log_start_offset"].iloc[0]),
                "records_readable_at_end": int(final["log_end_offset"].iloc[0] - final["log_start_offset"].iloc[0]),
            }
        )
    return pd.DataFrame(out)


def over_time(frame: pd.DataFrame) -> pd.DataFrame:
    """Per policy and snapshot: segments and MiB on disk, and the log start offset (for the chart)."""
    grouped = frame.groupby(["policy", "t_s"], as_index=False).agg(
        segments=("segment", "nunique"), mib_on_disk=("bytes", "sum"), log_start_offset=("log_start_offset", "first"))
    grouped["mib_on_disk"] = grouped["mib_on_disk"] / MB
    return grouped


# --------------------------------------------------------------------------- compaction


def _health(machine: str, update: int) -> bytes:
    return json.dumps({"machine_id": machine, "update": update, "health_score": round(1 - update / 1000, 3)}).encode()


def _log_counts(bootstrap: str, topic_name: str) -> dict[str, int]:
    records = common.read_all(bootstrap, topic_name)
    return {"records_in_log": len(records), "distinct_keys": len({r.key for r in records}),
            "tombstones_in_log": sum(r.value is None for r in records)}


def compaction(bootstrap: str, *, machines: int = 20, updates: int = 50, decommissioned: int = 2,
               more_updates: int = 2, ratios=(0.1, 0.9), wait_s: float = 20.0,
               watch_s: float = 4.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The compacted latest-health topic at work; returns (log counts over time, rebuilt-state check per topic).

    Phase 1 writes ``updates`` records per machine and a tombstone for
    ``decommissioned`` of them, then waits (at most ``wait_s``) until every topic
    is cleaned. Phase 2 writes ``more_updates`` per live machine and watches
    ``watch_s``: the dirty part is now a fraction of the log, and a topic cleans
    again only if that fraction is above its `min.cleanable.dirty.ratio`.
    """
    common.require(machines >= 1 and updates >= 2, "write at least 2 updates for at least 1 machine")
    common.require(0 <= decommissioned < machines, "decommissioned machines must be fewer than the machines")
    common.require(all(0 < r < 1 for r in ratios), "min.cleanable.dirty.ratio values lie between 0 and 1")
    replication = min(3, common.brokers(bootstrap))
    base = {k.replace(".", "_"): v for k, v in MACHINE_HEALTH_LATEST.config.items()}
    base["min_insync_replicas"] = str(min(2, replication))
    specs = {ratio: common.topic(common.unique(f"latest-{ratio}"), 1, replication,
                                 **{**base, "segment_ms": 1000, "min_cleanable_dirty_ratio": ratio,
                                    "delete_retention_ms": 0, "min_compaction_lag_ms": 0})
             for ratio in ratios}
    names = [s.name for s in specs.values()]
    ids = [f"M{i:03d}" for i in range(machines)]
    latest: dict[str, bytes] = {}
    timeline: list[dict] = []
    with common.scratch_topics(bootstrap, list(specs.values())):
        writer = common.producer(bootstrap, acks="all", enable_idempotence=True, linger_ms=5)

        def send(machine: str, value: bytes | None) -> None:
            for name in names:
                writer.produce(name, value, key=machine.encode())
            if value is None:
                latest.pop(machine, None)
            else:
                latest[machine] = value

        started = time.monotonic()

        def observe(phase: str) -> None:
            t = round(time.monotonic() - started, 2)
            for ratio, spec in specs.items():
                timeline.append({"t_s": t, "phase": phase, "min_cleanable_dirty_ratio": ratio,
                                 **_log_counts(bootstrap, spec.name)})

        for update in range(updates):
            for machine in ids:
                send(machine, _health(machine, update))
        for machine in ids[:decommissioned]:
            send(machine, None)                             # a tombstone: the machine is gone
        writer.flush(30)
        observe("written")
        _roll(writer, send, ids[-1], updates)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            observe("cleaning")
            if all(row["records_in_log"] <= machines + 1 for row in timeline[-len(specs):]):
                break
            time.sleep(0.5)
        for step in range(more_updates):
            for machine in ids[decommissioned:]:
                send(machine, _health(machine, updates + 1 + step))
        writer.flush(30)
        _roll(writer, send, ids[-1], updates + 1 + more_updates)
        observe("more updates")
        watch_end = time.monotonic() + watch_s
        while time.monotonic() < watch_end:
            time.sleep(0.5)
            observe("watching")
        rebuilt = [
            _rebuild_check(bootstrap, spec.name, ratio, latest, updates * machines) for ratio, spec in specs.items()
        ]
    return pd.DataFrame(timeline), pd.DataFrame(rebuilt)


def _roll(writer, send, machine: str, update: int) -> None:
    """Wait out segment.ms and write one more update, so the segment holding the batch is closed and cleanable."""
    time.sleep(1.2)
    send(machine, _health(machine, update))
    writer.flush(30)


def _rebuild_check(bootstrap: str, topic_name: str, ratio: float, latest: dict[str, bytes], written: int) -> dict:
    """A new consumer replays the compacted topic from the start; its table must equal the last values written."""
    started = time.monotonic()
    table: dict[str, bytes] = {}
    records = common.read_all(bootstrap, topic_name)
    for r in records:
        key = r.key.decode()
        if r.value is None:
            table.pop(key, None)
        else:
            table[key] = r.value
    return {"min_cleanable_dirty_ratio": ratio, "records_written": written, "records_read": len(records),
            "machines_rebuilt": len(table), "machines_expected": len(latest),
            "state_identical": table == latest, "rebuild_s": round(time.monotonic() - started, 2)}


def cleaned_verdict(timeline: pd.DataFrame) -> dict[float, bool]:
    """Per ratio: did the log shrink again after the second batch of updates?"""
    out = {}
    for ratio, mine in timeline.groupby("min_cleanable_dirty_ratio"):
        after = mine[mine["phase"].isin(["more updates", "watching"])]["records_in_log"]
        out[float(ratio)] = bool(len(after) and after.iloc[-1] < after.max())
    return out
