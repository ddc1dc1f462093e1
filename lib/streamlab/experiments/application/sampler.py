"""`RunSampler`: consumer lag and each service's CPU and memory, sampled in a thread while a run goes on."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from ...measure.machine import MachineCpu, memory_used_mib
from ...measure.process import CpuPercent
from .ground_truth import NS


class RunSampler:
    """Samples consumer lag and each service's CPU and memory in a background thread while a run goes on.

    ``pids`` maps service name → process id (``AppRun.services``); ``lag`` is
    a callable returning {group: lag or None} (e.g. :class:`KafkaLagProbe`),
    or None. Use as a context manager; :meth:`frames` returns the tidy
    ``lag`` (``t_s``, ``group``, ``lag``) and ``resources`` (``t_s``,
    ``service``, ``cpu_pct``, ``rss_mib``) frames, with ``t_s`` relative to
    ``epoch_ns`` (or to the first sample). CPU is in percent of one core, so a
    busy two-core machine reaches 200; the row ``MACHINE`` is the whole
    machine (all processes, memory in use), the context every other number
    needs on a shared machine.
    """

    MACHINE = "(whole machine)"

    def __init__(self, pids: Mapping[str, int], lag: Callable[[], Mapping[str, int | None]] | None = None,
                 interval_s: float = 1.0, epoch_ns: int | None = None) -> None:
        self.pids = dict(pids)
        self.lag = lag
        self.interval_s = interval_s
        self.epoch_ns = epoch_ns
        self.lag_rows: list[dict[str, Any]] = []
        self.resource_rows: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process_cpu = CpuPercent()
        self._machine_cpu = MachineCpu()

    def __enter__(self) -> RunSampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="run-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                self.sample()
                self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))
        finally:
            close = getattr(self.lag, "close", None)
            if close is not None:  # the probe's clients were made on this thread: they end on it
                close()

    def sample(self) -> None:
        """Take one sample now (also what the thread does every interval)."""
        now = time.time()
        machine_pct = self._machine_cpu.percent_of_one_core()  # None: the first call is a baseline
        if machine_pct is not None:
            self.resource_rows.append({"ts": now, "service": self.MACHINE, "cpu_pct": machine_pct,
                                       "rss_mib": memory_used_mib()})
        for service, pid in self.pids.items():
            sample = self._process_cpu.sample(service, pid, now)  # None: a baseline, or the process is gone
            if sample is not None:
                cpu_pct, rss = sample
                self.resource_rows.append({"ts": now, "service": service, "cpu_pct": cpu_pct,
                                           "rss_mib": rss / 2**20})
        if self.lag is not None:
            try:
                lags = self.lag()
            except Exception as exc:  # noqa: BLE001 - a slow or failing broker must not kill the sampler
                if len(self.errors) < 5:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                return
            self.lag_rows.extend({"ts": now, "group": group, "lag": lag} for group, lag in lags.items())

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        lag = pd.DataFrame(self.lag_rows, columns=["ts", "group", "lag"])
        resources = pd.DataFrame(self.resource_rows, columns=["ts", "service", "cpu_pct", "rss_mib"])
        firsts = [frame["ts"].min() for frame in (lag, resources) if len(frame)]
        origin = self.epoch_ns / NS if self.epoch_ns is not None else (min(firsts) if firsts else 0.0)
        for frame in (lag, resources):
            frame.insert(0, "t_s", frame.pop("ts") - origin)
        return lag, resources


def resource_summary(resources: pd.DataFrame) -> pd.DataFrame:
    """Per service: mean and peak CPU (% of one core) and peak resident memory (MiB)."""
    grouped = resources.groupby("service", sort=False)
    return pd.DataFrame({
        "mean CPU (% of a core)": grouped["cpu_pct"].mean().round(1),
        "peak CPU (% of a core)": grouped["cpu_pct"].max().round(1),
        "peak memory (MiB)": grouped["rss_mib"].max().round(1),
        "samples": grouped.size(),
    })  # fmt: skip


def local_broker_pids() -> dict[str, int]:
    """The local stack's running Kafka broker processes by name (none for a Docker or external stack)."""
    from ...stack import get_stack

    try:
        nodes = get_stack("kafka").status()
    except Exception:  # noqa: BLE001 - no local stack to ask: nothing to sample
        return {}
    return {f"kafka broker {n.node}": n.pid for n in nodes if n.pid and n.state == "running"}


def short_group(name: str) -> str:
    """A consumer group's name without the run's namespace (``ch01-ab12.health-processor`` → ``health-processor``)."""
    return name.split(".", 1)[1] if "." in name else name


def steady_lag(lag: pd.DataFrame, start_s: float, end_s: float) -> pd.DataFrame:
    """Median and maximum lag per group (short names) between ``start_s`` and ``end_s``."""
    window = lag[(lag["t_s"] >= start_s) & (lag["t_s"] <= end_s)]
    return window.assign(group=window["group"].map(short_group)).groupby("group")["lag"].agg(["median", "max"])


def machine_busy_pct(resources: pd.DataFrame, start_s: float, end_s: float, cores: int) -> float:
    """The whole machine's mean CPU between ``start_s`` and ``end_s``, in percent of all its cores."""
    rows = resources[(resources["t_s"] >= start_s) & (resources["t_s"] <= end_s)
                     & (resources["service"] == RunSampler.MACHINE)]["cpu_pct"]
    return float(rows.mean()) / cores if len(rows) else math.nan


def split_usage(usage: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A `resource_summary` split into the application's services and the Kafka brokers (whole machine left out)."""
    is_broker = usage.index.str.startswith("kafka broker")
    is_machine = usage.index == RunSampler.MACHINE
    return usage[~is_broker & ~is_machine], usage[is_broker]
