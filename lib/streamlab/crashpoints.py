"""Deterministic crash points: a service SIGKILLs itself the N-th time it passes a named point.

A reliability promise is tested at its worst moment (a kill between write and
commit), and a kill from outside lands there only by luck. The services mark
their worst moments with one call, ``crashpoints.reach("<service>.<moment>")``;
the fault harness arms one of them through the environment::

    STREAMLAB_CRASH_AT=health-parquet-sink.after_write:3   # SIGKILL at the 3rd pass

``STREAMLAB_CRASH_STAMP=<file>`` makes the crash happen once per stamp file: the
point writes the file (the kill time in ns, for the recovery clock) just before
it kills, and a process that finds the file already there is disarmed, so a
restarted service (by hand or by a supervisor, with the same environment) runs on.

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


def parse(spec: str, stamp: str = "") -> CrashPlan | None:
    """``point`` or ``point:N`` (N ≥ 1) → a plan; empty → None. A malformed spec is a ValueError, not a silent no-op."""
    spec = spec.strip()
    if not spec:
        return None
    point, _, count = spec.rpartition(":") if ":" in spec else (spec, "", "1")
    if not point or not count.isdigit() or int(count) < 1:
        raise ValueError(f"{ENV_AT}={spec!r}: expected <point> or <point>:<N> with N >= 1")
    return CrashPlan(point, int(count), stamp)


def _from_env() -> CrashPlan | None:
    plan = parse(os.environ.get(ENV_AT, ""), os.environ.get(ENV_STAMP, ""))
    if plan is not None and plan.stamp and os.path.exists(plan.stamp):
        return None   # this crash has happened already: the restarted process runs on
    return plan


_plan: CrashPlan | None = _from_env()
_passes = 0


def arm(plan: CrashPlan | None) -> None:
    """Replace the plan read from the environment (tests; a harness in-process)."""
    global _plan, _passes
    _plan, _passes = plan, 0


def reach(point: str) -> None:
    """Pass the named point; SIGKILL this process if it is the armed point's N-th pass."""
    if _plan is None or point != _plan.point:
        return
    global _passes
    _passes += 1
    if _passes < _plan.nth:
        return
    if _plan.stamp:
        with open(_plan.stamp, "w") as handle:
            handle.write(f"{time.time_ns()}\n")
            handle.flush()
            os.fsync(handle.fileno())
    os.kill(os.getpid(), signal.SIGKILL)
