"""Write probes: which writes a cluster accepts under one ``acks`` setting, and librdkafka's error names."""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any

from ...transport.kafka_admin import quiet_logger


def error_name(error: str | None) -> str:
    """``KafkaError{code=NOT_ENOUGH_REPLICAS,val=19,str="..."}`` → ``NOT_ENOUGH_REPLICAS``."""
    if not error:
        return ""
    match = re.search(r"code=([A-Z_]+)", error)
    return match.group(1) if match else error.split(":")[0][:60]


def error_text(error: str | None) -> str:
    """The human part of a librdkafka error: ``Broker: Not enough in-sync replicas``."""
    if not error:
        return ""
    match = re.search(r'str="([^"]*)"', error)
    return match.group(1) if match else error[:120]


def probe_writes(bootstrap: str, topic: str, acks: str, messages: int = 12, timeout_s: float = 3.0,
                 partitions: int = 3) -> dict[str, Any]:
    """Send a few messages with one ``acks`` setting, no retries, a bounded timeout; count the outcomes.

    Retries are off so that the broker's answer reaches us as it is
    (``NOT_ENOUGH_REPLICAS``) instead of being retried until the timeout.
    The messages go round-robin to explicit partitions (a plain producer,
    not the transport, which leaves the partition to the key), so every
    partition is probed equally and the outcome can be read per partition.
    """
    from confluent_kafka import Producer

    outcomes: list[tuple[int, str | None]] = []
    producer = Producer({"bootstrap.servers": bootstrap, "client.id": f"tour-probe-acks{acks}",
                         "logger": quiet_logger(), "acks": acks, "enable.idempotence": False, "retries": 0,
                         "message.timeout.ms": int(timeout_s * 1000), "linger.ms": 0})
    started = time.perf_counter()
    for i in range(messages):
        producer.produce(topic, f"probe-{i}".encode(), partition=i % partitions,
                         on_delivery=lambda err, msg: outcomes.append((msg.partition(), None if err is None
                                                                       else str(err))))
    producer.flush(timeout_s + 5)
    seconds = time.perf_counter() - started
    errors = Counter(e for _, e in outcomes if e is not None)
    first = errors.most_common(1)[0][0] if errors else None
    acked_partitions = sorted({p for p, e in outcomes if e is None})
    return {"acks": acks, "sent": messages, "acknowledged": sum(e is None for _, e in outcomes),
            "failed": sum(e is not None for _, e in outcomes), "error": error_name(first),
            "error_text": error_text(first), "partitions acknowledged": " ".join(map(str, acked_partitions)),
            "seconds": round(seconds, 2)}
