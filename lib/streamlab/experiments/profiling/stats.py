"""Reading profiles back: tables and pictures from cProfile and line_profiler files.

Everything here works on the saved files, so a profile taken in a service's
own process (see :mod:`.runner`) is read in the chapter's process.
"""

from __future__ import annotations

import linecache
import pstats
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
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


def icicle_frame(prof: str | Path, max_depth: int = 8, min_share: float = 0.02, root=None) -> pd.DataFrame:
    """Rectangles of an icicle (flame graph upside down) from a pstats call graph.

    pstats keeps, per function, the time spent in it per caller, not whole
    stacks, so the tree is rebuilt the way SnakeViz does: starting from the
    root, each child gets the cumulative time its parent spent calling it,
    scaled down where the child is called from several places (its time is
    split in proportion to the edge). Rectangles narrower than ``min_share``
    of the root (2 %: the functions that matter, as in the call graph) are
    dropped; a function already on the path is not descended into again
    (recursion). ``root`` (a function object, e.g. the service's loop) starts
    the picture there instead of at the profile's top.
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
    frame = pd.DataFrame(rows)
    frame.attrs["prof"] = Path(prof).name  # for the picture's `snakeviz` line
    return frame


#: The call graph's text size: body text of the book (about 15 px) when the picture is shown at its own size.
GRAPH_FONT_PT = 11.0
#: The widest the call graph may be drawn (px): the book's column at a 1280-px window (see streamlab.plots),
#: so the picture is never scaled down and its text keeps GRAPH_FONT_PT.
GRAPH_MAX_WIDTH_PX = 760
_PT_PER_PX = 0.75
#: Longest line of a box: long names (``<method 'consume' of 'cimpl.Consumer' objects>``) wrap.
GRAPH_LABEL_CHARS = 22


@dataclass(frozen=True)
class CallGraph:
    """A drawn call graph: where, and what was left out to keep it legible."""

    svg: Path
    node_threshold: float  # % of the root's (the loop's) time a function needs to get a box
    width_px: float
    nodes: int


def _share_of(stats: pstats.Stats, root: str | None) -> float:
    """The root's cumulative share of the profile (1.0 without a root or when it is not in the profile)."""
    if not root:
        return 1.0
    module, _, rest = root.partition(":")
    line, _, name = rest.partition(":")
    total = stats.total_tt or 1.0  # type: ignore[attr-defined]  # what gprof2dot's percentages are of
    for (filename, first, function), entry in stats.stats.items():  # type: ignore[attr-defined]
        if Path(filename).stem == module and str(first) == line and function == name:
            return min(1.0, entry[3] / total)
    return 1.0


_PCT = re.compile(r"(\d+(?:\.\d+)?)%")


def _restyle(dot: str, share: float, font_pt: float, rankdir: str, caption: str, compact: bool = False) -> str:
    """gprof2dot's dot text made legible: body-size text, percentages of the root (the loop), node labels as
    function / module:line / shares (``compact``: function and shares only, on narrower lines), no edge labels
    (an arrow's width and colour carry its share)."""
    def percent(match: re.Match[str]) -> str:
        return f"{float(match.group(1)) / share:.1f} %"

    def node_label(match: re.Match[str]) -> str:
        parts = match.group(1).split("\\n")
        where, _, function = parts[0].rpartition(":")
        where = "built-in" if where.startswith("~") else where
        width = GRAPH_LABEL_CHARS - (6 if compact else 0)
        function = "\\n".join(textwrap.wrap(function, width, break_on_hyphens=False, break_long_words=False)
                               or [function])
        shares = [_PCT.sub(percent, p) for p in parts[1:3]]
        calls = f", {parts[3]}" if len(parts) > 3 else ""
        own = f"own {shares[1].strip('()')}" if len(shares) > 1 else ""
        if compact:
            return f'label="{function}\\n{shares[0]}\\n{own}{calls}"'
        return f'label="{function}\\n{where}\\n{shares[0]} ({own}){calls}"'

    lines = []
    for line in dot.splitlines():
        if "->" in line:
            line = re.sub(r'label="[^"]*", labeldistance="[^"]*", ', "", line)
        elif re.match(r"\s*\d+ \[", line):
            line = re.sub(r'label="([^"]*)"', node_label, line)
        line = re.sub(r'fontsize="[\d.]+"', f'fontsize="{font_pt:.1f}"', line)
        line = line.replace("graph [fontname=Arial, nodesep=0.125, ranksep=0.25];",
                            f'graph [fontname=Arial, nodesep=0.15, ranksep=0.3, rankdir={rankdir}, '
                            f'label="{caption}", labelloc=b, labeljust=l, fontsize="{font_pt:.1f}"];')
        lines.append(line)
    return "\n".join(lines)


