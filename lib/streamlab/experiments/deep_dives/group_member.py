"""One consumer-group member in its own process, so that deep dive 1 can kill it (SIGKILL) or stop it (SIGTERM).

``python -m streamlab.experiments.deep_dives.group_member BOOTSTRAP GROUP TOPIC [key=value ...]``:
subscribes, consumes until SIGTERM, then closes (a graceful leave: LeaveGroup
and its last commit). SIGKILL leaves the coordinator to notice the silence.
"""

from __future__ import annotations

import signal
import sys
import threading
import time

from . import common


def main(argv: list[str]) -> int:
    bootstrap, group, topic_name, *pairs = argv
    settings = dict(pair.split("=", 1) for pair in pairs)
    stop = threading.Event()
    asked: list[float] = []
    signal.signal(signal.SIGTERM, lambda *_: (asked.append(time.monotonic()), stop.set()))
    client = common.consumer(bootstrap, group, enable_auto_commit=True, auto_commit_interval_ms=500,
                             **{k.replace(".", "_"): v for k, v in settings.items()})
    client.subscribe([topic_name])
    try:
        while not stop.is_set():
            client.consume(500, 0.1)
    finally:
        client.close()
    if asked:  # how long the graceful leave took, for the parent to report
        print(f"closed_after_s={time.monotonic() - asked[0]:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
