"""One clock for every thread of an experiment, and bounded waiting: no wait in the tour is open-ended."""

from __future__ import annotations

import time
from collections.abc import Callable


class Clock:
    """Seconds since the experiment started, one monotonic clock for every thread."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def now(self) -> float:
        return time.perf_counter() - self.start


def wait_for(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.1) -> bool:
    """Poll ``predicate`` until it holds or ``timeout_s`` passes; exceptions count as "not yet"."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if predicate():
                return True
        except Exception:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)
