"""Execute the book's chapters with papermill into a mirror tree, then build the HTML.

    python -m streamlab.book.runner [--profile quick|full] [--chapters 00,01]
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
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:  # heavy imports stay out of chapters that only need results_dir()
    import nbformat

KERNEL_NAME = "python3"
PROFILES_FILE = Path("book/profiles.yaml")
BOOK_FILES = ("_config.yml", "_toc.yml")
BOOK_DIR = Path("book")
RUNNER_PARAMETERS = ("profile", "output_dir")
KERNEL_INSTALL_HINT = f"{sys.executable} -m ipykernel install --sys-prefix --name {KERNEL_NAME}"

EXIT_OK, EXIT_CHAPTER_FAILED, EXIT_USAGE, EXIT_BUILD_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class RunnerError(Exception):
    """A problem the user can fix (bad profile, unknown chapter, missing kernel)."""


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Chapter:
    """One executable chapter of the TOC."""

    source: Path  # relative to the book root, e.g. book/chapters/01-application.md

    @property
    def stem(self) -> str:
        return self.source.stem

    @property
    def key(self) -> str:
        """The short name used by --chapters and profiles.yaml: the number prefix ("01")."""
        prefix = self.stem.split("-", 1)[0]
        return prefix if prefix.isdigit() else self.stem

    def matches(self, name: str) -> bool:
        return name in (self.key, self.stem, self.source.as_posix())


@dataclass(frozen=True)
class Layout:
    """Where a run reads sources and writes the mirror, the HTML and logs."""

    root: Path  # the repository / book root (holds _config.yml and _toc.yml)
    build_root: Path  # _build by default

    @property
    def mirror(self) -> Path:
        return self.build_root / "executed"

    @property
    def html(self) -> Path:
        return self.build_root / "html"

    def executed(self, chapter: Chapter) -> Path:
        """The executed notebook of ``chapter``: same relative path, suffix .ipynb."""
        return self.mirror / chapter.source.with_suffix(".ipynb")

    def results(self, chapter: Chapter) -> Path:
        """Where ``chapter`` saves its result tables (its ``output_dir``)."""
        return self.executed(chapter).parent / output_dir_name(chapter)


def output_dir_name(chapter: Chapter) -> str:
    """``output_dir`` as passed to the chapter: relative to its working directory."""
    return f"{chapter.stem}_files"


def find_book_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` holding both _config.yml and _toc.yml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if all((folder / name).is_file() for name in BOOK_FILES):
            return folder
    raise RunnerError(f"no _config.yml and _toc.yml at or above {here}: run from the repository")


def results_dir(output_dir: str | os.PathLike[str], chapter: str) -> Path:
    """The folder a chapter saves results to, created; used by the chapters themselves.

    The runner passes ``output_dir``; run by hand (plain papermill, JupyterLab)
    it is empty and results go to ``data/runs/<chapter>/`` of the repository,
    found from the working directory, so they never land in ``book/``.
    """
    if str(output_dir):
        folder = Path(output_dir)
    else:
        try:
            folder = find_book_root() / "data" / "runs" / chapter
        except RunnerError:
            folder = Path.cwd() / "data" / "runs" / chapter
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_table(frame: Any, folder: Path, name: str) -> Any:
    """Save a result table as CSV in ``folder`` and return a Markdown link to it.

    The link is relative to the working directory, which the runner makes the
    executed notebook's folder; the runner copies each ``<stem>_files`` folder
    beside the chapter's HTML page, so the same link works in the book.
    """
    from IPython.display import Markdown

    path = Path(folder) / name
    frame.to_csv(path, index=False)
    return Markdown(f"Data: {_link(path)} ({len(frame):,} rows)")


def data_links(paths: Iterable[Path], label: str = "Data") -> Any:
    """One Markdown line linking result files written elsewhere (a library's own CSVs, profiles), so a
    reader downloads them from the page that shows them, as for `save_table`."""
    from IPython.display import Markdown

    return Markdown(f"{label}: " + ", ".join(_link(Path(p)) for p in paths))


def _link(path: Path) -> str:
    try:
        shown = path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        shown = path.as_posix()
    return f"[{path.name}]({shown})"


def toc_docnames(toc: Mapping[str, Any]) -> list[str]:
    """Every document named by a jb-book/jb-article TOC, in reading order."""
    names = [str(toc["root"])] if "root" in toc else []

    def walk(entries: Iterable[Mapping[str, Any]]) -> None:
        for entry in entries:
            if "file" in entry:
                names.append(str(entry["file"]))
            for nested in ("parts", "chapters", "sections"):
                walk(entry.get(nested, []))

    walk([toc])
    return names


def front_matter(path: Path) -> dict[str, Any]:
    """The YAML front matter of a Markdown file, or {} when it has none."""
    text = path.read_text(encoding="utf-8")
    match = re.match(r"---\s*\n(.*?)\n---\s*(\n|$)", text, flags=re.DOTALL)
    if not match:
        return {}
    data = yaml.safe_load(match.group(1))
    return data if isinstance(data, dict) else {}


def is_notebook_source(path: Path) -> bool:
    """A MyST Markdown notebook: front matter with a jupytext header and a kernelspec."""
    if path.suffix != ".md":
        return False
    header = front_matter(path)
    return "kernelspec" in header and "jupytext" in header


def discover_chapters(root: Path) -> list[Chapter]:
    """The TOC's notebook chapters in reading order; plain pages are not chapters."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    chapters = []
    for docname in toc_docnames(toc):
        source = Path(docname + ".md")
        if not (root / source).is_file():
            if (root / docname).with_suffix(".ipynb").is_file():
                raise RunnerError(f"{docname}.ipynb: chapters are MyST Markdown, commit the .md instead")
            raise RunnerError(f"_toc.yml names {docname}, but {source} does not exist")
        if is_notebook_source(root / source):
            chapters.append(Chapter(source))
    return chapters


def select_chapters(chapters: Sequence[Chapter], spec: str | None) -> list[Chapter]:
    """Chapters named by a comma-separated ``spec`` (keys, stems or paths); all when None."""
    if not spec:
        return list(chapters)
    wanted = [name.strip() for name in spec.split(",") if name.strip()]
    unknown = [name for name in wanted if not any(ch.matches(name) for ch in chapters)]
    if unknown:
        known = ", ".join(ch.key for ch in chapters)
        raise RunnerError(f"unknown chapter(s) {', '.join(unknown)}; the TOC has {known}")
    return [ch for ch in chapters if any(ch.matches(name) for name in wanted)]


def sync_mirror(layout: Layout, chapters: Sequence[Chapter]) -> None:
    """Copy config, TOC and non-notebook book files into the mirror; drop shadowing .md files."""
    layout.mirror.mkdir(parents=True, exist_ok=True)
    notebook_sources = {ch.source for ch in chapters}
    for name in BOOK_FILES:
        shutil.copy2(layout.root / name, layout.mirror / name)
    for path in sorted((layout.root / BOOK_DIR).rglob("*")):
        relative = path.relative_to(layout.root)
        if path.is_dir() or relative in notebook_sources or _is_junk(relative):
            continue
        if path.suffix == ".md" and is_notebook_source(path):
            continue  # a notebook outside the TOC: never let it shadow anything
        target = layout.mirror / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    for chapter in chapters:
        (layout.mirror / chapter.source).unlink(missing_ok=True)


def _is_junk(relative: Path) -> bool:
    return any(part in {"__pycache__", ".ipynb_checkpoints"} or part.startswith(".") for part in relative.parts)


# --------------------------------------------------------------------------- parameters


def load_profiles(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """profiles.yaml as {profile: {"default"|chapter key: {param: value}}}, validated.

    Chapter keys are strings; an unquoted YAML key such as ``02`` parses as the
    integer 2 and is turned back into "02".
    """
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise RunnerError(f"{path}: expected a mapping of profile names")
    profiles: dict[str, dict[str, dict[str, Any]]] = {}
    for name, sections in raw.items():
        if not isinstance(sections, dict):
            raise RunnerError(f"{path}: profile {name!r} must map 'default' and chapter keys to parameters")
        profiles[str(name)] = {}
        for key, params in sections.items():
            section = f"{key:02d}" if isinstance(key, int) else str(key)
            if not isinstance(params or {}, dict):
                raise RunnerError(f"{path}: {name}.{section} must be a mapping of parameter names to values")
            profiles[str(name)][section] = dict(params or {})
    return profiles


def merge_parameters(
    profiles: Mapping[str, Mapping[str, Mapping[str, Any]]],
    profile: str,
    chapter: Chapter,
    overrides: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], set[str]]:
    """Parameters for one chapter, and the names the chapter must declare.

    Precedence, lowest first: the profile's ``default``, its entry for the
    chapter (by key "01" or stem), the runner's own (``profile``,
    ``output_dir``), then ``overrides`` (--param). The returned set holds the
    names of the chapter's own entry: those are meant for this chapter alone,
    so an undeclared one is a typo.
    """
    if profile not in profiles:
        raise RunnerError(f"unknown profile {profile!r}; profiles.yaml has {', '.join(profiles)}")
    sections = profiles[profile]
    specific = {**sections.get(chapter.key, {}), **sections.get(chapter.stem, {})}
    params = {**sections.get("default", {}), **specific}
    params.update(profile=profile, output_dir=output_dir_name(chapter))
    params.update(overrides or {})
    return params, set(specific)


def restrict_to_declared(
    params: Mapping[str, Any], strict: set[str], declared: set[str], chapter: Chapter
) -> dict[str, Any]:
    """Keep the parameters the chapter declares; reject undeclared ones from its own entry."""
    unknown = sorted(strict - declared)
    if unknown:
        raise RunnerError(
            f"{chapter.stem} has no parameter(s) {', '.join(unknown)} in its `parameters` cell "
            f"(it declares {', '.join(sorted(declared)) or 'none'})"
        )
    missing = [name for name in RUNNER_PARAMETERS if name not in declared]
    if missing:
        raise RunnerError(f"{chapter.stem}: its `parameters` cell must declare {', '.join(missing)}")
    return {name: value for name, value in params.items() if name in declared}


#: A profile's section for the runner itself, not for a chapter: `cell_timeout_s`.
RUNNER_SECTION = "runner"

#: Seconds one cell may run when neither the profile nor --cell-timeout says: a guard against a hung cell.
DEFAULT_CELL_TIMEOUT_S = 600


def cell_timeout_for(profiles: Mapping[str, Mapping[str, Mapping[str, Any]]], profile: str) -> int:
    """The profile's cell timeout: `full` runs cells for many minutes by design, `quick` should not."""
    settings = profiles.get(profile, {}).get(RUNNER_SECTION, {})
    unknown = sorted(set(settings) - {"cell_timeout_s"})
    if unknown:
        raise RunnerError(f"profiles.yaml: {profile}.{RUNNER_SECTION} knows only cell_timeout_s, not {', '.join(unknown)}")
    return int(settings.get("cell_timeout_s", DEFAULT_CELL_TIMEOUT_S))


def check_profile_sections(profiles: Mapping[str, Mapping[str, Any]], chapters: Sequence[Chapter]) -> None:
    """Every section of profiles.yaml is ``default``, ``runner`` or names a chapter of the TOC (else a typo)."""
    known = {"default", RUNNER_SECTION} | {ch.key for ch in chapters} | {ch.stem for ch in chapters}
    for profile, sections in profiles.items():
        unknown = sorted(set(sections) - known)
        if unknown:
            raise RunnerError(
                f"profiles.yaml: {profile}.{', '.join(unknown)} is not a chapter of the TOC "
                f"(chapters: {', '.join(ch.key for ch in chapters)})"
            )


def check_overrides(overrides: Mapping[str, Any], declared_by: Mapping[Chapter, set[str]]) -> None:
    """A --param must be declared by at least one selected chapter (else it is a typo)."""
    unused = sorted(name for name in overrides if not any(name in names for names in declared_by.values()))
    if unused:
        stems = ", ".join(ch.stem for ch in declared_by)
        raise RunnerError(f"--param {', '.join(unused)}: no parameter of that name in {stems}")


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``NAME=VALUE`` strings to a mapping; values are YAML (``5``, ``true``, ``[1, 2]``)."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip().isidentifier():
            raise RunnerError(f"--param expects NAME=VALUE, got {pair!r}")
        overrides[name.strip()] = yaml.safe_load(value)
    return overrides


# --------------------------------------------------------------------------- execution


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
            f"  partially executed notebook kept at {_display_path(layout.executed(self.chapter))}"
        )
        log = kernel_log(layout, self.chapter)
        if log.exists() and log.stat().st_size:
            text += f"\n  kernel log: {_display_path(log)}"
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
    prepared: Prepared, layout: Layout, cell_timeout: int, show_progress: bool
) -> tuple[ChapterResult, Failure | None]:
    """Execute one prepared chapter with papermill into its mirror path."""
    import papermill
    from traitlets.config import Config

    chapter = prepared.chapter
    kernel_log(layout, chapter).unlink(missing_ok=True)
    target = layout.executed(chapter)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Results belong to one execution: never let a table of an earlier run sit beside this one.
    shutil.rmtree(layout.results(chapter), ignore_errors=True)
    layout.results(chapter).mkdir(parents=True)
    started = time.perf_counter()
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
    except Exception as exc:  # papermill, nbclient and jupyter_client raise many kinds
        failure = describe_failure(chapter, layout, exc)
    seconds = time.perf_counter() - started
    stamp_source(target, chapter, ok=failure is None)
    cells = sum(1 for cell in prepared.notebook.cells if cell.cell_type == "code")
    status, note = ("failed", "see the error above") if failure else ("executed", "")
    return ChapterResult(chapter, status, str(prepared.params["profile"]), cells, seconds, note), failure


