"""Blocking calls are told apart from work in a profile, and the chapter's sentence follows the profile."""

from __future__ import annotations

import cProfile
import time

import pytest

from streamlab.experiments.profiling import blocking_calls, waiting_pct, work_phrase


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


def test_sleep_is_waiting_and_the_phrase_names_it(tmp_path):
    paced = _profile(tmp_path / "paced.prof", 0.3, 0.1)
    table = blocking_calls(paced)
    assert table.loc[0, "function"] == "<built-in method time.sleep>"
    assert table.loc[0, "waits_for"] == "its own pacing"
    assert waiting_pct(paced) == pytest.approx(75, abs=15)
    phrase = work_phrase({"telemetry_generator": paced})
    assert phrase.startswith("Unthrottled, not every service's time is its work")
    assert "the telemetry generator spent" in phrase and "largest wait is `time.sleep`" in phrase


def test_a_profile_of_work_only_says_its_time_is_its_work(tmp_path):
    worked = _profile(tmp_path / "work.prof", 0.0, 0.2)
    assert waiting_pct(worked) < 5
    assert work_phrase({"health_processor": worked}).startswith("Unthrottled, a service's time is its work")
