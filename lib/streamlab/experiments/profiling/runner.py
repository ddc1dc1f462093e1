"""Run one service under a profiler, in the process the service would have had anyway.

    python -m streamlab.experiments.profiling.runner health_processor --prof out.prof -- --duration 10
    python -m streamlab.experiments.profiling.runner health_processor --lines out.lprof \
        --target streamlab.services.health_processor:Processor.handle -- --duration 10

The service's click command is imported and called (not re-run as ``__main__``),
so the functions line_profiler is told about are the very objects the service
runs. The service stops as it always does (its duration, or SIGTERM, which it
turns into a clean stop), and the profile is written after it returned: a
profile of a service killed mid-batch would not be written at all.

``--from COUNTER`` profiles the steady-state loop only: the profiler starts
when the service first counts COUNTER in its metrics (its loop's counter:
``sent``, ``processed``, ``received``), so the start-up before the first
record -- imports, the client's connection, the idempotent producer's
``IDEMPOTENT_START_S`` wait in ``warm_up`` -- is left out: in profiles of
2,000-record runs that one ``time.sleep`` was the top function (issue 31).
The seconds left out are written beside the profile (``<profile>.window.json``),
so a reader can see what the window excludes.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path


def resolve(target: str):
    """``package.module:Class.method`` → the function object."""
    module_name, _, qualname = target.partition(":")
    obj = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def run_command(service: str, args: list[str]) -> int:
    """Call the service's click command; its exit code (the commands end in SystemExit)."""
    command = importlib.import_module(f"streamlab.services.{service}").main
    try:
        command.main(args=args, prog_name=service, standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def window_path(profile: Path) -> Path:
    """Where the runner says which part of the run a profile covers."""
    return profile.with_name(profile.name + ".window.json")


@contextmanager
def steady_state(profiler, counter: str | None):
    """Enable ``profiler`` for the block, or, with ``counter``, from the moment the service first counts it.

    The services count through ``services.common.Metrics.count``; for the profiled process only, that
    method is wrapped until the first count of ``counter`` has been made (then the original is put
    back, so the loop pays nothing for the hook). Yields a dict that ends up as the window's facts:
    ``startup_s`` (seconds before the profile began) and ``profiled_s``."""
    from ...services.common import Metrics

    window: dict = {"counter": counter, "startup_s": 0.0, "profiled_s": 0.0, "started": False}
    began = time.monotonic()
    started_at: list[float] = []

    def start() -> None:
        started_at.append(time.monotonic())
        window.update(started=True, startup_s=round(started_at[0] - began, 3))
        profiler.enable()

    original = Metrics.count
    if counter is None:
        start()
    else:
        def count(self, name: str, n: float = 1) -> None:
            original(self, name, n)
            if name == counter and not started_at:
                Metrics.count = original    # type: ignore[method-assign]
                start()

        Metrics.count = count               # type: ignore[method-assign]
    try:
        yield window
    finally:
        Metrics.count = original            # type: ignore[method-assign]
        if started_at:
            profiler.disable()
            window["profiled_s"] = round(time.monotonic() - started_at[0], 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("service", help="module under streamlab.services, e.g. health_processor")
    parser.add_argument("--prof", type=Path, help="write a cProfile (pstats) file here")
    parser.add_argument("--lines", type=Path, help="write line_profiler stats here (needs --target)")
    parser.add_argument("--target", action="append", default=[], help="module:Qualified.name to line-profile")
    parser.add_argument("--from", dest="from_counter", metavar="COUNTER",
                        help="start profiling at the service's first count of COUNTER (its loop's metric), "
                             "leaving its start-up out")
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    ns = parser.parse_args(argv[:split])
    args = argv[split + 1:]   # the service's own flags, after "--"
    if bool(ns.prof) == bool(ns.lines):
        parser.error("give exactly one of --prof and --lines")
    if ns.lines:
        from line_profiler import LineProfiler

        if not ns.target:
            parser.error("--lines needs at least one --target")
        profiler = LineProfiler()
        for target in ns.target:
            profiler.add_function(resolve(target))
        out = ns.lines
    else:
        profiler = cProfile.Profile()
        out = ns.prof
    out.parent.mkdir(parents=True, exist_ok=True)
    window: dict = {}
    try:
        with steady_state(profiler, ns.from_counter) as window:
            code = run_command(ns.service, args)
    finally:
        profiler.dump_stats(str(out))
        window_path(out).write_text(json.dumps(window))
    return code


if __name__ == "__main__":
    sys.exit(main())