def stamp_source(executed: Path, chapter: Chapter, ok: bool) -> None:
    """Record the .md source and the outcome in the executed notebook's metadata.

    papermill stores the whole input notebook as ``input_path`` when given a
    notebook object; the source path is what a reader needs. The outcome lets
    a later build tell a finished chapter from one that failed or timed out
    (papermill records no exception for a timeout).
    """
    import nbformat

    if not executed.exists():
        return
    nb = nbformat.read(executed, as_version=4)
    nb.metadata.setdefault("papermill", {})["input_path"] = chapter.source.as_posix()
    nb.metadata.papermill["output_path"] = chapter.source.with_suffix(".ipynb").as_posix()
    nb.metadata["streamlab"] = {"source": chapter.source.as_posix(), "status": "ok" if ok else "failed"}
    hide_injected_parameters(nb)
    nbformat.write(nb, executed)


def hide_injected_parameters(nb: Any) -> None:
    """Tag the cell papermill injects (`# Parameters`) `remove-cell`, as the chapter's own parameters cell is:
    the run's parameters are plumbing; the page states its profile and machine in the run-facts table."""
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
    except Exception:  # a half-written or foreign file is as good as missing
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
    traceback = [_strip_ansi(line) for line in getattr(exc, "traceback", None) or []]
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


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)


