"""The consumer that deep dive 5 SIGKILLs: it reads a topic into a file in batches and may die at one batch.

Its own small module so that the process starts fast (no pandas, no domain):
``python -m streamlab.experiments.deepdives.offsets_worker '<json WorkerPlan>'``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass

from ...transport.kafka_confluent import commit_sync
from . import common

MODES = ("auto-commit", "commit-after-write")
CRASH_POINTS = ("before write", "after write, before commit")


@dataclass(frozen=True)
class WorkerPlan:
    """What one consumer process does: read a topic into a file in batches, maybe die at one batch."""

    bootstrap: str
    topic: str
    group: str
    out: str
    mode: str                      # one of MODES
    batch: int = 200               # records written (and, after-write, committed) together
    crash_at_batch: int = 0        # 0: no crash; n: SIGKILL itself at the n-th batch
    crash_point: str = ""          # one of CRASH_POINTS
    idle_exit_s: float = 0.3       # stop once nothing arrived for this long and every partition is drained


def run_worker(plan: WorkerPlan) -> None:
    """The consumer loop. Partitions are assigned (no group membership), so a restart resumes at once
    from the committed offsets instead of waiting for the dead member's session to expire."""
    from confluent_kafka import TopicPartition

    auto = plan.mode == "auto-commit"
    reader = common.consumer(plan.bootstrap, plan.group, enable_auto_commit=auto, auto_commit_interval_ms=100)
    parts = reader.list_topics(plan.topic, timeout=10).topics[plan.topic].partitions
    reader.assign([TopicPartition(plan.topic, p) for p in parts])  # OFFSET_STORED: the committed offset
    buffer: list[str] = []
    batches = 0
    quiet_since = time.monotonic()
    with open(plan.out, "a", encoding="utf-8") as sink:
        while True:
            messages = [m for m in reader.consume(plan.batch - len(buffer), 0.1) if not m.error()]
            buffer.extend(m.value().decode() for m in messages)
            if messages:
                quiet_since = time.monotonic()
            if len(buffer) >= plan.batch or (buffer and time.monotonic() - quiet_since > 0.3):
                batches += 1
                crash_here = batches == plan.crash_at_batch
                if crash_here and plan.crash_point == CRASH_POINTS[0]:
                    if auto:
                        time.sleep(0.5)  # several auto-commit intervals: what was read is now committed
                    os.kill(os.getpid(), signal.SIGKILL)
                sink.write("".join(f"{value}\n" for value in buffer))
                sink.flush()
                os.fsync(sink.fileno())
                if crash_here:
                    os.kill(os.getpid(), signal.SIGKILL)
                if not auto:
                    commit_sync(reader)
                buffer.clear()
            elif not buffer and time.monotonic() - quiet_since > plan.idle_exit_s and _drained(reader, plan.topic):
                break
    reader.close()  # auto-commit: commits the final position on the way out


def _drained(reader, topic_name: str) -> bool:
    """Every assigned partition read up to its high watermark."""
    from confluent_kafka import KafkaException

    assigned = reader.assignment()
    try:
        positions = reader.position(assigned)
        committed = {tp.partition: tp.offset for tp in reader.committed(assigned, timeout=5)}
    except KafkaException:  # the group coordinator is moving or not there yet: not drained as far as we know
        return False
    return bool(positions) and all(
        (tp.offset if tp.offset >= 0 else committed.get(tp.partition, -1))
        >= reader.get_watermark_offsets(tp, timeout=5, cached=False)[1] for tp in positions)


def main() -> None:
    run_worker(WorkerPlan(**json.loads(sys.argv[1])))


if __name__ == "__main__":
    main()
