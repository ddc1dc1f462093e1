"""How fresh the fleet's health is where a reader wants it fresh: on the compacted `machine-health-latest`.

The Parquet archive rolls a file every few minutes (as Kafka Connect's file sinks are run), so its files
are not the place to ask "how is machine M now?". The processor publishes each machine's newest health
record of every commit interval to `machine-health-latest` (compacted on Kafka: one record per machine
kept), and that is the fresh view. Its freshness here is, per record the broker still holds, the record's
publish time minus the send time of the reading it scores (`source_ts_ns`), both on this machine's clock:
Kafka's record timestamp is the producer's CreateTime, RabbitMQ's the `timestamp_in_ms` header the
publisher sets. A reader subscribed to the stream sees the record that much after the reading was sent,
plus the broker's own delivery (a fetch or a push, milliseconds).

Kafka: read from the beginning by a fresh group; what compaction already removed is not there (a new
reader would not get it either). RabbitMQ: no group reads the stream, so its records wait in its holding
queue, peeked (left in place).
"""

from __future__ import annotations

import time
import uuid

import numpy as np
import pandas as pd

from ...codecs import get_codec
from ...domain import HealthRecord
from ...pipeline.topics import MACHINE_HEALTH_LATEST

COLUMNS = ["machine_id", "seq", "source_ts_ns", "published_ms", "freshness_ms"]


def rows_of(records, codec_name: str) -> pd.DataFrame:
    """One row per record of the latest stream: its machine, seq, the reading's send time and the record's
    publish time, and the difference in ms. Records that do not decode are left out (not this stream's)."""
    codec = get_codec(codec_name)
    rows = []
    for record in records:
        try:
            health = codec.decode(record.value, HealthRecord)
        except Exception:   # noqa: BLE001 -- a stranger's record is not a figure of ours
            continue
        rows.append({"machine_id": health.machine_id, "seq": health.seq, "source_ts_ns": health.source_ts_ns,
                     "published_ms": record.timestamp_ms,
                     "freshness_ms": record.timestamp_ms - health.source_ts_ns / 1e6})
    return pd.DataFrame(rows, columns=COLUMNS)


def read_latest(transport, broker: str, namespace: str, limit: int = 20_000, idle_s: float = 2.0,
                timeout_s: float = 60.0) -> list:
    """The records of the run's `machine-health-latest` the broker holds (at most `limit`), oldest first."""
    topic = f"{namespace}.{MACHINE_HEALTH_LATEST.name}"
    if broker == "rabbitmq":
        return transport.peek_held(topic, count=limit)
    consumer = transport.consumer([topic], f"{namespace}.freshness-{uuid.uuid4().hex[:6]}", "freshness",
                                  from_beginning=True)
    records: list = []
    started = last = time.monotonic()
    try:
        while len(records) < limit and time.monotonic() - started < timeout_s:
            batch = consumer.poll(timeout=0.5, max_records=5000)
            now = time.monotonic()
            if batch:
                records += batch
                last = now
            elif (records and now - last >= idle_s) or (not records and now - started >= 4 * idle_s):
                break
    finally:
        consumer.close()
    return records[:limit]


def summary(fresh: pd.DataFrame, epoch_ns: int, after_s: float) -> dict[str, float]:
    """Records, p50 / p99 / max freshness (ms) of the records whose reading was sent `after_s` or later."""
    steady = fresh[fresh["source_ts_ns"] >= epoch_ns + after_s * 1e9]["freshness_ms"].to_numpy()
    if len(steady) == 0:
        return {"records": 0, "p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    return {"records": len(steady), "p50_ms": float(np.percentile(steady, 50)),
            "p99_ms": float(np.percentile(steady, 99)), "max_ms": float(steady.max())}