def executed_profile(path: Path) -> tuple[str, float | None]:
    """Profile and duration recorded by papermill in an executed notebook."""
    import nbformat

    meta = nbformat.read(path, as_version=4).metadata.get("papermill", {})
    return str(meta.get("parameters", {}).get("profile", "?")), meta.get("duration")


def executed_summary(folder: Path | str = ".", exclude: str = "") -> Any:
    """Profile, duration and end time of the executed chapters in ``folder``.

    For the reflection chapter, which the runner executes last and in the
    mirror's chapter folder: what rebuilding the book costs. Empty when the
    chapter runs outside the mirror (plain papermill).
    """
    import nbformat
    import pandas as pd

    rows = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        if path.stem == exclude:
            continue
        meta = nbformat.read(path, as_version=4).metadata.get("papermill", {})
        if meta.get("duration") is None:
            continue
        rows.append({
            "chapter": path.stem,
            "profile": str(meta.get("parameters", {}).get("profile", "?")),
            "seconds": round(float(meta["duration"]), 1),
            "finished (UTC)": str(meta.get("end_time", ""))[:16].replace("T", " "),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["chapter", "profile", "seconds", "finished (UTC)"])


def kept_result(chapter: Chapter, layout: Layout) -> ChapterResult:
    """A chapter not executed in this run, for the table: kept, stale (source newer) or failed earlier."""
    executed = layout.executed(chapter)
    profile, seconds = executed_profile(executed)
    if not is_executed_ok(executed):
        return ChapterResult(chapter, "failed", profile, seconds=seconds, message="failed in an earlier run")
    if (layout.root / chapter.source).stat().st_mtime > executed.stat().st_mtime:
        message = f"source newer than its executed notebook: re-run with --chapters {chapter.key}"
        return ChapterResult(chapter, "stale", profile, seconds=seconds, message=message)
    return ChapterResult(chapter, "kept", profile, seconds=seconds)


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


# --------------------------------------------------------------------------- build


def build_html(layout: Layout, console: Any) -> bool:
    """Build the mirror with jupyter-book (warnings are errors) and put the HTML in <build-root>/html.

    jupyter-book writes to ``<path-output>/_build/html``; building into a fresh
    temporary path-output and moving the result makes every build a full one,
    so ``-W`` sees the warnings of every page, not only of the changed ones.
    """
    log_path = layout.build_root / "jupyter-book.log"
    layout.build_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="jupyter-book-", dir=layout.build_root) as tmp:
        command = [
            sys.executable,
            "-c",
            "import sys; from jupyter_book.cli.main import main; sys.argv[0] = 'jupyter-book'; sys.exit(main())",
            "build", str(layout.mirror), "--path-output", tmp, "-W", "-n", "--keep-going",
        ]  # fmt: skip
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        log_path.write_text(proc.stdout + proc.stderr, encoding="utf-8")
        built = Path(tmp) / "_build" / "html"
        if proc.returncode != 0 or not (built / "index.html").exists():
            output = _strip_ansi(proc.stdout + proc.stderr).replace(f"{layout.mirror}{os.sep}", "")
            problems = [line for line in output.splitlines() if re.search(r"WARNING|ERROR", line)]
            for line in problems[:40] or output.splitlines()[-20:]:
                console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
            console.print(f"[red]✗ HTML build failed[/]; full log: {_display_path(log_path)}")
            return False
        copy_results(layout, built)
        _replace_dir(built, layout.html)
    return True


