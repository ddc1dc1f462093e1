"""The machine a figure was measured on, and how busy it was: facts (CPU, cores, memory) and a CPU-load sampler.

One home for what every result reports beside its numbers (shared/DESIGN.md, "Measurement rules"):
the charts' subtitle (`streamlab.plots`), the build's run facts (`streamlab.book.run_facts`) and the bench's machine
description (`streamlab.bench.run.machine_description`) all read it from here.
"""

from __future__ import annotations

import os
import platform
import time
from functools import cache
from typing import Any

import pandas as pd


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, or platform's guess elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name"):
                    return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine()


@cache
def machine_facts() -> dict[str, Any]:
    """Facts about the machine running this process, as the book reports them.

    Cached: the machine does not change within a kernel's life, and charts
    call it for their subtitle.
    """
    import psutil

    return {
        "cpu": cpu_model(),
        "logical cores": psutil.cpu_count(logical=True) or os.cpu_count() or 0,
        "physical cores": psutil.cpu_count(logical=False) or 0,
        "memory (GiB)": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def sample_cpu_load(seconds: float, every: float = 0.25) -> pd.DataFrame:
    """Per-core CPU busy percentage sampled for ``seconds``: how noisy the machine is.

    Tidy: one row per (sample, core) with ``t_s`` (seconds since start),
    ``core`` and ``busy_pct``. Measurements on a busy machine are only
    comparable side by side, which is why the book reports this.
    """
    import psutil

    psutil.cpu_percent(percpu=True)  # the first call only sets the baseline
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        busy = psutil.cpu_percent(interval=every, percpu=True)
        t = round(time.perf_counter() - start, 3)
        rows.extend({"t_s": t, "core": f"core {i}", "busy_pct": pct} for i, pct in enumerate(busy))
    return pd.DataFrame(rows, columns=["t_s", "core", "busy_pct"])


class MachineCpu:
    """The whole machine's CPU use between successive calls, in percent of one core (200 = two cores busy).

    The first call only sets psutil's baseline and returns None.
    """

    def __init__(self) -> None:
        self._started = False

    def percent_of_one_core(self) -> float | None:
        import psutil

        pct = psutil.cpu_percent(interval=None)  # since the previous call; the first call is a baseline
        started, self._started = self._started, True
        return pct * (psutil.cpu_count() or 1) if started else None


def memory_used_mib() -> float:
    """The machine's memory in use (psutil's ``used``), MiB."""
    import psutil

    return psutil.virtual_memory().used / 2**20
