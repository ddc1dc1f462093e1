"""Durations given on the command line: the workloads' parser, plus the rule that a run takes time."""

from __future__ import annotations

from ..bench.workload import parse_duration
from ..errors import UserError


def positive_duration(text: str, what: str = "duration") -> float:
    """'90', '90s', '2m', '1h', '500ms' → seconds; a one-line error for anything else or for zero."""
    seconds = parse_duration(text, what)
    if seconds <= 0:
        raise UserError(f"{what} {text!r} must be positive: use e.g. 60s, 2m or 90")
    return seconds
