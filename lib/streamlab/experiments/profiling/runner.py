"""Run one service under a profiler, in the process the service would have had anyway.

    python -m streamlab.experiments.profiling.runner health_processor --prof out.prof -- --duration 10
    python -m streamlab.experiments.profiling.runner health_processor --lines out.lprof \
        --target streamlab.services.health_processor:Processor.handle -- --duration 10

The service's click command is imported and called (not re-run as ``__main__``),
so the functions line_profiler is told about are the very objects the service
runs. The service stops as it always does (its duration, or SIGTERM, which it
turns into a clean stop), and the profile is written after it returned: a
profile of a service killed mid-batch would not be written at all.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import sys
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("service", help="module under streamlab.services, e.g. health_processor")
    parser.add_argument("--prof", type=Path, help="write a cProfile (pstats) file here")
    parser.add_argument("--lines", type=Path, help="write line_profiler stats here (needs --target)")
    parser.add_argument("--target", action="append", default=[], help="module:Qualified.name to line-profile")
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
    profiler.enable()
    try:
        code = run_command(ns.service, args)
    finally:
        profiler.disable()
        profiler.dump_stats(str(out))
    return code


if __name__ == "__main__":
    sys.exit(main())
