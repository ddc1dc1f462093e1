"""Deterministic crash points: a service SIGKILLs itself the N-th time it passes a named point.

A reliability promise is tested at its worst moment (a kill between write and
commit), and a kill from outside lands there only by luck. The services mark
their worst moments with one call, ``crashpoints.reach("<service>.<moment>")``;
the fault harness arms one of them through the environment::

    STREAMLAB_CRASH_AT=health-parquet-sink.after_write:3   # SIGKILL at the 3rd pass
    STREAMLAB_CRASH_AT=health-processor.after_publish:30,alert-csv-sink.after_write:1   # several services

``STREAMLAB_CRASH_STAMP=<prefix>`` makes each crash happen once: the point writes
``<prefix>.<point>`` (the kill time in ns, for the recovery clock) just before it
kills, and a process that finds that file already there is disarmed for the point,
so a restarted service (by hand or by a supervisor, same environment) runs on.

Unset, ``reach`` is one comparison against ``None``: the plan is read once, at import.
SIGKILL, not an exception: no ``finally``, no flush, no atexit, exactly as a power cut or the OOM killer.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

ENV_AT = "STREAMLAB_CRASH_AT"
ENV_STAMP = "STREAMLAB_CRASH_STAMP"


@dataclass(frozen=True)
class CrashPlan:
    point: str
    nth: int = 1
    stamp: str = ""


def parse_one(spec: str, stamp_prefix: str = "") -> CrashPlan:
    """``point`` or ``point:N`` (N ≥ 1) → a plan. A malformed spec is a ValueError, not a silent no-op."""
    spec = spec.strip()
    point, _, count = spec.rpartition(":") if ":" in spec else (spec, "", "1")
    if not point or not count.isdigit() or int(count) < 1:
        raise ValueError(f"{ENV_AT}={spec!r}: expected <point> or <point>:<N> with N >= 1")
    return CrashPlan(point, int(count), f"{stamp_prefix}.{point}" if stamp_prefix else "")


def parse(spec: str, stamp_prefix: str = "") -> dict[str, CrashPlan]:
    """A comma-separated list of ``point[:N]`` → plans by point; empty → no plan."""
    plans = [parse_one(part, stamp_prefix) for part in spec.split(",") if part.strip()]
    return {plan.point: plan for plan in plans}


def _from_env() -> dict[str, CrashPlan]:
    plans = parse(os.environ.get(ENV_AT, ""), os.environ.get(ENV_STAMP, ""))
    # a crash that has happened already (its stamp exists) is disarmed: the restarted process runs on
    return {p: plan for p, plan in plans.items() if not (plan.stamp and os.path.exists(plan.stamp))}


_plans: dict[str, CrashPlan] = _from_env()
_passes: dict[str, int] = {}


def arm(plans: dict[str, CrashPlan]) -> None:
    """Replace the plans read from the environment (tests; a harness in-process)."""
    global _plans
    _plans = dict(plans)
    _passes.clear()


def reach(point: str) -> None:
    """Pass the named point; SIGKILL this process if it is an armed point's N-th pass."""
    if not _plans:
        return
    plan = _plans.get(point)
    if plan is None:
        return
    _passes[point] = _passes.get(point, 0) + 1
    if _passes[point] < plan.nth:
        return
    if plan.stamp:
        with open(plan.stamp, "w") as handle:
            handle.write(f"{time.time_ns()}\n")
            handle.flush()
            os.fsync(handle.fileno())
    os.kill(os.getpid(), signal.SIGKILL)
