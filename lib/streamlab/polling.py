"""Waiting for something to become true, with a deadline and a message that says what did not happen.

Brokers boot, elect leaders and form clusters asynchronously; every part of streamlab that waits for
one of those polls through `wait_until`, so a timeout always reads the same way and names its cause.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import UserError

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.25,
               log_hint: str = "", error: type[Exception] = UserError) -> T:
    """Poll `predicate` until it returns something true (returned); on timeout raise `error`.

    An exception from the predicate counts as "not yet" (a probe fails in many ways while a node
    boots) and is quoted in the timeout's message.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - see the docstring
            last_error = exc
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    detail = f" (last error: {last_error})" if last_error else ""
    hint = f"; see {log_hint}" if log_hint else ""
    raise error(f"timed out after {timeout:.0f}s waiting for {what}{detail}{hint}")


__all__: list[Any] = ["wait_until"]


def holds_within(predicate: Callable[[], object], timeout_s: float, interval_s: float = 0.2) -> bool:
    """Poll `predicate` until it holds (True) or `timeout_s` passes (False); exceptions count as "not yet".

    For experiments that report how long a wait took, or that it did not end, instead of failing on it."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if predicate():
                return True
        except Exception:  # noqa: BLE001 - a predicate that fails has not held yet
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)
