"""A Kafka group member as its own process, so an experiment can SIGKILL it (a crash, no LeaveGroup).

    python -m streamlab.experiments.patterns.killable_member BOOTSTRAP TOPIC GROUP SESSION_TIMEOUT_MS

Prints ``assigned <n>`` whenever its assignment changes and polls until killed
(or 120 s pass, so a forgotten member cannot live forever).
"""

from __future__ import annotations

import sys
import time


def main(argv: list[str]) -> None:
    bootstrap, topic, group, session_ms = argv
    from .brokers import kafka_consumer

    consumer = kafka_consumer(bootstrap, group, **{"session.timeout.ms": int(session_ms),
                                                   "heartbeat.interval.ms": max(500, int(session_ms) // 6)})
    consumer.subscribe([topic])
    seen = -1
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        consumer.poll(0.2)
        n = len(consumer.assignment())
        if n != seen:
            print(f"assigned {n}", flush=True)
            seen = n
    consumer.close()


if __name__ == "__main__":
    main(sys.argv[1:])
