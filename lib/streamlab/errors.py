"""The one user-facing error type.

Anything a user can fix (a bad flag, a broker that is not running, a port in use)
is raised as `UserError` with a message that says what to do; the CLI prints it as
one line and exits 2, and the book shows it as a one-line note instead of a
traceback. Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(RuntimeError):
    """A problem the user can fix; the message says how."""
