"""Durations on the command line: one parser (the workloads'), and a run must take time."""

from __future__ import annotations

import pytest

from streamlab.cli.units import positive_duration
from streamlab.errors import UserError


@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("2m", 120), ("1h", 3600), ("500ms", 0.5),
                                           (" 1.5 ", 1.5)])
def test_durations(text, seconds):
    assert positive_duration(text) == seconds


@pytest.mark.parametrize("text, message", [("soon", "must be a duration like 20s"), ("0", "must be positive"),
                                           ("-5s", "must be a duration like 20s")])
def test_bad_durations_are_user_errors(text, message):
    with pytest.raises(UserError, match=message):
        positive_duration(text)
