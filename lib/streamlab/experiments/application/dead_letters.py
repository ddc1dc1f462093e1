"""The dead-letter path: malformed payloads to inject, and the dead letters as a readable table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd


def publish_malformed(publisher: Any, topic: str, count: int, keys: Sequence[str],
                      flush_timeout_s: float = 120.0) -> int:
    """Publish ``count`` payloads no codec accepts (empty, binary junk, wrong fields), for the dead-letter path.

    ``publisher`` is a :class:`streamlab.transport.Publisher`; returns how
    many are still unacknowledged after a flush (0 when all arrived). The
    flush waits long: the run this goes into keeps the brokers busy, and on a
    loaded 2-core machine (CI runs two test workers) 30 s were once not enough.
    """
    variants = (b"", b"\xff\xfe not a message", b'{"machine_id": 7}', b"[1, 2, 3]", b'{"seq": "x"}')
    headers = {"codec": b"orjson", "type": b"telemetry"}
    for i in range(count):
        publisher.publish(topic, keys[i % len(keys)], variants[i % len(variants)], headers)
    return publisher.flush(flush_timeout_s)


def dead_letter_table(messages: Iterable[Any]) -> pd.DataFrame:
    """Dead letters (objects with ``key``, ``value``, ``headers``, ``offset``) as a readable table."""
    rows = []
    for msg in messages:
        headers = {k: (v.decode(errors="replace") if isinstance(v, bytes) else str(v))
                   for k, v in (msg.headers or {}).items()}
        value = msg.value or b""
        rows.append({
            "offset": msg.offset,
            "key": msg.key.decode(errors="replace") if isinstance(msg.key, bytes) else msg.key,
            "payload": value[:24].decode("utf-8", errors="backslashreplace") if value else "(empty)",
            "failed_by": headers.get("failed_by", ""),
            "source": f"{headers.get('source_topic', '?')}[{headers.get('source_partition', '?')}]"
                      f"@{headers.get('source_offset', '?')}",
            "error": headers.get("error", ""),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["offset", "key", "payload", "failed_by", "source", "error"])
