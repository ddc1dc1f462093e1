"""Reading profiles back: tables and pictures from cProfile and line_profiler files.

Everything here works on the saved files, so a profile taken in a service's
own process (see :mod:`.runner`) is read in the chapter's process.
"""

from __future__ import annotations

import linecache
import pstats
import subprocess
import sys
from pathlib import Path

import pandas as pd

TOP_COLUMNS = ["rank", "function", "where", "calls", "own_s", "cumulative_s", "per_call_us"]
LINE_COLUMNS = ["function", "line", "hits", "time_ms", "per_hit_us", "pct_time", "source"]
ORDERS = {"cumulative": "cumulative_s", "own": "own_s", "calls": "calls"}
# The frames every service run has around its loop (the runner, click, the service's entry point):
# by cumulative time they would top every table while saying nothing about the service.
WRAPPER_SHARE = 0.97


def _label(func: tuple[str, int, str]) -> tuple[str, str]:
    """(function name, short file:line) of a pstats key."""
    filename, line, name = func
    if filename == "~":  # built-ins: cProfile names them "<built-in method ...>"
        return name, "built-in"
    parts = Path(filename).parts
    short = "/".join(parts[parts.index("streamlab"):]) if "streamlab" in parts else "/".join(parts[-2:])
    return name, f"{short}:{line}"


def stats_frame(prof: str | Path) -> pd.DataFrame:
    """One row per function of a .prof file: calls, own time, cumulative time (seconds)."""
    stats = pstats.Stats(str(prof))
    rows = []
    for func, (primitive, calls, own, cumulative, _callers) in stats.stats.items():
        name, where = _label(func)
        rows.append({"function": name, "where": where, "calls": calls, "primitive_calls": primitive,
                     "own_s": own, "cumulative_s": cumulative, "key": func})
    frame = pd.DataFrame(rows)
    frame.attrs["total_s"] = stats.total_tt
    return frame


# Frames around a service's loop rather than in it: the profiling runner, click and typer, the shared service entry
# (services/common.py), and Python's import machinery (the service's imports are profiled too).
WRAPPER_WHERE = ("click/", "typer/", "profiling/runner.py", "services/common.py", "frozen importlib", "importlib/")
WRAPPER_FUNCTIONS = ("<module>", "<built-in method builtins.exec>", "<built-in method builtins.__import__>",
                     "main")


def _is_wrapper(frame: pd.DataFrame) -> pd.Series:
    where = frame["where"].map(lambda w: any(part in w for part in WRAPPER_WHERE))
    return where | frame["function"].isin(WRAPPER_FUNCTIONS) | frame["function"].str.contains("_find_and_load")


def top_functions(prof: str | Path, by: str = "cumulative", n: int = 3) -> pd.DataFrame:
    """The top ``n`` functions of a profile by ``cumulative`` time, ``own`` time or ``calls``.

    For cumulative time the wrapper frames (cumulative time ≥ 97 % of the run,
    the runner, click, the service's ``main``) are left out, since they contain
    everything, and so are the import frames.
    """
    if by not in ORDERS:
        raise ValueError(f"by must be one of {', '.join(ORDERS)}, got {by!r}")
    frame = stats_frame(prof)
    total = frame.attrs["total_s"]
    if by == "cumulative":
        frame = frame[(frame["cumulative_s"] < WRAPPER_SHARE * total) & ~_is_wrapper(frame)]
    frame = frame.sort_values(ORDERS[by], ascending=False).head(n).copy()
    frame["per_call_us"] = frame["cumulative_s"] / frame["calls"].clip(lower=1) * 1e6
    frame.insert(0, "rank", range(1, len(frame) + 1))
    return frame[TOP_COLUMNS].reset_index(drop=True)


