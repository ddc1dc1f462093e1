"""Which chapters a build must execute: a content hash per chapter, stored beside its executed notebook.

Why. Executing the book takes tens of minutes against live brokers; most edits touch one chapter's
prose or one module. As jupyter-cache does for jupyter-book, a chapter's executed notebook is reused
while the inputs of its execution are unchanged, and re-executed as soon as one of them changes:

- ``code``: the chapter's code cells as they will run (source and tags, in order, after the
  ``needs:`` cells this machine does not meet were dropped). Prose is not an input of the execution:
  an edit to a Markdown cell is merged into the executed notebook (:func:`merge_markdown`) without
  running anything, as jupyter-cache does.
- ``parameters``: the papermill parameters the chapter receives (profile, profiles.yaml, --param) and
  the stack it measures (kind, Kafka brokers, RabbitMQ nodes: ``STACK``, ``BROKERS``, ``RABBIT_NODES``
  as the stack itself resolves them, so ``make book`` and a plain run of the runner agree).
- ``library``: every file of the code the chapters run (``CODE_INPUTS``): the package, pyproject.toml
  (its dependencies), the jars' POM (the Kafka version), the compose files, container recipes and the
  Java topology. A module one chapter does not import still counts: telling which modules a chapter
  reaches is harder to get right than a re-run is expensive.
- ``upstream``: for a page that reads what the other chapters' executions left (the reflection's
  table of what a rebuild costs, the run-facts appendix's row per chapter) and the repository's
  history (its churn and lessons), the records of the executions before it (``runner.read_by``) and
  the commit checked out.

The record (:class:`RunRecord`) is a small JSON file ``<stem>.run.json`` beside the executed notebook,
written only after a successful execution, and removed before an execution starts: a failed,
timed-out or interrupted execution leaves no record, so the next build executes that chapter again.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .layout import Chapter, Layout

#: Paths (relative to the book root) of the code a chapter's execution depends on: files or folders.
CODE_INPUTS: tuple[str, ...] = ("lib/streamlab", "pyproject.toml", "setup/pom.xml", "compose", "containers",
                                "java/streams-aggregate")
#: Files and folders under CODE_INPUTS that are build products, never inputs.
_IGNORED_PARTS = frozenset({"__pycache__", "target", "node_modules"})
_IGNORED_SUFFIXES = (".pyc", ".pyo")
RECORD_SUFFIX = ".run.json"
#: The tag of the Markdown cell the runner adds to a page: when, with which profile, at which commit.
EXECUTED_TAG = "streamlab-executed"


def _digest(parts: Iterable[bytes]) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(len(part).to_bytes(8, "big"))  # length-prefixed: ("ab", "c") differs from ("a", "bc")
        sha.update(part)
    return sha.hexdigest()


def _json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, default=str).encode()


def _files(root: Path, inputs: Sequence[str]) -> list[Path]:
    found: list[Path] = []
    for name in inputs:
        path = root / name
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in candidates:
            relative = file.relative_to(root)
            if any(part in _IGNORED_PARTS or part.startswith(".") or part.endswith(".egg-info")
                   for part in relative.parts) or file.name.endswith(_IGNORED_SUFFIXES):  # fmt: skip
                continue
            found.append(relative)
    return sorted(found)


def library_digest(root: Path, inputs: Sequence[str] = CODE_INPUTS) -> str:
    """One digest over the path and content of every file of the code the chapters run."""
    parts: list[bytes] = []
    for relative in _files(root, inputs):
        parts += [relative.as_posix().encode(), (root / relative).read_bytes()]
    return _digest(parts)


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def code_digest(notebook: Any) -> str:
    """The code cells as they will run: kernel, then each cell's source and tags, in order."""
    kernel = notebook.get("metadata", {}).get("kernelspec", {}).get("name", "")
    cells = [[cell.source, _tags(cell)] for cell in notebook.cells if cell.cell_type == "code"]
    return _digest([_json(kernel), _json(cells)])


def markdown_digest(notebook: Any) -> str:
    """The prose, for telling whether a reused notebook needs its Markdown merged in."""
    cells = [[cell.source, _tags(cell)] for cell in notebook.cells if cell.cell_type == "markdown"]
    return _digest([_json(cells)])


def stack_facts(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The stack a chapter would measure, as the stack resolves it from the environment and its data."""
    from ..stack.config import StackConfig

    config = StackConfig.from_env(None if environ is None else dict(environ))
    return {"stack": config.stack, "brokers": config.brokers, "rabbit_nodes": config.rabbit_nodes}


def parameters_digest(params: Mapping[str, Any], stack: Mapping[str, Any]) -> str:
    """The chapter's papermill parameters and the stack it measures (:func:`stack_facts`)."""
    return _digest([_json(dict(params)), _json(dict(stack))])


@dataclass(frozen=True)
class RunKey:
    """What a chapter's execution depends on, part by part (hex digests), so a rebuild can say why it runs."""

    code: str
    parameters: str
    library: str
    upstream: str = ""

    @property
    def digest(self) -> str:
        return _digest([_json(asdict(self))])

    def changed(self, other: RunKey) -> list[str]:
        """Names of the parts that differ from ``other``, in a fixed order."""
        mine, theirs = asdict(self), asdict(other)
        return [name for name in mine if mine[name] != theirs[name]]


@dataclass
class RunRecord:
    """One successful execution of a chapter: its key and the facts its page states."""

    key: RunKey
    executed_at: str  # ISO 8601, UTC
    profile: str
    commit: str
    seconds: float
    markdown: str = ""  # markdown_digest of the prose the executed notebook carries
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "digest": self.key.digest}, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunRecord:
        data = json.loads(text)
        data.pop("digest", None)
        data["key"] = RunKey(**data["key"])
        return cls(**data)

    def line(self) -> str:
        """The sentence a chapter's page carries under its opening paragraph."""
        when = datetime.fromisoformat(self.executed_at).strftime("%Y-%m-%d %H:%M UTC")
        minutes = self.seconds / 60
        took = f"{minutes:.1f} min" if minutes >= 1 else f"{self.seconds:.0f} s"
        return f"*Executed at {when} with profile `{self.profile}`, commit `{self.commit}` ({took}).*"


