"""Where the book's sources are and where a run writes: the chapters of the TOC, the mirror tree, the book root."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PROFILES_FILE = Path("book/profiles.yaml")
BOOK_FILES = ("_config.yml", "_toc.yml")
BOOK_DIR = Path("book")


class RunnerError(Exception):
    """A problem the user can fix (bad profile, unknown chapter, missing kernel)."""


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


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
