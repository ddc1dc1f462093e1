"""What a process spends: CPU seconds and resident memory, read from the kernel (psutil).

One home for the sampling the bench, the experiments and the application's run sampler did each
their own way: `cpu_seconds` (user + system, optionally with reaped children), `usage` (CPU and RSS
in one read), `CpuPercent` (per-process CPU % between successive samples), `ResourceMeter` (CPU
seconds and RSS change of a set of processes between start and stop) and `describe` (the facts a
status table shows).
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Usage:
    cpu_s: float      # user + system seconds so far
    rss_bytes: int


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU seconds of ``pid`` (plus its reaped children's with ``children``).

    Raises psutil's errors (`psutil.NoSuchProcess`, `AccessDenied`): a caller decides what a gone process means.
    """
    import psutil

    times = psutil.Process(pid).cpu_times()
    total = times.user + times.system
    if children:
        total += getattr(times, "children_user", 0.0) + getattr(times, "children_system", 0.0)
    return total


def cpu_seconds_or_nan(pid: int) -> float:
    """`cpu_seconds`, or NaN when the process is gone or not ours to read."""
    import psutil

    try:
        return cpu_seconds(pid)
    except psutil.Error:
        return math.nan


def usage(pid: int, children: bool = False) -> Usage:
    """CPU seconds and resident memory of ``pid``, read in one go (psutil's oneshot). Raises psutil's errors."""
    import psutil

    proc = psutil.Process(pid)
    with proc.oneshot():
        times = proc.cpu_times()
        rss = proc.memory_info().rss
    cpu = times.user + times.system
    if children:
        cpu += getattr(times, "children_user", 0.0) + getattr(times, "children_system", 0.0)
    return Usage(cpu, rss)


class CpuPercent:
    """CPU % of named processes between successive samples (100 = one core busy).

    `sample(name, pid, now)` returns (cpu_pct, rss_bytes), or None for the first sample of a name
    (it only sets the baseline) and for a process that is gone or not ours to read.
    """

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, float]] = {}

    def sample(self, name: str, pid: int, now: float | None = None) -> tuple[float, int] | None:
        import psutil

        now = time.time() if now is None else now
        try:
            used = usage(pid)
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            return None
        previous = self._last.get(name)
        self._last[name] = (now, used.cpu_s)
        if previous is None:
            return None
        wall = now - previous[0]
        cpu_pct = 100.0 * (used.cpu_s - previous[1]) / wall if wall > 0 else math.nan
        return cpu_pct, used.rss_bytes


class ResourceMeter:
    """CPU seconds the given processes spent, and how their resident memory changed, between start and stop."""

    def __init__(self, pids: list[int]):
        import psutil

        self._procs = [psutil.Process(pid) for pid in pids]
        self._cpu = self._rss = 0.0

    def _sample(self) -> tuple[float, float]:
        cpu = rss = 0.0
        for proc in self._procs:
            with contextlib.suppress(Exception):
                used = usage(proc.pid, children=True)
                cpu += used.cpu_s
                rss += used.rss_bytes
        return cpu, rss

    def start(self) -> ResourceMeter:
        self._cpu, self._rss = self._sample()
        return self

    def stop(self) -> dict[str, float]:
        """cpu_s and rss_delta_mib; NaN when there was no process to measure."""
        if not self._procs:
            return {"cpu_s": float("nan"), "rss_delta_mib": float("nan")}
        cpu, rss = self._sample()
        return {"cpu_s": cpu - self._cpu, "rss_delta_mib": (rss - self._rss) / 2**20}


def describe(pid: int) -> dict[str, Any]:
    """A process's facts for a status table: program, how long it has run, resident memory, threads.

    Raises `psutil.NoSuchProcess` when it is gone."""
    import psutil

    proc = psutil.Process(pid)
    with proc.oneshot():
        return {"program": proc.name(), "running for (s)": round(time.time() - proc.create_time()),
                "resident memory (MiB)": round(proc.memory_info().rss / 2**20), "threads": proc.num_threads()}
