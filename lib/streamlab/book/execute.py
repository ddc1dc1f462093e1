"""One chapter run: jupytext in, papermill into the mirror, the outcome stamped, a failure located in its source."""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import cache
from .layout import PROFILES_FILE, Chapter, Layout, RunnerError, display_path
from .parameters import merge_parameters, restrict_to_declared

if TYPE_CHECKING:  # heavy imports stay out of chapters that only need results_dir()
    import nbformat


KERNEL_NAME = "python3"
KERNEL_INSTALL_HINT = f"{sys.executable} -m ipykernel install --sys-prefix --name {KERNEL_NAME}"


@dataclass
class ChapterResult:
    """What the timing table shows for one chapter."""

    chapter: Chapter
    status: str  # executed | failed | kept | stale
    profile: str = ""
    cells: int = 0
    seconds: float | None = None
    message: str = ""


@dataclass
class Failure:
    """A failed cell, located in the chapter's source for the user."""

    chapter: Chapter
    location: str
    first_line: str
    error: str
    traceback: list[str] = field(default_factory=list)

    def line(self, layout: Layout) -> str:
        text = (
            f"{self.chapter.stem} failed at {self.location} (`{self.first_line}`): {self.error}\n"
            f"  partially executed notebook kept at {display_path(layout.executed(self.chapter))}"
        )
        log = kernel_log(layout, self.chapter)
        if log.exists() and log.stat().st_size:
            text += f"\n  kernel log: {display_path(log)}"
        return text


def declared_parameters(nb: nbformat.NotebookNode) -> set[str]:
    """Names assigned in the chapter's ``parameters`` cell (papermill's own inference)."""
    import papermill

    return set(papermill.inspect_notebook(nb))


@dataclass
class Prepared:
    """A chapter converted from Markdown, with the parameters it will run with."""

    chapter: Chapter
    notebook: nbformat.NotebookNode
    params: dict[str, Any]
    declared: set[str]


def _podman_ready() -> bool:
    from ..experiments.containers import podman_available

    return podman_available()


class Capabilities:
    """What this machine can run that a chapter may depend on, each checked at most once per chapter.

    A chapter marks a cell (code or Markdown) with the tag ``needs:<name>`` to keep it only where
    the capability is present, or ``needs-not:<name>`` for the fallback shown where it is absent.
    This is how a page shows a live run where one is possible and says so in one line where it is
    not, without prose in Python strings and without glue keys left undefined.
    """

    CHECKS: dict[str, Callable[[], bool]] = {"podman": _podman_ready}

    #: Capabilities a build is told to do without, comma-separated (e.g. "podman"): the test suite's
    #: book build leaves the container sections to its own podman tests, which run the same library
    #: calls, instead of paying for them twice on two cores.
    WITHOUT_ENV = "STREAMLAB_BOOK_WITHOUT"

    def __init__(self, without: Iterable[str] | None = None) -> None:
        self._known: dict[str, bool] = {}
        if without is None:
            without = os.environ.get(self.WITHOUT_ENV, "").split(",")
        self._without = {name.strip() for name in without if name.strip()}
        for name in self._without:
            self._check_known(name)

    def has(self, name: str) -> bool:
        self._check_known(name)
        if name in self._without:
            return False
        if name not in self._known:
            self._known[name] = self.CHECKS[name]()
        return self._known[name]

    def _check_known(self, name: str) -> None:
        if name not in self.CHECKS:
            raise RunnerError(f"unknown capability {name!r} (in a cell tag or ${self.WITHOUT_ENV}); "
                              f"known: {', '.join(sorted(self.CHECKS))}")


def drop_unmet_cells(nb: Any, capabilities: Capabilities) -> None:
    """Remove the cells whose ``needs:``/``needs-not:`` tags this machine does not meet."""

    def keep(cell: Any) -> bool:
        for tag in cell.get("metadata", {}).get("tags", []):
            kind, _, name = tag.partition(":")
            if kind == "needs" and not capabilities.has(name):
                return False
            if kind == "needs-not" and capabilities.has(name):
                return False
        return True

    nb.cells = [cell for cell in nb.cells if keep(cell)]


def prepare_chapter(
    chapter: Chapter,
    layout: Layout,
    profiles: Mapping[str, Mapping[str, Mapping[str, Any]]],
    profile: str,
    overrides: Mapping[str, Any],
) -> Prepared:
    """Read a chapter with jupytext and resolve its parameters, before anything runs.

    Done for every chapter up front so a typo in profiles.yaml fails in a
    second, not after the first chapters have run for minutes.
    """
    import jupytext

    nb = jupytext.read(layout.root / chapter.source)
    drop_unmet_cells(nb, Capabilities())
    declared = declared_parameters(nb)
    params, strict = merge_parameters(profiles, profile, chapter, overrides)
    return Prepared(chapter, nb, restrict_to_declared(params, strict, declared, chapter), declared)


