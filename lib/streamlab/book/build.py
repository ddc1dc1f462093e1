"""The HTML build: jupyter-book on the mirror tree (warnings are errors), the results copied beside their pages."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .execute import strip_ansi
from .layout import Layout, display_path


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
            output = strip_ansi(proc.stdout + proc.stderr).replace(f"{layout.mirror}{os.sep}", "")
            problems = [line for line in output.splitlines() if re.search(r"WARNING|ERROR", line)]
            for line in problems[:40] or output.splitlines()[-20:]:
                console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
            console.print(f"[red]✗ HTML build failed[/]; full log: {display_path(log_path)}")
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