def _svg_width_px(svg_text: str) -> float:
    match = re.search(r'<svg width="([\d.]+)pt"', svg_text)
    return float(match.group(1)) / _PT_PER_PX if match else float("inf")


def call_graph(prof: str | Path, svg: str | Path, node_threshold: float = 2.0, edge_threshold: float = 0.5,
               root: str | None = None, *, max_width_px: float = GRAPH_MAX_WIDTH_PX,
               font_pt: float = GRAPH_FONT_PT) -> CallGraph:
    """Draw the call graph of a .prof file to SVG (gprof2dot makes the dot file, graphviz's ``dot`` draws it),
    legible in the book's column.

    A function gets a box when it has at least ``node_threshold`` % of the root's time (the service's loop;
    of the whole profile without a ``root``), a call an arrow at ``edge_threshold`` %. gprof2dot's own
    defaults (0.5 %) drew some sixty boxes in a picture 1,500 px wide, shrunk to the column with text of
    about 3 px. Here the text is ``font_pt`` (about body size) and the picture at most ``max_width_px``
    wide, so it is shown at its own size: drawn top-down, or left-right where that is narrower, and where
    both are too wide the threshold is raised until it fits (the caption says which threshold was used).
    ``root`` is gprof2dot's ``module:line:function``: only what that function calls is drawn. The caption
    under the graph names the profile and the ``snakeviz`` command that explores it.
    """
    svg = Path(svg)
    share = _share_of(pstats.Stats(str(prof)), root)
    threshold = node_threshold
    best = (float("inf"), "", threshold)  # width (px), SVG, threshold: the narrowest drawing so far
    while True:
        command = [sys.executable, "-m", "gprof2dot", "-f", "pstats", "-n", f"{threshold * share:.3f}",
                   "-e", f"{max(edge_threshold, threshold / 4) * share:.3f}", str(prof)]
        if root:
            command[3:3] = ["-z", root]
        dot = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        caption = (f"functions with at least {threshold:g} % of the {'loop' if root else 'profile'}'s time · "
                   f"explore it: snakeviz {Path(prof).name}")
        # The most informative drawing that fits: full labels before compact ones, top-down before left-right.
        for compact, rankdir in ((False, "TB"), (False, "LR"), (True, "TB"), (True, "LR")):
            drawn = _dot_svg(_restyle(dot, share, font_pt, rankdir, caption, compact))
            width = _svg_width_px(drawn)
            if width < best[0]:
                best = (width, drawn, threshold)
            if width <= max_width_px:
                best = (width, drawn, threshold)
                break
        if best[0] <= max_width_px or threshold >= 20:
            break
        threshold = round(threshold * 1.5, 1)
    width, drawn, used = best
    svg.write_text(drawn, encoding="utf-8")
    return CallGraph(svg, used, width, drawn.count('class="node"'))


def _dot_svg(dot: str) -> str:
    try:
        return subprocess.run(["dot", "-Tsvg"], input=dot, text=True, check=True, capture_output=True).stdout
    except FileNotFoundError:
        from ...errors import UserError

        raise UserError("graphviz's `dot` is missing: install the Debian package graphviz (make setup does)") from None


def call_graph_svg(prof: str | Path, svg: str | Path, node_threshold: float = 2.0,
                   edge_threshold: float = 0.5, root: str | None = None) -> Path:
    """The call graph of a .prof file as an SVG file, legible in the book's column (see :func:`call_graph`)."""
    return call_graph(prof, svg, node_threshold, edge_threshold, root).svg


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
