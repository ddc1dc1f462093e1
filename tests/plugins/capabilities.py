"""What a test needs from the machine (root, a network namespace, `ss`, chromium, podman ...): skipped where
it is missing on a developer's machine, a failure in CI (`CI` set), where `make setup` installs it and the
machine is meant to have it, so a missing capability cannot pass silently as a skip.

`make test` runs pytest with `-ra`: the summary lists every skip with its reason.
"""

from __future__ import annotations

import os

import pytest

IN_CI = bool(os.environ.get("CI"))


def missing(reason: str) -> None:
    """The test cannot run here because of `reason`: a skip, or in CI a failure that says so."""
    if IN_CI:
        pytest.fail(f"CI is set and this machine should have it: {reason}", pytrace=False)
    pytest.skip(reason)


def require(available: bool, reason: str) -> None:
    """`missing(reason)` unless `available`."""
    if not available:
        missing(reason)


def importable(name: str):
    """The module `name` (a dependency of the `dev` extra), or `missing(...)`: pytest.importorskip, CI-aware."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"needs the Python module {name} ({exc}): pip install -e '.[book,dev]'")