def copy_results(layout: Layout, html: Path) -> None:
    """Copy each chapter's results folder into the HTML tree at the same relative path.

    Chapters link their saved tables relative to the executed notebook
    (``<stem>_files/x.csv``); jupyter-book leaves such links alone, so the
    files must sit beside the page for the links to work.
    """
    for results in layout.mirror.rglob("*_files"):
        if results.is_dir() and any(results.iterdir()):
            shutil.copytree(results, html / results.relative_to(layout.mirror), dirs_exist_ok=True)


def _replace_dir(new: Path, target: Path) -> None:
    """Swap ``target`` for ``new`` so readers never see a half-written site."""
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    shutil.move(str(new), target)
    shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- reporting


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


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
        prog="python -m streamlab.book.runner",
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
        tqdm.write(f"▶ {item.chapter.stem} (profile {item.params['profile']})", file=sys.stderr)
        result, failure = execute_chapter(item, layout, cell_timeout, show_progress)
        results[item.chapter] = result
        if failure:
            return results, failure
        tqdm.write(f"  ✓ {item.chapter.stem} in {result.seconds or 0.0:.1f} s", file=sys.stderr)
    return results, None


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
    console.print(f"executed notebooks: {_display_path(layout.mirror)}")
    if args.build:
        console.print(f"HTML: {_display_path(layout.html / 'index.html')}")
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
        print(f"bookrun: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("bookrun: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