def kernel_manager_logging_to(log_path: Path) -> type:
    """A kernel manager whose kernel process writes its own stdout/stderr to ``log_path``.

    Cell output still arrives as Jupyter messages and lands in the notebook;
    only the kernel process's own logging (ipykernel warnings, the traceback of
    a kernel interrupted by a timeout) is kept out of the user's terminal.
    """
    from jupyter_client.manager import AsyncKernelManager

    class ChapterKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "ab") as log:  # the kernel keeps its own copy of the descriptor
                kw.setdefault("stdout", log)
                kw.setdefault("stderr", log)
                await super().start_kernel(**kw)

    return ChapterKernelManager


def kernel_log(layout: Layout, chapter: Chapter) -> Path:
    return layout.build_root / "logs" / f"{chapter.stem}.kernel.log"


def execute_chapter(
    prepared: Prepared, layout: Layout, cell_timeout: int, show_progress: bool, key: cache.RunKey | None = None
) -> tuple[ChapterResult, Failure | None]:
    """Execute one prepared chapter with papermill into its mirror path.

    With a ``key``, a successful execution leaves its record beside the notebook (see :mod:`.cache`) and
    its page says when it was executed; the old record goes before anything runs, so a failed or
    interrupted execution is never reused.
    """
    import papermill
    from traitlets.config import Config

    chapter = prepared.chapter
    cache.forget(layout, chapter)
    kernel_log(layout, chapter).unlink(missing_ok=True)
    target = layout.executed(chapter)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Results belong to one execution: never let a table of an earlier run sit beside this one.
    shutil.rmtree(layout.results(chapter), ignore_errors=True)
    layout.results(chapter).mkdir(parents=True)
    started, started_at = time.perf_counter(), cache.now_utc()
    failure = None
    try:
        papermill.execute_notebook(
            prepared.notebook,
            target,
            parameters=prepared.params,
            kernel_name=KERNEL_NAME,
            execution_timeout=cell_timeout,
            start_timeout=120,
            cwd=target.parent,
            progress_bar={"desc": f"  {chapter.stem}", "leave": False, "disable": not show_progress},
            kernel_manager_class=kernel_manager_logging_to(kernel_log(layout, chapter)),
            # Curve-encrypt the kernel's sockets where supported: other local users cannot listen in.
            config=Config({"KernelManager": {"transport_encryption": "auto"}}),
        )
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - papermill, nbclient and jupyter_client raise many kinds
        failure = describe_failure(chapter, layout, exc)
    seconds = time.perf_counter() - started
    record = None
    if key is not None and failure is None:
        commit = cache.commit_of(layout.root, [*cache.CODE_INPUTS, chapter.source.as_posix(), PROFILES_FILE.as_posix()])
        record = cache.RunRecord(key, started_at, str(prepared.params["profile"]), commit, round(seconds, 1),
                                 cache.markdown_digest(prepared.notebook))
    stamp_source(target, chapter, ok=failure is None, record=record)
    if record is not None:
        cache.write_record(layout, chapter, record)
    cells = sum(1 for cell in prepared.notebook.cells if cell.cell_type == "code")
    status, note = ("failed", "see the error above") if failure else ("executed", "")
    return ChapterResult(chapter, status, str(prepared.params["profile"]), cells, seconds, note), failure


def stamp_source(executed: Path, chapter: Chapter, ok: bool, record: cache.RunRecord | None = None) -> None:
    """Record the .md source and the outcome in the executed notebook's metadata.

    papermill stores the whole input notebook as ``input_path`` when given a
    notebook object; the source path is what a reader needs. The outcome lets
    a later build tell a finished chapter from one that failed or timed out
    (papermill records no exception for a timeout). With a ``record``, the
    page gets its "executed at" line.
    """
    import nbformat

    if not executed.exists():
        return
    nb = nbformat.read(executed, as_version=4)
    nb.metadata.setdefault("papermill", {})["input_path"] = chapter.source.as_posix()
    nb.metadata.papermill["output_path"] = chapter.source.with_suffix(".ipynb").as_posix()
    nb.metadata["streamlab"] = {"source": chapter.source.as_posix(), "status": "ok" if ok else "failed"}
    hide_injected_parameters(nb)
    if record is not None:
        cache.inject_executed_line(nb, record)
    nbformat.write(nb, executed)