def icicle_frame(prof: str | Path, max_depth: int = 8, min_share: float = 0.01, root=None) -> pd.DataFrame:
    """Rectangles of an icicle (flame graph upside down) from a pstats call graph.

    pstats keeps, per function, the time spent in it per caller, not whole
    stacks, so the tree is rebuilt the way SnakeViz does: starting from the
    root, each child gets the cumulative time its parent spent calling it,
    scaled down where the child is called from several places (its time is
    split in proportion to the edge). Rectangles narrower than ``min_share``
    of the root are dropped; a function already on the path is not descended
    into again (recursion). ``root`` (a function object, e.g. the service's
    loop) starts the picture there instead of at the profile's top.
    """
    stats = pstats.Stats(str(prof)).stats
    children: dict[tuple, list[tuple[tuple, float]]] = {}
    for func, (_cc, _nc, _tt, _ct, callers) in stats.items():
        for caller, edge in callers.items():
            children.setdefault(caller, []).append((func, edge[3]))
    called = {func for func, entry in stats.items() if entry[4]}
    roots = [func for func in stats if func not in called]
    if root is not None:
        code = root.__code__
        roots = [func for func in stats
                 if func[2] == code.co_name and func[1] == code.co_firstlineno and func[0] == code.co_filename]
    total = sum(stats[r][3] for r in roots) or 1.0
    rows: list[dict] = []

    def walk(func: tuple, start: float, width: float, depth: int, path: frozenset) -> None:
        name, where = _label(func)
        rows.append({"function": name, "where": where, "depth": depth, "start": start / total,
                     "end": (start + width) / total, "seconds": width, "share": width / total})
        if depth + 1 >= max_depth:
            return
        own_cumulative = stats[func][3] or 1e-12
        edges = [(child, width * edge / own_cumulative) for child, edge in children.get(func, []) if child not in path]
        # Recursion through a shared function (sum() calling a generator calling sum()) counts an edge's time
        # twice; the children never get more room than their parent has.
        scale = min(1.0, width / (sum(w for _c, w in edges) or 1.0))
        offset = start
        for child, child_width in sorted(edges, key=lambda c: -c[1]):
            child_width *= scale
            if child_width / total >= min_share:
                walk(child, offset, child_width, depth + 1, path | {child})
            offset += child_width

    offset = 0.0
    for root in sorted(roots, key=lambda r: -stats[r][3]):
        width = stats[root][3]
        if width / total >= min_share:
            walk(root, offset, width, 0, frozenset({root}))
        offset += width
    return pd.DataFrame(rows)


def call_graph_svg(prof: str | Path, svg: str | Path, node_threshold: float = 2.0,
                   edge_threshold: float = 0.5, root: str | None = None) -> Path:
    """Render the call graph of a .prof file to SVG: gprof2dot makes the dot file, graphviz's ``dot`` draws it.

    Nodes below ``node_threshold`` % of the total time and edges below
    ``edge_threshold`` % are left out, as gprof2dot does by default, so the
    picture shows the paths that matter. ``root`` (gprof2dot's
    ``module:line:function``, e.g. ``health_processor:236:run``) keeps only
    what that function calls: the service's loop without its start-up imports.
    """
    svg = Path(svg)
    command = [sys.executable, "-m", "gprof2dot", "-f", "pstats", "-n", str(node_threshold),
               "-e", str(edge_threshold), str(prof)]
    if root:
        command[3:3] = ["-z", root]
    dot = subprocess.run(command, capture_output=True, text=True, check=True)
    try:
        subprocess.run(["dot", "-Tsvg", "-o", str(svg)], input=dot.stdout, text=True, check=True,
                       capture_output=True)
    except FileNotFoundError:
        from ...errors import UserError

        raise UserError("graphviz's `dot` is missing: install the Debian package graphviz (make setup does)") from None
    return svg


def gprof2dot_name(func) -> str:
    """How gprof2dot names a Python function of a pstats file (``module:line:name``), e.g. for ``root``."""
    code = func.__code__
    return f"{Path(code.co_filename).stem}:{code.co_firstlineno}:{code.co_name}"


def load_line_stats(path: str | Path):
    """line_profiler's stats saved by the runner (``LineStats``: timings per function, unit in seconds)."""
    from line_profiler import load_stats

    return load_stats(str(path))


def line_table(path: str | Path, min_pct: float = 0.0) -> pd.DataFrame:
    """line_profiler's result as a table: per profiled function, each line with hits, time and % of the function.

    ``min_pct`` drops lines below that share of their function's time (and lines never hit).
    """
    stats = load_line_stats(path)
    rows = []
    for (filename, _first, name), timings in stats.timings.items():
        total = sum(t for _line, _hits, t in timings) or 1
        for line, hits, time_units in timings:
            pct = 100.0 * time_units / total
            if hits == 0 or pct < min_pct:
                continue
            rows.append({"function": name, "line": line, "hits": hits, "time_ms": time_units * stats.unit * 1e3,
                         "per_hit_us": time_units * stats.unit * 1e6 / hits, "pct_time": pct,
                         "source": linecache.getline(filename, line).rstrip()})
    return pd.DataFrame(rows, columns=LINE_COLUMNS)
