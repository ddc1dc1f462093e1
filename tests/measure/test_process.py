"""Process sampling against real processes: this one, a busy child, a gone one."""

from __future__ import annotations

import math
import os
import subprocess
import sys

from streamlab.measure.process import CpuPercent, ResourceMeter, cpu_seconds, cpu_seconds_or_nan, describe, usage


def _burn(seconds: float) -> None:
    import time

    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_cpu_seconds_grow_with_work_and_rss_is_there():
    before = cpu_seconds(os.getpid())
    _burn(0.2)
    after = usage(os.getpid())
    assert after.cpu_s >= before + 0.15
    assert after.rss_bytes > 1 << 20


def test_a_gone_process_is_nan_or_none():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert math.isnan(cpu_seconds_or_nan(child.pid))
    meter = CpuPercent()
    assert meter.sample("gone", child.pid) is None


def test_cpu_percent_needs_a_baseline_then_reports():
    meter = CpuPercent()
    assert meter.sample("me", os.getpid(), now=0.0) is None
    _burn(0.1)
    pct, rss = meter.sample("me", os.getpid(), now=1.0)
    assert pct >= 5.0 and rss > 0


def test_resource_meter_counts_what_its_processes_spent():
    meter = ResourceMeter([os.getpid()]).start()
    _burn(0.2)
    spent = meter.stop()
    assert spent["cpu_s"] >= 0.15
    assert math.isnan(ResourceMeter([]).start().stop()["cpu_s"])


def test_describe_names_the_program():
    facts = describe(os.getpid())
    assert facts["program"].startswith("python") and facts["threads"] >= 1