def reuse_chapter(prepared: Prepared, layout: Layout, record: cache.RunRecord) -> bool:
    """Bring a reused executed notebook's prose up to date with its source; True when it had to change.

    The code cells are those that ran (the caller checked the key), so only Markdown is merged in.
    """
    import nbformat

    markdown = cache.markdown_digest(prepared.notebook)
    if record.markdown == markdown:
        return False
    path = layout.executed(prepared.chapter)
    nb = cache.merge_markdown(nbformat.read(path, as_version=4), prepared.notebook)
    cache.inject_executed_line(nb, record)
    nbformat.write(nb, path)
    record.markdown = markdown
    cache.write_record(layout, prepared.chapter, record)
    return True


def hide_injected_parameters(nb: Any) -> None:
    """Tag the cell papermill injects (`# Parameters`) `remove-cell`, as the chapter's own parameters cell is:
    the run's parameters are plumbing; the page states its profile and machine on the run-facts appendix page."""
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]


def is_executed_ok(executed: Path) -> bool:
    """True for an executed notebook this runner finished without error."""
    import nbformat

    if not executed.is_file():
        return False
    try:
        meta = nbformat.read(executed, as_version=4).metadata
    except Exception:  # noqa: BLE001 - a half-written or foreign file is as good as missing
        return False
    return meta.get("streamlab", {}).get("status") == "ok"


def describe_failure(chapter: Chapter, layout: Layout, exc: BaseException) -> Failure:
    """Locate the failing cell in the source file, from papermill's error or the saved notebook."""
    source = getattr(exc, "source", None)
    ename = getattr(exc, "ename", None) or type(exc).__name__
    evalue = getattr(exc, "evalue", None)
    if evalue is None:
        evalue = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if source is None:
        source = _running_cell_source(layout.executed(chapter))
    traceback = [strip_ansi(line) for line in getattr(exc, "traceback", None) or []]
    md_text = (layout.root / chapter.source).read_text(encoding="utf-8")
    location = chapter.source.as_posix()
    line_no = source_line(md_text, source) if source else None
    if line_no:
        location += f":{line_no}"
    first = next((line.strip() for line in (source or "").splitlines() if line.strip()), "?")
    return Failure(chapter, location, first[:80], f"{ename}: {evalue}".rstrip(": "), traceback)


def _running_cell_source(executed: Path) -> str | None:
    """The source of the last cell papermill started: where a timeout or dead kernel struck."""
    import nbformat

    if not executed.exists():
        return None
    started = [
        cell for cell in nbformat.read(executed, as_version=4).cells
        if cell.cell_type == "code" and cell.get("metadata", {}).get("papermill", {}).get("start_time")
    ]  # fmt: skip
    return str(started[-1].source) if started else None


def source_line(md_text: str, cell_source: str) -> int | None:
    """1-based line of the Markdown source where a cell's code starts, if found verbatim."""
    index = md_text.find(cell_source.strip()) if cell_source.strip() else -1
    return md_text.count("\n", 0, index) + 1 if index >= 0 else None


def strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)


def executed_profile(path: Path) -> tuple[str, float | None]:
    """Profile and duration recorded by papermill in an executed notebook."""
    import nbformat

    meta = nbformat.read(path, as_version=4).metadata.get("papermill", {})
    return str(meta.get("parameters", {}).get("profile", "?")), meta.get("duration")


def kept_result(chapter: Chapter, layout: Layout, why_stale: str = "") -> ChapterResult:
    """A chapter not executed in this run, for the table: kept (reused), stale (``why_stale``) or failed earlier."""
    executed = layout.executed(chapter)
    profile, seconds = executed_profile(executed)
    if not is_executed_ok(executed):
        return ChapterResult(chapter, "failed", profile, seconds=seconds, message="failed in an earlier run")
    if why_stale:
        message = f"{why_stale} since its execution: re-run with --chapters {chapter.key}"
        return ChapterResult(chapter, "stale", profile, seconds=seconds, message=message)
    record = cache.read_record(layout, chapter)
    note = f"reused, executed {record.executed_at.replace('T', ' ')[:16]} UTC" if record else "reused"
    return ChapterResult(chapter, "kept", profile, seconds=seconds, message=note)


def check_kernel() -> None:
    """Fail early and clearly when papermill's kernel is missing or is another Python."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        raise RunnerError(f"no Jupyter kernel {KERNEL_NAME!r}; install it with: {KERNEL_INSTALL_HINT}") from None
    program = spec.argv[0]
    # jupyter_client runs a bare "python" with the current interpreter.
    if program not in {"python", "python3"} and Path(program).resolve() != Path(sys.executable).resolve():
        raise RunnerError(
            f"kernel {KERNEL_NAME!r} runs {program}, not this environment's {sys.executable}; "
            f"reinstall it with: {KERNEL_INSTALL_HINT}"
        )
