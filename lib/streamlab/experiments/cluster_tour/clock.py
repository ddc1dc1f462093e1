"""One clock for every thread of an experiment (bounded waiting is `streamlab.polling.holds_within`)."""

from __future__ import annotations

import time


class Clock:
    """Seconds since the experiment started, one monotonic clock for every thread."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def now(self) -> float:
        return time.perf_counter() - self.start
