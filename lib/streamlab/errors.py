"""The one user-facing error type.

Anything a user can fix (a bad flag, a broker that is not running, a port in use)
is raised as `UserError` with a message that says what to do; the CLI prints it as
one line and exits 2, and the book shows it as a one-line note instead of a
traceback. Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


class UserError(RuntimeError):
    """A problem the user can fix; the message says how."""


@contextlib.contextmanager
def exit_on_user_error(prefix: str = "error: ") -> Iterator[None]:
    """Turn a `UserError` raised inside into one line on stderr and exit code 2 (no traceback)."""
    try:
        yield
    except UserError as exc:
        print(f"{prefix}{exc}", file=sys.stderr)
        raise SystemExit(2) from None
