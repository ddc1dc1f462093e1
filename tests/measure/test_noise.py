"""The noise meter reads /proc right (fixture text) and flags a figure measured beside other work."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from streamlab.measure import noise
from streamlab.measure.noise import CpuTimes, Snapshot

PROC_STAT = """\
cpu  10132153 290696 3084719 46828483 16683 0 25195 175 0 0
cpu0 1393280 32966 572056 13343292 6130 0 17875 170 0 0
cpu1 1335009 29327 461498 13574563 5010 0 7320 5 0 0
intr 1462898 36 9 0 0
ctxt 16787563
"""

# the command name holds a space and parentheses: fields are counted from the last ')'
PID_STAT = ("4242 (java (broker) 1) S 4200 4242 4200 0 -1 4194560 61391 0 27 0 1500 250 0 0 20 0 48 0 "
            "123456 5000000000 180000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0")


def test_proc_stat_gives_total_idle_and_steal_ticks():
    cpu = noise.parse_proc_stat(PROC_STAT)
    assert cpu.steal == 175
    assert cpu.idle == 46828483 + 16683
    assert cpu.total == 10132153 + 290696 + 3084719 + 46828483 + 16683 + 0 + 25195 + 175


def test_pid_stat_gives_parent_and_cpu_ticks_past_a_strange_name():
    assert noise.parse_pid_stat(PID_STAT) == (4200, 1500 + 250)


def test_loadavg_and_meminfo():
    assert noise.parse_loadavg("3.17 2.05 1.40 4/812 99999\n") == pytest.approx(3.17)
    meminfo = "MemTotal:       24600000 kB\nMemFree:         1000000 kB\nMemAvailable:   20480000 kB\n"
    assert noise.parse_meminfo_available_mib(meminfo) == pytest.approx(20000.0)
    with pytest.raises(ValueError):
        noise.parse_meminfo_available_mib("MemTotal: 1 kB\n")
    with pytest.raises(ValueError):
        noise.parse_proc_stat("intr 1 2 3\n")


def test_the_measurement_is_its_root_s_tree_and_the_marked_processes():
    processes = {1: (0, 0, False), 100: (1, 0, False), 101: (100, 0, False), 102: (101, 0, False),
                 200: (1, 0, True), 201: (200, 0, False), 300: (1, 0, False)}
    assert noise.own_pids(processes, 100) == {100, 101, 102, 200, 201}


def _snapshot(total: int, steal: int, processes: dict[int, tuple[int, int, bool]]) -> Snapshot:
    return Snapshot(CpuTimes(total, 0, steal), processes)


def test_others_share_counts_only_processes_outside_the_measurement():
    before = _snapshot(1000, 0, {10: (1, 100, False), 11: (10, 50, False), 20: (1, 0, True), 30: (1, 400, False)})
    after = _snapshot(1200, 2, {10: (1, 150, False), 11: (10, 90, False), 20: (1, 60, True), 30: (1, 430, False),
                                31: (1, 5, False)})
    state = noise.compare(before, after, root=10, loadavg=1.5, mem_available_mib=9000)
    # 200 machine ticks; only pid 30 is outside (30 ticks); pid 31 appeared, nothing to diff it against
    assert state.others_share == pytest.approx(30 / 200)
    assert state.steal_share == pytest.approx(2 / 200)
    assert not state.busy
    assert state.row()["others_cpu_pct"] == 15.0 and state.row()["machine_busy"] is False


def test_a_figure_beside_other_work_or_steal_is_flagged_busy():
    before = _snapshot(1000, 0, {10: (1, 0, False), 30: (1, 0, False)})
    busy = noise.compare(before, _snapshot(1200, 0, {10: (1, 0, False), 30: (1, 80, False)}), 10, 4.0, 100)
    assert busy.others_share == pytest.approx(0.4) and busy.busy
    stolen = noise.compare(before, _snapshot(1200, 20, {10: (1, 0, False), 30: (1, 0, False)}), 10, 1.0, 100)
    assert stolen.steal_share == pytest.approx(0.1) and stolen.busy
    assert math.isnan(noise.compare(before, before, 10, 1.0, 100).others_share)


def test_the_meter_reads_a_fixture_proc_tree(tmp_path: Path):
    proc = tmp_path / "proc"
    (proc / "4242").mkdir(parents=True)
    (proc / "4242" / "cmdline").write_bytes(b"java\0-cp\0/data/stack/kafka-1\0")
    (proc / "self").mkdir()                           # not a pid: skipped
    (proc / "loadavg").write_text("0.50 0.40 0.30 1/100 4242\n")
    (proc / "meminfo").write_text("MemAvailable:   2048000 kB\n")
    pid = proc / "4242" / "stat"
    pid.write_text(PID_STAT)
    (proc / "stat").write_text(PROC_STAT)
    meter = noise.NoiseMeter(markers=["/data/stack"], proc=proc).start()
    assert meter.before is not None and meter.before.processes[4242] == (4200, 1750, True)
    pid.write_text(PID_STAT.replace(" 1500 250 ", " 1600 250 "))
    (proc / "stat").write_text(PROC_STAT.replace("cpu  10132153", "cpu  10132553"))
    state = meter.stop()
    assert state.seconds_ticks == 400
    assert state.others_share == 0.0                      # the marked broker's 100 ticks are the measurement's
    assert state.load1 == 0.5 and state.mem_available_mib == 2000.0


def test_the_meter_on_this_machine_gives_shares_between_zero_and_one():
    if not Path("/proc/stat").exists():
        pytest.skip("no /proc on this system")
    with noise.NoiseMeter() as meter:
        sum(i * i for i in range(200_000))
    state = meter.state
    assert state.seconds_ticks >= 0 and os.getpid() > 0
    if state.seconds_ticks:
        assert 0.0 <= state.others_share <= 1.0 and 0.0 <= state.steal_share <= 1.0


def test_load_average_reads_proc_or_says_unknown(tmp_path: Path):
    (tmp_path / "loadavg").write_text("1.25 1.00 0.75 2/300 77\n")
    assert noise.load_average(tmp_path) == 1.25
    assert noise.load_average(tmp_path / "missing") is None
