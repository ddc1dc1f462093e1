"""Fixtures of the book tests: the repository, and a quick-profile build made once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: The test builds into its own root so it never replaces a `make book` build
#: (perhaps of the full profile) in _build/html.
TEST_BUILD_ROOT = REPO / "_build" / "test"

#: Set to an existing HTML build (e.g. `_build/html` right after `make book`)
#: to check that build instead of making a new one.
PREBUILT_ENV = "STREAMLAB_BOOK_HTML"


@pytest.fixture(scope="session")
def built_book() -> Path:
    """HTML of the book built by this test session with the quick profile (or $STREAMLAB_BOOK_HTML)."""
    prebuilt = os.environ.get(PREBUILT_ENV)
    if prebuilt:
        html = Path(prebuilt).resolve()
        if not (html / "index.html").is_file():
            pytest.fail(f"${PREBUILT_ENV}={prebuilt} has no index.html")
        return html
    command = [sys.executable, "-m", "streamlab.bookrun", "--profile", "quick", "--build",
               "--build-root", str(TEST_BUILD_ROOT)]  # fmt: skip
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(f"quick book build failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}", pytrace=False)
    return TEST_BUILD_ROOT / "html"


@pytest.fixture(scope="session")
def screenshots_dir() -> Path:
    """Where page pictures go: _build/screenshots/ (kept for humans to look at)."""
    folder = REPO / "_build" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
