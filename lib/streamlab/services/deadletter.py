"""What a dead letter carries: the original bytes untouched, and why and where it failed in headers."""

from __future__ import annotations

import time

from ..transport import Record


def dead_letter_headers(record: Record, reason: str, service: str) -> dict[str, bytes]:
    return {
        "error": reason[:1000].encode(),
        "source_topic": record.topic.encode(),
        "source_partition": str(record.partition).encode(),
        "source_offset": str(record.offset).encode(),
        "failed_by": service.encode(),
        "failed_at_ns": str(time.time_ns()).encode(),
        **{f"original_{k}": v for k, v in record.headers.items()},
    }
