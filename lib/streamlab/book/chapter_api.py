"""The small API the chapters import: where a chapter saves its results, links to them, what a rebuild costs.

Kept apart from the runner so a chapter's first cell imports nothing of papermill or jupyter-book.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .layout import RunnerError, find_book_root


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
    if _in_kernel():
        route_logs(folder / CLIENT_LOG)
    return folder


#: The file beside a chapter's results that takes the log lines of the client libraries.
CLIENT_LOG = "client-libraries.log"


def route_logs(path: Path) -> logging.Handler:
    """Send every log record (librdkafka's lines through confluent-kafka's ``logger``, kafka-python's,
    pika's, ours) to ``path`` instead of the cell's stderr.

    Without a handler Python's last-resort handler prints WARNING lines to stderr, and a kernel shows
    stderr on the page: chapter 00 showed librdkafka's ``SESSTMOUT``/``GETPID`` lines between its
    tables. A chapter that wants a log line on its page quotes it. Called by `results_dir` in a kernel;
    one handler per file however often it is called.
    """
    root = logging.getLogger()
    target = str(Path(path).resolve())
    for handler in root.handlers:
        if isinstance(handler, logging.FileHandler) and handler.baseFilename == target:
            return handler
    handler = logging.FileHandler(target, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    return handler


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - the book extra installs IPython
        return False
    return get_ipython() is not None


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
