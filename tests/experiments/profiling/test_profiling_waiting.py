"""Blocking calls are told apart from work in a profile, and the largest wait is named from the profile."""

from __future__ import annotations

import cProfile
import time

import pytest

from streamlab.experiments.profiling import blocking_calls, largest_wait, waiting_pct


def busy(seconds: float) -> int:
    end, n = time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        n += sum(i for i in range(50))
    return n


def _profile(path, sleep_s: float, work_s: float):
    profiler = cProfile.Profile()
    profiler.enable()
    time.sleep(sleep_s)
    busy(work_s)
    profiler.disable()
    profiler.dump_stats(str(path))
    return path


def test_sleep_is_waiting_and_is_named_the_largest_wait(tmp_path):
    paced = _profile(tmp_path / "paced.prof", 0.3, 0.1)
    table = blocking_calls(paced)
    assert table.loc[0, "function"] == "<built-in method time.sleep>"
    assert table.loc[0, "waits_for"] == "its own pacing"
    assert waiting_pct(paced) == pytest.approx(75, abs=15)
    wait = largest_wait(paced)
    assert wait["function"] == "time.sleep" and wait["waits_for"] == "its own pacing"
    assert wait["share_pct"] == pytest.approx(waiting_pct(paced))


def test_a_profile_of_work_only_has_no_wait_to_name(tmp_path):
    worked = _profile(tmp_path / "work.prof", 0.0, 0.2)
    assert waiting_pct(worked) < 5
    assert largest_wait(worked)["share_pct"] < 5
