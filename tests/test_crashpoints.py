"""Crash points: parsed strictly, inert when unset, and a real SIGKILL at exactly the N-th pass, once per stamp."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from streamlab import crashpoints

SCRIPT = """
import sys
from streamlab import crashpoints
for i in range(5):
    print(i, flush=True)
    crashpoints.reach("svc.after_write")
    crashpoints.reach("svc.other")
print("done", flush=True)
"""


def _run(env: dict[str, str]) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLAB_CRASH")}
    return subprocess.run([sys.executable, "-c", SCRIPT], env={**full, **env}, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("spec, plans", [("", {}), ("  ", {}), ("a.b", {"a.b": crashpoints.CrashPlan("a.b", 1)}),
                                         ("a.b:3, c.d:2", {"a.b": crashpoints.CrashPlan("a.b", 3),
                                                           "c.d": crashpoints.CrashPlan("c.d", 2)})])
def test_parse(spec, plans):
    assert crashpoints.parse(spec) == plans


def test_each_point_has_its_own_stamp():
    assert crashpoints.parse("a.b:2", "/tmp/run/crash")["a.b"].stamp == "/tmp/run/crash.a.b"


@pytest.mark.parametrize("spec", ["a.b:0", "a.b:x", ":3", "a.b:-1"])
def test_a_malformed_spec_is_an_error_not_a_silent_no_op(spec):
    with pytest.raises(ValueError, match="STREAMLAB_CRASH_AT"):
        crashpoints.parse(spec)


def test_unset_the_points_do_nothing():
    crashpoints.arm({})
    crashpoints.reach("anything")   # returns; the test process is still alive


def test_the_process_is_killed_at_the_nth_pass_of_its_point():
    result = _run({"STREAMLAB_CRASH_AT": "svc.after_write:3"})
    assert result.returncode == -signal.SIGKILL
    assert result.stdout.split() == ["0", "1", "2"]


def test_other_points_and_no_plan_run_through():
    assert _run({}).stdout.split()[-1] == "done"
    assert _run({"STREAMLAB_CRASH_AT": "svc.elsewhere:1"}).stdout.split()[-1] == "done"


def test_a_stamp_makes_the_crash_happen_once(tmp_path):
    stamp = tmp_path / "crashed.svc.after_write"
    env = {"STREAMLAB_CRASH_AT": "svc.after_write:2,svc.other:9", "STREAMLAB_CRASH_STAMP": str(tmp_path / "crashed")}
    first = _run(env)
    assert first.returncode == -signal.SIGKILL and first.stdout.split() == ["0", "1"]
    assert int(stamp.read_text()) > 0            # the kill time, for the harness's recovery clock
    again = _run(env)                              # a restart with the same environment
    assert again.returncode == 0 and again.stdout.split()[-1] == "done"   # svc.other:9 is never reached
