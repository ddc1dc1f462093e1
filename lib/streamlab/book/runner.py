"""The book runner: execute the chapters with papermill into a mirror tree, then build the HTML.

    python -m streamlab.book [--profile quick|full] [--chapters 00,01] [--force | --up-to-date]
                         [--brokers-needed] [--param NAME=VALUE ...] [--cell-timeout 600]
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

What runs. Without ``--chapters``, a chapter is executed only when the inputs of
its execution changed since its executed notebook was made: its code cells, its
parameters, the library code (a content hash per chapter, stored beside the
executed notebook; see :mod:`.cache`). Otherwise the executed notebook and its
results folder are reused, with edited prose merged in. ``--force`` executes
every chapter; ``--up-to-date`` executes nothing and exits 0 when no chapter
needs executing (1 otherwise); ``--brokers-needed`` exits 0 when a chapter that
needs the brokers has to execute, so ``make book`` starts no stack for a build
that needs only the HTML and the chapters that run without brokers.
``--chapters 01`` re-executes chapter 01 whatever its state; a build needs
every chapter of the TOC, so chapters that have never been executed are
executed too (with the same profile, announced before starting), and chapters
whose inputs changed are flagged in the summary but kept.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import cache
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
    reuse_chapter,
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
    parser.add_argument("--force", action="store_true",
                        help="execute the chapters even where their executed notebook could be reused")
    parser.add_argument("--up-to-date", action="store_true",
                        help="execute nothing: exit 0 when no chapter needs executing for a build, else 1")
    parser.add_argument("--brokers-needed", action="store_true",
                        help="execute nothing: exit 0 when a chapter that needs the brokers has to execute, else 1")
    parser.add_argument("--build", action=argparse.BooleanOptionalAction, default=True,
                        help="build the HTML book after executing (default: --build)")  # fmt: skip
    parser.add_argument("--build-root", type=Path, default=None,
                        help="where executed/ and html/ go (default: <book root>/_build)")  # fmt: skip
    parser.add_argument("--root", type=Path, default=None, help="book root (default: found from the cwd)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show papermill's log and a failing cell's traceback")  # fmt: skip
    return parser.parse_args(argv)


#: Pages that read what the other chapters' executions left (the reflection's table of what a rebuild
#: costs; the run-facts appendix's row per chapter) execute after them, in this order, wherever the TOC
#: lists them: each after every chapter and every reader listed before it. They also read the repository's
#: history, so a new commit executes them again.
EXECUTE_LAST = ("05-reflection", "run-facts")
#: Chapters that run without brokers (they read files and the git history): `make book` starts no stack
#: when only these have to execute.
WITHOUT_BROKERS = ("05-reflection", "run-facts")


def is_reader(chapter: Chapter) -> bool:
    return chapter.stem in EXECUTE_LAST


def rank(chapter: Chapter) -> int:
    """Execution order: 0 for a chapter that reads no other, then the readers in EXECUTE_LAST's order."""
    return EXECUTE_LAST.index(chapter.stem) + 1 if is_reader(chapter) else 0


def read_by(reader: Chapter, chapters: Sequence[Chapter]) -> list[Chapter]:
    """The chapters whose executions ``reader`` reads: every one that executes before it."""
    return [ch for ch in chapters if rank(ch) < rank(reader)]


def plan(layout: Layout, chapters: Sequence[Chapter], selected: Sequence[Chapter], build: bool,
         stale: Mapping[Chapter, str] | None = None) -> list[Chapter]:
    """Chapters to execute: the selection, plus, for a build, those not successfully executed yet.

    Given ``stale`` (the chapters whose inputs changed, see :func:`stale_chapters`), those execute too,
    and so does each reader of the others' executions as soon as one it reads executes. In TOC order,
    except that the EXECUTE_LAST chapters come after all others, in their order."""
    def needed(ch: Chapter) -> bool:
        return (ch in selected or (stale is not None and ch in stale)
                or (build and not is_executed_ok(layout.executed(ch))))

    todo = [ch for ch in chapters if needed(ch)]
    if stale is not None and todo:
        first = min(rank(ch) for ch in todo)
        todo += [ch for ch in chapters if is_reader(ch) and rank(ch) > first and ch not in todo]
    return sorted(todo, key=rank)  # a stable sort keeps the TOC order


@dataclass(frozen=True)
class Inputs:
    """What every chapter's execution depends on alike, computed once per run."""

    library: str  # cache.library_digest
    stack: Mapping[str, Any]  # cache.stack_facts
    head: str = ""  # cache.head_commit: the history the readers tabulate


def run_key(prepared: Prepared, layout: Layout, chapters: Sequence[Chapter], inputs: Inputs) -> cache.RunKey:
    """The inputs of a chapter's execution as they are now (a reader's include the others' records)."""
    upstream = ""
    if is_reader(prepared.chapter):
        upstream = cache.upstream_digest(layout, read_by(prepared.chapter, chapters), inputs.head)
    return cache.RunKey(cache.code_digest(prepared.notebook), cache.parameters_digest(prepared.params, inputs.stack),
                        inputs.library, upstream)


def stale_chapters(layout: Layout, prepared: Mapping[Chapter, Prepared], chapters: Sequence[Chapter],
                   inputs: Inputs) -> dict[Chapter, str]:
    """Chapters whose executed notebook cannot be reused, with the reason."""
    stale = {}
    for chapter in chapters:
        ok, why = cache.reusable(layout, chapter, run_key(prepared[chapter], layout, chapters, inputs))
        if not ok:
            stale[chapter] = why
    return stale


