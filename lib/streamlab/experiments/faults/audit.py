"""The broker's copy of a stream, read back by an audit group declared before the run.

The audit group is declared before any generator starts (`Transport.ensure_groups`),
so on RabbitMQ its queue receives a copy of every message, and on Kafka its
committed offsets start at the beginning; after the run it reads everything the
broker still holds: the ledger's "on the broker" stage.
"""

from __future__ import annotations

import time

import pandas as pd

from ...codecs import get_codec
from ...domain import MESSAGE_TYPES
from ...pipeline.topics import BY_NAME


def audit_group(namespace: str, stream: str) -> str:
    return f"{namespace}.audit-{stream}"


def declare_audit(transport, namespace: str, streams: list[str]) -> None:
    transport.ensure_groups({audit_group(namespace, s): [f"{namespace}.{s}"] for s in streams})


def read_back(transport, namespace: str, stream: str, codec_name: str, columns: list[str],
              idle_s: float = 1.0, timeout_s: float = 60.0) -> pd.DataFrame:
    """Every record the broker holds on `stream`, decoded: one row per record (duplicates kept), `columns` of it.

    Stops once nothing arrived for `idle_s` (or after `timeout_s`: a bound, never an endless read)."""
    codec = get_codec(codec_name)
    message_type = MESSAGE_TYPES[BY_NAME[stream].message_type]
    consumer = transport.consumer([f"{namespace}.{stream}"], audit_group(namespace, stream), f"audit-{stream}")
    rows: list[dict] = []
    started = last = time.monotonic()
    try:
        while time.monotonic() - last < idle_s and time.monotonic() - started < timeout_s:
            records = consumer.poll(timeout=0.5, max_records=5000)
            if records:
                last = time.monotonic()
            for record in records:
                try:
                    message = codec.decode(record.value, message_type).to_dict()
                except Exception:   # not ours to judge here: the processor dead-letters what does not decode
                    continue
                rows.append({c: message.get(c) for c in columns})
        consumer.commit()
    finally:
        consumer.close()
    return pd.DataFrame(rows, columns=columns)
