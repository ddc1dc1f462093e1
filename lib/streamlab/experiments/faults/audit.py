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
              idle_s: float = 1.0, empty_s: float = 5.0, timeout_s: float = 60.0) -> pd.DataFrame:
    """Every record the broker holds on `stream`, decoded: one row per record (duplicates kept), `columns` of it.

    Stops once nothing arrived for `idle_s` after a record (or after `timeout_s`: a bound, never an endless
    read). Before the first record the wait is `empty_s` from the moment the consumer is assigned: joining
    the group and finding the first offsets can take longer than `idle_s` on a loaded machine, and an early
    stop would report a full stream as empty."""
    codec = get_codec(codec_name)
    message_type = MESSAGE_TYPES[BY_NAME[stream].message_type]
    consumer = transport.consumer([f"{namespace}.{stream}"], audit_group(namespace, stream), f"audit-{stream}")
    rows: list[dict] = []
    started = time.monotonic()
    last: float | None = None        # when the last record arrived
    assigned: float | None = None    # when the consumer first reported its assignment
    try:
        while time.monotonic() - started < timeout_s:
            records = consumer.poll(timeout=0.5, max_records=5000)
            now = time.monotonic()
            if records:
                last = now
            elif assigned is None and consumer.assignment_ready():
                assigned = now
            if not records and _drained(now, last, assigned, idle_s, empty_s):
                break
            for record in records:
                try:
                    message = codec.decode(record.value, message_type).to_dict()
                except Exception:  # noqa: BLE001 - not ours to judge here: the processor dead-letters what does not decode
                    continue
                rows.append({c: message.get(c) for c in columns})
        consumer.commit()
    finally:
        consumer.close()
    return pd.DataFrame(rows, columns=columns)


def _drained(now: float, last: float | None, assigned: float | None, idle_s: float, empty_s: float) -> bool:
    """Nothing more to come: quiet for `idle_s` since a record, or no record `empty_s` after assignment."""
    if last is not None:
        return now - last >= idle_s
    return assigned is not None and now - assigned >= empty_s