def record_path(layout: Layout, chapter: Chapter) -> Path:
    return layout.executed(chapter).with_suffix(RECORD_SUFFIX)


def read_record(layout: Layout, chapter: Chapter) -> RunRecord | None:
    """The record of the chapter's last successful execution; None when missing or unreadable."""
    path = record_path(layout, chapter)
    try:
        return RunRecord.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def write_record(layout: Layout, chapter: Chapter, record: RunRecord) -> None:
    """Write atomically (temp file + rename): a build killed half-way never leaves half a record."""
    path = record_path(layout, chapter)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(record.to_json(), encoding="utf-8")
    tmp.replace(path)


def forget(layout: Layout, chapter: Chapter) -> None:
    """Drop the record before an execution starts: until it succeeds, nothing of it may be reused."""
    record_path(layout, chapter).unlink(missing_ok=True)


def upstream_digest(layout: Layout, chapters: Iterable[Chapter], head: str = "") -> str:
    """The records of the chapters another one reads, as they are now (missing ones count as missing), and
    the ``head`` commit whose history it reads."""
    parts = [head.encode()]
    for chapter in chapters:
        record = read_record(layout, chapter)
        parts.append(_json([chapter.stem, record.key.digest, record.executed_at] if record else [chapter.stem]))
    return _digest(parts)


def reusable(layout: Layout, chapter: Chapter, key: RunKey) -> tuple[bool, str]:
    """Whether the executed notebook can be reused for ``key``, and if not, why (for the run's table)."""
    record = read_record(layout, chapter)
    if not layout.executed(chapter).is_file():
        return False, "no successful execution yet"
    if record is None:  # failed, interrupted, or made by a runner that kept no record
        return False, "no record of a successful execution with its inputs"
    if not layout.results(chapter).is_dir():
        return False, "its results folder is gone"
    changed = record.key.changed(key)
    if changed:
        return False, f"{', '.join(changed)} changed"
    return True, ""


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def head_commit(root: Path) -> str:
    """The full commit checked out at ``root``; empty outside git."""
    try:
        proc = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=False)  # fmt: skip
    except OSError:
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def commit_of(root: Path, paths: Sequence[str]) -> str:
    """The short commit of the tree, with ``+changes`` when ``paths`` differ from it; ``unknown`` outside git."""
    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)

    try:
        head = git("rev-parse", "--short", "HEAD")
        if head.returncode != 0:
            return "unknown"
        dirty = git("status", "--porcelain", "--", *paths).stdout.strip()
    except OSError:  # no git on this machine
        return "unknown"
    return head.stdout.strip() + ("+changes" if dirty else "")


def inject_executed_line(notebook: Any, record: RunRecord) -> None:
    """Put the record's sentence after the first Markdown cell (the title and opening), replacing an older one."""
    import nbformat

    notebook.cells = [cell for cell in notebook.cells if EXECUTED_TAG not in _tags(cell)]
    first = next((i for i, cell in enumerate(notebook.cells) if cell.cell_type == "markdown"), -1)
    cell = nbformat.v4.new_markdown_cell(record.line(), metadata={"tags": [EXECUTED_TAG]})
    notebook.cells.insert(first + 1, cell)


def merge_markdown(executed: Any, source: Any) -> Any:
    """The executed notebook with the prose of ``source``: the source's cells, each code cell replaced by its
    executed twin (outputs, papermill's metadata), papermill's parameters cell kept before its twin. The
    executed line is dropped with the old prose: the caller puts it back (:func:`inject_executed_line`).

    Only valid when both have the same code cells (equal ``code_digest``), which the caller checks.
    """
    # Each code cell of the source with the executed cells that belong to it: its twin, then papermill's
    # parameters cell where papermill put it (right after the twin of the `parameters` cell).
    groups: list[list[Any]] = []
    for cell in executed.cells:
        if cell.cell_type != "code":
            continue
        if "injected-parameters" in _tags(cell) and groups:
            groups[-1].append(cell)
        else:
            groups.append([cell])
    code = iter(groups)
    cells = []
    for cell in source.cells:
        if cell.cell_type != "code":
            cells.append(cell)
            continue
        group = next(code, None)
        if group is None or group[0].source != cell.source:
            raise ValueError("the executed notebook's code cells differ from the source's")
        cells += group
    executed.cells = cells
    return executed
