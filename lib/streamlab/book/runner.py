"""The book runner: execute the chapters with papermill into a mirror tree, then build the HTML.

    python -m streamlab.book [--profile quick|full] [--chapters 00,01]
                         [--param NAME=VALUE ...] [--cell-timeout 600]
                         [--build | --no-build] [--build-root _build]

Why a mirror tree. Chapters are MyST Markdown notebooks (``book/chapters/*.md``)
that must run against live brokers, which jupyter-book's own execution cannot
parameterise or time out per cell. So every chapter is converted by jupytext and
executed by papermill into ``<build-root>/executed/`` at the same relative path
with suffix ``.ipynb``; ``_config.yml``, ``_toc.yml`` and every non-notebook file
under ``book/`` are copied beside them, so the TOC entries resolve to the
executed notebooks. jupyter-book then builds that tree with
``execute_notebooks: off``. A chapter's ``.md`` is never copied into the mirror:
jupyter-book would pick it over the ``.ipynb`` of the same stem.

Parameters. ``book/profiles.yaml`` maps a profile to papermill parameters
(``default`` for every chapter, then per-chapter keys such as ``"02"``); see
the comment at its top. ``profile`` and ``output_dir`` are always set by the
runner; ``--param`` overrides come last. A parameter from ``default`` that a
chapter does not declare in its ``parameters`` cell is skipped for that
chapter; a per-chapter or ``--param`` name the chapter does not declare is an
error, because it is almost certainly a typo.

Working directory and results. Each chapter runs with the folder of its
executed notebook as working directory (as Jupyter and jupyter-book do), and
gets ``output_dir = "<stem>_files"``, relative to that folder: tables it saves
there sit next to the executed notebook, and the same relative path works as a
link from the chapter's page.

Running one chapter. ``--chapters 01`` re-executes only chapter 01. A build
needs every chapter of the TOC; chapters that have never been executed are
executed too (with the same profile, announced before starting), and chapters
whose executed notebook is older than their source are flagged in the summary
but kept.

Failures. The first failing cell stops the run: one line names the chapter,
the source file and line of the cell, its first line and the error; the
partially executed notebook stays at its mirror path (papermill marks the
failing cell) and the runner exits with status 1. ``-v`` adds the cell's
traceback. A failing HTML build exits with status 3 and prints the warnings.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .build import build_html
from .execute import (
    ChapterResult,
    Failure,
    Prepared,
    check_kernel,
    execute_chapter,
    is_executed_ok,
    kept_result,
    prepare_chapter,
)
from .layout import (
    PROFILES_FILE,
    Chapter,
    Layout,
    RunnerError,
    discover_chapters,
    display_path,
    find_book_root,
    select_chapters,
    sync_mirror,
)
from .parameters import cell_timeout_for, check_overrides, check_profile_sections, load_profiles, parse_overrides

EXIT_OK, EXIT_CHAPTER_FAILED, EXIT_USAGE, EXIT_BUILD_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


# --------------------------------------------------------------------------- reporting


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} s"


def timing_table(results: Sequence[ChapterResult], build_seconds: float | None) -> Any:
    """A rich table: one row per chapter, the HTML build, and the total."""
    from rich.table import Table

    table = Table(title="book run", title_justify="left", show_edge=False, pad_edge=False)
    for column, justify in (("chapter", "left"), ("status", "left"), ("profile", "left"),
                            ("code cells", "right"), ("time", "right"), ("note", "left")):  # fmt: skip
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    style = {"executed": "green", "failed": "bold red", "kept": "dim", "stale": "yellow"}
    for res in results:
        cells = str(res.cells) if res.cells else "—"
        table.add_row(res.chapter.stem, f"[{style[res.status]}]{res.status}[/]", res.profile, cells,
                      _seconds(res.seconds), res.message)  # fmt: skip
    ran = [r.seconds or 0.0 for r in results if r.status in ("executed", "failed")]
    if build_seconds is not None:
        table.add_row("html build", "[green]built[/]", "", "", _seconds(build_seconds), "")
    table.add_section()
    table.add_row("total (this run)", "", "", "", _seconds(sum(ran) + (build_seconds or 0.0)), "")
    return table


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m streamlab.book",
        description="Execute the book's chapters with papermill into _build/executed/ and build the HTML.",
    )
    parser.add_argument("--profile", default="quick", help="profile of book/profiles.yaml (default: quick)")
    parser.add_argument("--chapters", help="comma-separated chapters to execute, e.g. 00,01 (default: all)")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                        help="override a parameter for the selected chapters (YAML value); repeatable")  # fmt: skip
    parser.add_argument("--cell-timeout", type=int, default=None,
                        help="seconds one cell may run (default: the profile's runner.cell_timeout_s, else 600)")
    parser.add_argument("--build", action=argparse.BooleanOptionalAction, default=True,
                        help="build the HTML book after executing (default: --build)")  # fmt: skip
    parser.add_argument("--build-root", type=Path, default=None,
                        help="where executed/ and html/ go (default: <book root>/_build)")  # fmt: skip
    parser.add_argument("--root", type=Path, default=None, help="book root (default: found from the cwd)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show papermill's log and a failing cell's traceback")  # fmt: skip
    return parser.parse_args(argv)


#: Chapters that read the other chapters' executed notebooks (the reflection's table of what a rebuild
#: costs) execute after them, wherever the TOC lists them.
EXECUTE_LAST = ("05-reflection",)


def plan(layout: Layout, chapters: Sequence[Chapter], selected: Sequence[Chapter], build: bool) -> list[Chapter]:
    """Chapters to execute: the selection, plus, for a build, those not successfully executed yet.

    In TOC order, except that the EXECUTE_LAST chapters come after all others."""
    todo = [ch for ch in chapters if ch in selected or (build and not is_executed_ok(layout.executed(ch)))]
    return sorted(todo, key=lambda ch: ch.stem in EXECUTE_LAST)  # a stable sort keeps the TOC order


def execute_all(
    prepared: Sequence[Prepared], layout: Layout, cell_timeout: int
) -> tuple[dict[Chapter, ChapterResult], Failure | None]:
    """Execute chapters in order with a progress bar; stop at the first failure."""
    from tqdm import tqdm

    results: dict[Chapter, ChapterResult] = {}
    show_progress = sys.stderr.isatty()
    for item in tqdm(prepared, desc="book", unit="chapter", disable=not show_progress):
        if item.chapter.stem in EXECUTE_LAST:
            _record_history(layout, item, results)
        tqdm.write(f"▶ {item.chapter.stem} (profile {item.params['profile']})", file=sys.stderr)
        result, failure = execute_chapter(item, layout, cell_timeout, show_progress)
        results[item.chapter] = result
        if failure:
            return results, failure
        tqdm.write(f"  ✓ {item.chapter.stem} in {result.seconds or 0.0:.1f} s", file=sys.stderr)
    if prepared:
        _record_history(layout, prepared[-1], results)
    return results, None


def _record_history(layout: Layout, item: Prepared, results: Mapping[Chapter, ChapterResult]) -> None:
    """This build's headline figures into the results database, once a measuring chapter ran in this run.

    Before the reflection executes (it shows the history, this build included) and again at the end for a
    run without it; the database does not record the same figures twice.
    """
    from .history import record_build

    if not any(r.status == "executed" and r.chapter.stem not in EXECUTE_LAST for r in results.values()):
        return
    try:
        build_id = record_build(layout.executed(item.chapter).parent, str(item.params["profile"]), layout.root)
    except (OSError, sqlite3.Error) as exc:          # the history is a record, not a reason to fail the build
        tqdm_write(f"  results database: not recorded ({type(exc).__name__}: {exc})")
        return
    if build_id is not None:
        tqdm_write(f"  results database: build {build_id} recorded")


def tqdm_write(text: str) -> None:
    from tqdm import tqdm

    tqdm.write(text, file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """The whole run; returns the process exit status."""
    from rich.console import Console
    from rich.markup import escape

    # A log file or CI is not a terminal: keep lines whole instead of wrapping at 80 columns.
    console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)
    logging.getLogger("papermill").setLevel(logging.INFO if args.verbose else logging.CRITICAL)
    root = (args.root or find_book_root()).resolve()
    layout = Layout(root, (args.build_root or root / "_build").resolve())
    chapters = discover_chapters(root)
    selected = select_chapters(chapters, args.chapters)
    profiles = load_profiles(root / PROFILES_FILE)
    check_profile_sections(profiles, chapters)
    if args.profile not in profiles:
        raise RunnerError(f"unknown profile {args.profile!r}; {PROFILES_FILE} has {', '.join(profiles)}")
    overrides = parse_overrides(args.param)
    check_kernel()
    to_run = plan(layout, chapters, selected, args.build)
    extra = [ch.key for ch in to_run if ch not in selected]
    if extra:
        console.print(
            f"chapters {', '.join(extra)} have no successful execution yet; "
            f"executing them too (profile {args.profile})"
        )
    prepared = [
        prepare_chapter(ch, layout, profiles, args.profile, overrides if ch in selected else {}) for ch in to_run
    ]
    check_overrides(overrides, {p.chapter: p.declared for p in prepared if p.chapter in selected})
    sync_mirror(layout, chapters)

    results, failure = execute_all(prepared, layout, args.cell_timeout or cell_timeout_for(profiles, args.profile))
    if failure:
        if args.verbose and failure.traceback:
            console.print("\n".join(failure.traceback), markup=False)
        console.print(f"[bold red]✗[/] {escape(failure.line(layout))}", soft_wrap=True)
        console.print(timing_table(_with_kept(chapters, results, layout), None))
        return EXIT_CHAPTER_FAILED

    build_seconds = None
    if args.build:
        started = time.perf_counter()
        console.print("▶ building HTML with jupyter-book (warnings are errors)")
        if not build_html(layout, console):
            console.print(timing_table(_with_kept(chapters, results, layout), None))
            return EXIT_BUILD_FAILED
        build_seconds = time.perf_counter() - started
    console.print(timing_table(_with_kept(chapters, results, layout), build_seconds))
    console.print(f"executed notebooks: {display_path(layout.mirror)}")
    if args.build:
        console.print(f"HTML: {display_path(layout.html / 'index.html')}")
    return EXIT_OK


def _with_kept(
    chapters: Sequence[Chapter], results: Mapping[Chapter, ChapterResult], layout: Layout
) -> list[ChapterResult]:
    """Results in TOC order, with rows for chapters kept from earlier runs."""
    rows = []
    for chapter in chapters:
        if chapter in results:
            rows.append(results[chapter])
        elif layout.executed(chapter).exists():
            rows.append(kept_result(chapter, layout))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except RunnerError as exc:
        print(f"book: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("book: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
