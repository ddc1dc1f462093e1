"""The process orchestration the Python drivers share: each producer and consumer in its own process.

Python drivers (`ProcessDriver`) run each producer and each consumer in its own
process (spawned: the GIL would otherwise serialize them); `ChildRun` coordinates
them like this:

1. the parent creates the topic/queues;
2. consumers start, take their partitions/queues and report ready (concurrent runs);
3. producers start, connect and report ready; the parent sets a common start time;
4. producers send for warm-up + duration (max rate, or on a fixed schedule),
   flush, and report what was acknowledged;
5. consumers (started now for sequential runs) read until they have received all
   acknowledged records or a drain timeout passes, then report;
6. the parent merges timelines and histograms and deletes what it created.

Every payload starts with its send time (8 bytes, `time.time_ns()`, little
endian); the consumer's receive time minus that is the end-to-end latency (one
machine, one clock). In fixed-rate mode the stamp is the *intended* send time of
the record's slot in the schedule, so a producer that falls behind shows up as
latency instead of being hidden (coordinated omission).
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import os
import queue as queue_mod
import random
import struct
import sys
import time
import traceback
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from ...measure.latency import LatencyRecorder, Timeline, merge_encoded, summarize
from ...transport import kafka_admin
from ..workload import TIMESTAMP_BYTES, Workload
from .base import Driver, DriverError, Progress, bench_name, create_topic
from .results import RoleResult, RunResult

STAMP = struct.Struct("<Q")


# -- results ------------------------------------------------------------------------------------


# -- drivers ------------------------------------------------------------------------------------


# -- broker plumbing shared by the Kafka drivers ------------------------------------------------


# -- payloads and pacing (used inside the child processes) ---------------------------------------

def payload_template(size: int, seed: int = 0) -> bytearray:
    """`size` bytes of random capital letters (as kafka-producer-perf-test sends); bytes 0–7 get the stamp."""
    rng = random.Random(seed)
    return bytearray(rng.choices(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", k=max(size, TIMESTAMP_BYTES)))


def split_evenly(items: list[Any], parts: int, index: int) -> list[Any]:
    """The share of `items` the `index`-th of `parts` workers takes (round-robin; may be empty)."""
    return [item for i, item in enumerate(items) if i % parts == index]


def share(total: int | None, parts: int, index: int) -> int | None:
    if total is None:
        return None
    return total // parts + (1 if index < total % parts else 0)


class Schedule:
    """Intended send times of a fixed-rate producer: slot i is due at start + i / rate."""

    def __init__(self, rate_per_s: float, start_ns: int) -> None:
        self.interval_ns = 1e9 / rate_per_s
        self.start_ns = start_ns
        self.index = 0

    def next_due_ns(self) -> int:
        return self.start_ns + int(self.index * self.interval_ns)

    def due(self, now_ns: int, limit: int) -> int:
        """How many slots are due at `now_ns` (at most `limit`)."""
        behind = int((now_ns - self.start_ns) / self.interval_ns) + 1 - self.index
        return max(0, min(behind, limit))


# -- process orchestration --------------------------------------------------------------------------

@dataclass
class ChildSpec:
    """What a child process needs to know (pickled to it)."""

    role: str
    index: int
    workload: Workload
    endpoint: str
    target: dict[str, Any]           # topic / queue names
    assignment: list[Any]            # partitions or queues this consumer reads
    settings: dict[str, Any]         # the client configuration (producer / consumer)
    run_tag: str
    max_records: int | None = None   # this producer's share of workload.max_records
    rate: float | None = None        # this producer's records/s (None = max)
    sequential: bool = False


class Control:
    """Shared between the parent and its children: events, the common start time, live counters."""

    def __init__(self, ctx, slots: int) -> None:
        self.go = ctx.Event()                 # producers may start at `start_at`
        self.consume = ctx.Event()            # consumers may start measuring at `consume_at`
        self.stop = ctx.Event()               # everyone: finish now
        self.start_at = ctx.Value("d", 0.0, lock=False)
        self.consume_at = ctx.Value("d", 0.0, lock=False)
        self.counters = ctx.Array("q", slots, lock=False)   # records sent / received per child
        self.results = ctx.Queue()

    # child side ---------------------------------------------------------------------------------
    def ready(self, spec: ChildSpec, info: dict | None = None) -> None:
        self.results.put(("ready", spec.role, spec.index, info or {}))

    def wait_start(self, spec: ChildSpec, timeout: float = 120.0) -> float:
        """Block until the parent says go; return the start time (wall clock, seconds), sleeping until it."""
        event, value = (self.consume, self.consume_at) if spec.role == "consumer" else (self.go, self.start_at)
        if not event.wait(timeout):
            raise DriverError(f"{spec.role} {spec.index}: no start signal within {timeout:.0f}s")
        start = value.value
        delay = start - time.time()
        if delay > 0:
            time.sleep(delay)
        return start

    def report(self, spec: ChildSpec, payload: dict) -> None:
        self.results.put(("result", spec.role, spec.index, payload))


PROFILE_ENV = "STREAMLAB_BENCH_PROFILE"   # a directory: each child writes <process name>.prof there (cProfile)


def _child_main(entry: Callable[[ChildSpec, Control], None], spec: ChildSpec, ctl: Control) -> None:
    try:
        out_dir = os.environ.get(PROFILE_ENV)
        if out_dir:
            _profiled(entry, spec, ctl, out_dir)
        else:
            entry(spec, ctl)
    except BaseException:  # noqa: BLE001 - everything goes back to the parent, which decides
        ctl.results.put(("error", spec.role, spec.index, traceback.format_exc()))
        raise SystemExit(1) from None


def _profiled(entry: Callable[[ChildSpec, Control], None], spec: ChildSpec, ctl: Control, out_dir: str) -> None:
    """Run a child under cProfile (for finding where a client's time goes; it slows the child down)."""
    import cProfile
    from pathlib import Path

    Path(out_dir).mkdir(parents=True, exist_ok=True)
    profile = cProfile.Profile()
    try:
        profile.runcall(entry, spec, ctl)
    finally:
        name = mp.current_process().name or f"{spec.role}-{spec.index}"
        profile.dump_stats(str(Path(out_dir) / f"{name}.prof"))


def producer_payload(*, records: int, errors: int, timeline: Timeline, send_end: float,
                     latency: LatencyRecorder | None = None, extra: dict | None = None) -> dict:
    return {"records": records, "errors": errors, "timeline": timeline.to_dict(), "send_end": send_end,
            "latency": latency.encode() if latency is not None and latency.count else None, **(extra or {})}


def consumer_payload(*, records: int, nbytes: int, timeline: Timeline, first_poll: float, last_receive: float,
                     latency: LatencyRecorder | None, errors: int = 0, extra: dict | None = None) -> dict:
    return {"records": records, "bytes": nbytes, "timeline": timeline.to_dict(), "first_poll": first_poll,
            "last_receive": last_receive, "errors": errors,
            "latency": latency.encode() if latency is not None and latency.count else None, **(extra or {})}


class ProcessDriver(Driver):
    """A Python client driven in child processes; subclasses give the entry points and the broker plumbing."""

    producer_entry: ClassVar[Callable[[ChildSpec, Control], None]]
    consumer_entry: ClassVar[Callable[[ChildSpec, Control], None]]
    START_TIMEOUT_S = 60.0
    FLUSH_TIMEOUT_S = 30.0
    # True: consumers beyond the number of queues share one (RabbitMQ's competing consumers);
    # False: they stay idle, as in a Kafka consumer group with more members than partitions
    competing_consumers: ClassVar[bool] = False

    # -- what a subclass provides ---------------------------------------------------------------------
    @abstractmethod
    def prepare(self, workload: Workload, endpoints: Any) -> dict[str, Any]:
        """Create topic/queues; return {"endpoint", "target", "units" (partitions/queues), "brokers", "replication"}."""

    @abstractmethod
    def cleanup(self, prepared: dict[str, Any], endpoints: Any) -> None: ...

    @abstractmethod
    def client_settings(self, workload: Workload) -> dict[str, Any]:
        """{"producer": {...}, "consumer": {...}}: the configuration the children use (and the results record)."""

    def phases(self, workload: Workload) -> str:
        return workload.phases

    # -- the run --------------------------------------------------------------------------------------
    def run(self, workload: Workload, endpoints: Any, progress: Progress | None = None) -> RunResult:
        progress = progress or Progress(enabled=False)
        phases = self.phases(workload)
        result = RunResult(self.name, self.broker, self.native, workload, client_version=self.client_version(),
                           target_rate=workload.rate, phases=phases)
        units = workload.queues if self.broker == "rabbitmq" else workload.partitions
        if workload.consumers > units and not self.competing_consumers:
            result.notes.append(f"{workload.consumers - units} of {workload.consumers} consumers idle: "
                                f"only {units} partitions")
        settings = self.client_settings(workload)
        result.settings = settings
        progress.note(f"{self.name}: preparing")
        prepared = self.prepare(workload, endpoints)
        result.brokers, result.replication = prepared["brokers"], prepared["replication"]
        result.notes.extend(prepared.get("notes", []))
        try:
            self._orchestrate(workload, prepared, settings, result, progress, sequential=phases == "sequential")
        finally:
            progress.note(f"{self.name}: cleaning up")
            self.cleanup(prepared, endpoints)
        return result

    def _orchestrate(self, wl: Workload, prepared: dict, settings: dict, result: RunResult,
                     progress: Progress, sequential: bool) -> None:
        run = ChildRun(self, wl, prepared, settings, result, progress, sequential)
        run.run()
        self._collect(wl, result, run.reports, wl.producers, wl.consumers, sequential)

    # -- turning child reports into roles ------------------------------------------------------------
    @staticmethod
    def _collect(wl: Workload, result: RunResult, reports: dict, n_prod: int, n_cons: int, sequential: bool) -> None:
        prod = [reports[("producer", i)] for i in range(n_prod)]
        cons = [reports[("consumer", i)] for i in range(n_cons)]
        warm, dur = wl.warmup_s, wl.duration_s
        timeline = Timeline.merge(Timeline.from_dict(p["timeline"]) for p in prod)
        send_end = max(p["send_end"] for p in prod) - timeline.start
        lo, hi = warm, min(warm + dur, send_end)
        if hi - lo < 0.5:                                   # max_records ended the run inside the warm-up
            lo, hi = 0.0, max(timeline.span_s(), 1e-3)          # until the last ack, exact (not bucketed)
            result.notes.append("producers finished before the warm-up ended: the whole run is measured, "
                                "from the common start to the last ack")
            records, nbytes = timeline.total(0.0, math.inf)
        else:
            records, nbytes = timeline.total(lo, hi)
        p_lat = merge_encoded(p.get("latency") for p in prod)
        result.roles["producer"] = RoleResult(
            "producer", records=records, bytes=nbytes, seconds=hi - lo,
            total_records=sum(p["records"] for p in prod), errors=sum(p["errors"] for p in prod),
            latency=summarize(p_lat), per_second=timeline.per_second())
        if not cons:
            return
        ctimeline = Timeline.merge(Timeline.from_dict(c["timeline"]) for c in cons)
        total = sum(c["records"] for c in cons)
        if sequential:
            first = min(c["first_poll"] for c in cons)
            last = max(c["last_receive"] for c in cons)
            seconds = max(last - first, 1e-3)
            consumer = RoleResult("consumer", records=total, bytes=sum(c["bytes"] for c in cons), seconds=seconds,
                                  total_records=total, errors=sum(c["errors"] for c in cons),
                                  per_second=ctimeline.per_second())
        else:
            crecords, cbytes = ctimeline.total(lo, hi)
            consumer = RoleResult("consumer", records=crecords, bytes=cbytes, seconds=hi - lo,
                                  total_records=total, errors=sum(c["errors"] for c in cons),
                                  per_second=ctimeline.per_second())
            e2e = summarize(merge_encoded(c.get("latency") for c in cons))
            result.roles["e2e"] = RoleResult("e2e", records=e2e.count if e2e else 0, total_records=total, latency=e2e)
        result.roles["consumer"] = consumer


class ChildRun:
    """One run of a `ProcessDriver`'s children, phase by phase: start consumers (concurrent runs) and
    producers, let them send, drain the consumers, stop and reap every child.

    The parent's side of the protocol the module docstring describes; the state the phases share (the
    children, who is ready, their reports) lives here. A child's error aborts the run with its last line.
    """

    def __init__(self, driver: ProcessDriver, wl: Workload, prepared: dict, settings: dict, result: RunResult,
                 progress: Progress, sequential: bool) -> None:
        self.driver, self.wl, self.prepared, self.settings = driver, wl, prepared, settings
        self.result, self.progress, self.sequential = result, progress, sequential
        self.name = driver.name
        self.ctx = mp.get_context("spawn")
        self.n_prod, self.n_cons = wl.producers, wl.consumers
        self.ctl = Control(self.ctx, self.n_prod + self.n_cons)
        self.tag = os.urandom(3).hex()
        self.procs: list[mp.process.BaseProcess] = []
        self.ready: set[tuple[str, int]] = set()
        self.reports: dict[tuple[str, int], dict] = {}
        self.producers = {("producer", i) for i in range(self.n_prod)}
        self.consumers = {("consumer", i) for i in range(self.n_cons)}
        self.run_s = wl.warmup_s + wl.duration_s

    def run(self) -> None:
        try:
            if not self.sequential:
                self.start_consumers()
            self.progress.note(f"{self.name}: starting producers")
            for i in range(self.n_prod):
                self.spawn("producer", i)
            self.wait_for(self.producers, self.ready, "ready", self.driver.START_TIMEOUT_S)
            self.send()
            if self.n_cons:
                self.drain(sum(self.reports[k]["records"] for k in self.producers))
            self.ctl.stop.set()
            self.wait_for(self.consumers, self.reports, "finished", 30.0)
        finally:
            self.reap()

    # ---- the children

    def spawn(self, role: str, index: int) -> None:
        driver, wl, prepared = self.driver, self.wl, self.prepared
        entry = type(driver).producer_entry if role == "producer" else type(driver).consumer_entry
        units = list(range(prepared["units"]))
        if role == "consumer":
            if self.n_cons <= len(units) or not driver.competing_consumers:
                assignment = split_evenly(units, self.n_cons, index)
            else:
                assignment = [units[index % len(units)]]
        else:
            assignment = units
        spec = ChildSpec(role=role, index=index, workload=wl, endpoint=prepared["endpoint"],
                         target=prepared["target"], assignment=assignment, settings=self.settings[role],
                         run_tag=self.tag, max_records=share(wl.max_records, self.n_prod, index),
                         rate=wl.per_producer_rate, sequential=self.sequential)
        proc = self.ctx.Process(target=_child_main, args=(entry, spec, self.ctl), name=f"{self.name}-{role}-{index}",
                                daemon=True)
        with _main_module_hidden():
            proc.start()
        self.procs.append(proc)

    def pump(self, timeout: float) -> None:
        """Read one message from the children (or time out); a child's error aborts the run."""
        try:
            kind, role, index, payload = self.ctl.results.get(timeout=timeout)
        except queue_mod.Empty:
            for proc in self.procs:
                if proc.exitcode not in (None, 0):
                    raise DriverError(f"{proc.name} exited with code {proc.exitcode}") from None
            return
        if kind == "ready":
            self.ready.add((role, index))
        elif kind == "result":
            self.reports[(role, index)] = payload
        else:
            raise DriverError(f"{self.name} {role} {index} failed: {_last_line(payload)}\n{payload}")

    def wait_for(self, keys: set[tuple[str, int]], store: set | dict, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not keys <= set(store):
            if time.monotonic() > deadline:
                missing = ", ".join(f"{r} {i}" for r, i in sorted(keys - set(store)))
                raise DriverError(f"{self.name}: {missing} not {what} within {timeout:.0f}s")
            self.pump(0.2)
            self.progress.refresh()

    def received(self) -> int:
        return sum(self.ctl.counters[self.n_prod + i] for i in range(self.n_cons))

    # ---- the phases

    def start_consumers(self) -> None:
        self.progress.note(f"{self.name}: starting consumers")
        for i in range(self.n_cons):
            self.spawn("consumer", i)
        self.wait_for(self.consumers, self.ready, "ready", self.driver.START_TIMEOUT_S)

    def send(self) -> None:
        """A common start for every child, then wait until every producer has reported."""
        ctl, wl = self.ctl, self.wl
        start = time.time() + 0.2
        ctl.start_at.value = start
        if not self.sequential:
            ctl.consume_at.value = start
            ctl.consume.set()
        ctl.go.set()
        flush_s = self.driver.FLUSH_TIMEOUT_S
        deadline = time.monotonic() + self.run_s + flush_s + 5
        while not self.producers <= set(self.reports):
            if time.monotonic() > deadline:
                raise DriverError(f"{self.name}: producers did not finish within {self.run_s + flush_s:.0f}s")
            self.pump(0.2)
            sent = sum(ctl.counters[i] for i in range(self.n_prod))
            phase = "warm-up" if time.time() < start + wl.warmup_s else "measuring"
            received = f", received {self.received():,}" if not self.sequential else ""
            self.progress.note(f"{self.name}: {phase}, sent {sent:,}{received}")

    def drain(self, expected: int) -> None:
        """Consumers read until they hold every acknowledged record, or the drain timeout passes (noted)."""
        if self.sequential:
            self.progress.note(f"{self.name}: consuming {expected:,} records")
            for i in range(self.n_cons):
                self.spawn("consumer", i)
            self.wait_for(self.consumers, self.ready, "ready", self.driver.START_TIMEOUT_S)
            self.ctl.consume_at.value = time.time() + 0.05
            self.ctl.consume.set()
            drain_s = max(30.0, 3 * self.run_s)
        else:
            drain_s = max(10.0, self.wl.duration_s)
        drain_deadline = time.monotonic() + drain_s
        while True:
            got = self.received()
            if got >= expected:
                break
            if time.monotonic() > drain_deadline:
                self.result.notes.append(f"consumers received {got:,} of {expected:,} within the "
                                         f"{drain_s:.0f}s drain timeout")
                break
            self.pump(0.1)
            self.progress.note(f"{self.name}: draining, received {got:,}/{expected:,}")

    def reap(self) -> None:
        """Whatever happened: release every child, join it (terminate the stuck), empty the results queue."""
        ctl = self.ctl
        ctl.stop.set()
        ctl.go.set()
        ctl.consume.set()
        for proc in self.procs:
            proc.join(timeout=10)
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        # leftover results must not keep the queue's feeder thread alive
        try:
            while True:
                ctl.results.get_nowait()
        except (queue_mod.Empty, OSError, ValueError):
            pass


class KafkaProcessDriver(ProcessDriver):
    """A Python Kafka client: one fresh topic per run (the workload's partitions and replication), deleted after."""

    broker: ClassVar[str] = "kafka"

    def prepare(self, workload: Workload, endpoints: Any) -> dict[str, Any]:
        topic = bench_name(self.name)
        bootstrap = endpoints.kafka_bootstrap
        brokers, rf = create_topic(bootstrap, topic, workload.partitions, workload.replication)
        notes = []
        if rf < workload.replication:
            notes.append(f"replication {workload.replication} capped at {rf}: the cluster has {brokers} broker(s)")
        return {"endpoint": bootstrap, "target": {"topic": topic}, "units": workload.partitions,
                "brokers": brokers, "replication": rf, "notes": notes}

    def cleanup(self, prepared: dict[str, Any], endpoints: Any) -> None:
        kafka_admin.delete_topics(endpoints.kafka_bootstrap, [prepared["target"]["topic"]])


@contextlib.contextmanager
def _main_module_hidden():
    """Spawn children without re-running the caller's script.

    The children's code lives in streamlab's modules, so they never need `__main__`;
    hiding its file keeps a script without an `if __name__ == "__main__":` guard
    (or a notebook) from being executed again in every child.
    """
    main = sys.modules.get("__main__")
    hidden = None
    if main is not None and getattr(main, "__spec__", None) is None and "__file__" in main.__dict__:
        hidden = main.__dict__.pop("__file__")
    try:
        yield
    finally:
        if hidden is not None:
            main.__dict__["__file__"] = hidden


def _last_line(text: str) -> str:
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1] if lines else str(text)


__all__ = ["PROFILE_ENV", "STAMP", "ChildSpec", "Control", "KafkaProcessDriver", "ProcessDriver", "Schedule",
           "consumer_payload", "payload_template", "producer_payload", "share", "split_evenly"]