def execute_all(
    prepared: Sequence[Prepared], layout: Layout, cell_timeout: int,
    key_of: Callable[[Prepared], cache.RunKey] | None = None,
) -> tuple[dict[Chapter, ChapterResult], Failure | None]:
    """Execute chapters in order with a progress bar; stop at the first failure.

    ``key_of`` gives a chapter's run key just before it executes (a reader's depends on the records the
    chapters before it just left)."""
    from tqdm import tqdm

    results: dict[Chapter, ChapterResult] = {}
    show_progress = sys.stderr.isatty()
    for item in tqdm(prepared, desc="book", unit="chapter", disable=not show_progress):
        if is_reader(item.chapter):
            _record_history(layout, item, results)
        tqdm.write(f"▶ {item.chapter.stem} (profile {item.params['profile']})", file=sys.stderr)
        key = key_of(item) if key_of else None
        result, failure = execute_chapter(item, layout, cell_timeout, show_progress, key)
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
    run without it; the database does not record the same figures twice. The figures are read from the folder
    of the measuring chapters that ran, not from ``item``'s (the run-facts appendix lives in book/appendix/).
    """
    from .history import record_build

    measured = [r.chapter for r in results.values() if r.status == "executed" and not is_reader(r.chapter)]
    if not measured:
        return
    try:
        build_id = record_build(layout.executed(measured[0]).parent, str(item.params["profile"]), layout.root)
    except (OSError, sqlite3.Error) as exc:          # the history is a record, not a reason to fail the build
        tqdm_write(f"  results database: not recorded ({type(exc).__name__}: {exc})")
        return
    if build_id is not None:
        tqdm_write(f"  results database: build {build_id} recorded")


def tqdm_write(text: str) -> None:
    from tqdm import tqdm

    tqdm.write(text, file=sys.stderr)


def reuse_all(layout: Layout, prepared: Sequence[Prepared]) -> list[Chapter]:
    """Merge edited prose into the executed notebooks whose code cells are those that ran; the merged ones."""
    merged = []
    for item in prepared:
        record = cache.read_record(layout, item.chapter)
        if (record and layout.executed(item.chapter).is_file()
                and record.key.code == cache.code_digest(item.notebook) and reuse_chapter(item, layout, record)):
            merged.append(item.chapter)
    return merged


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
    prepared = {ch: prepare_chapter(ch, layout, profiles, args.profile, overrides if ch in selected else {})
                for ch in chapters}  # fmt: skip
    check_overrides(overrides, {ch: p.declared for ch, p in prepared.items() if ch in selected})
    inputs = Inputs(cache.library_digest(root), cache.stack_facts(), cache.head_commit(root))
    stale = stale_chapters(layout, prepared, chapters, inputs)
    explicit = bool(args.chapters)
    must = selected if explicit or args.force else []
    to_run = plan(layout, chapters, must, args.build, None if explicit else stale)
    reasons = {ch: stale.get(ch) or "the chapters it reads execute" for ch in to_run if ch not in must}
    if args.up_to_date or args.brokers_needed:
        for ch in to_run:
            console.print(f"{ch.stem}: {reasons.get(ch, 'asked for')}")
        if not to_run:
            console.print(f"every chapter's executed notebook is up to date (profile {args.profile})")
        if args.brokers_needed:
            return EXIT_OK if any(ch.stem not in WITHOUT_BROKERS for ch in to_run) else EXIT_CHAPTER_FAILED
        return EXIT_OK if not to_run else EXIT_CHAPTER_FAILED
    if reasons:
        console.print(f"executing (profile {args.profile}): "
                      + "; ".join(f"{ch.key} ({why})" for ch, why in reasons.items()))
    sync_mirror(layout, chapters)

    timeout = args.cell_timeout or cell_timeout_for(profiles, args.profile)
    results, failure = execute_all([prepared[ch] for ch in to_run], layout, timeout,
                                   lambda p: run_key(p, layout, chapters, inputs))
    if failure:
        if args.verbose and failure.traceback:
            console.print("\n".join(failure.traceback), markup=False)
        console.print(f"[bold red]✗[/] {escape(failure.line(layout))}", soft_wrap=True)
        console.print(timing_table(_with_kept(chapters, results, layout), None))
        return EXIT_CHAPTER_FAILED
    merged = reuse_all(layout, [prepared[ch] for ch in chapters if ch not in results])
    if merged:
        console.print(f"prose merged into the executed notebooks of {', '.join(ch.key for ch in merged)}")
    if explicit:  # what this run left behind: chapters whose inputs changed but were not asked for
        stale = stale_chapters(layout, prepared, chapters, inputs)

    build_seconds = None
    if args.build:
        started = time.perf_counter()
        console.print("▶ building HTML with jupyter-book (warnings are errors)")
        if not build_html(layout, console):
            console.print(timing_table(_with_kept(chapters, results, layout, stale), None))
            return EXIT_BUILD_FAILED
        build_seconds = time.perf_counter() - started
    console.print(timing_table(_with_kept(chapters, results, layout, stale), build_seconds))
    console.print(f"executed notebooks: {display_path(layout.mirror)}")
    if args.build:
        console.print(f"HTML: {display_path(layout.html / 'index.html')}")
    return EXIT_OK


def _with_kept(
    chapters: Sequence[Chapter], results: Mapping[Chapter, ChapterResult], layout: Layout,
    stale: Mapping[Chapter, str] | None = None,
) -> list[ChapterResult]:
    """Results in TOC order, with rows for chapters kept from earlier runs."""
    rows = []
    for chapter in chapters:
        if chapter in results:
            rows.append(results[chapter])
        elif layout.executed(chapter).exists():
            rows.append(kept_result(chapter, layout, (stale or {}).get(chapter, "")))
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
