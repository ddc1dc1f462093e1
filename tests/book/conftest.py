"""Fixtures of the book tests: the repository, and a quick-profile build made once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from plugins.stacks import TEST_ROOT, running_stack, shifted, stack_env

REPO = Path(__file__).resolve().parents[2]

#: Ports and data dir of the stack the book is executed against in tests (apart from every other stack).
BOOK_ENV = shifted({
    "STREAMLAB_STACK_DIR": str(TEST_ROOT / "book"),
    "BROKERS": "3", "KAFKA_PORT": "29392", "KAFKA_CONTROLLER_PORT": "29492", "KAFKA_HEAP": "384m",
    "RABBIT_NODES": "1", "AMQP_PORT": "5992", "RABBIT_DIST_PORT": "25992", "RABBIT_MGMT_PORT": "15992",
    "RABBIT_EPMD_PORT": "4689", "STACK": "local",
    # The chapters' container sections take their fallback here (`needs-not:podman`, the compose files
    # checked statically): the podman tests (tests/stack/test_podman_stack.py, another xdist group) start
    # the same containers with the same library calls, and running them twice cost the suite about
    # four minutes on two cores. `make book` runs them live.
    "STREAMLAB_BOOK_WITHOUT": "podman",
    # the test build's figures and (absent) warm-up stay out of the checkout's data/: a `make book` history
    # must not count test builds, and the test's brokers were never warmed
    "STREAMLAB_RESULTS_DB": str(REPO / "_build" / "test" / "results.sqlite"),
    "STREAMLAB_WARMUP_RECORD": str(REPO / "_build" / "test" / "broker-warmup.csv"),
})

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
    command = [sys.executable, "-m", "streamlab.book", "--profile", "quick", "--build",
               "--build-root", str(TEST_BUILD_ROOT)]  # fmt: skip
    # The chapters run against live brokers: a stack of the book test's own (3 Kafka nodes, since the
    # cluster tour stops brokers; one RabbitMQ node), up only while the book builds.
    for _stack in running_stack(BOOK_ENV, "all"):
        proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False,
                              env=stack_env(BOOK_ENV))
    if proc.returncode != 0:
        pytest.fail(f"quick book build failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}", pytrace=False)
    return TEST_BUILD_ROOT / "html"


@pytest.fixture(scope="session")
def screenshots_dir() -> Path:
    """Where page pictures go: _build/screenshots/ (kept for humans to look at)."""
    folder = REPO / "_build" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
