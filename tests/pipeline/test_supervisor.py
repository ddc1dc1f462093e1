"""AppRun's supervisor: a crashed service comes back after a backoff, and the run says why (issue 15)."""

from __future__ import annotations

import signal
import sys
import time

import pytest

from streamlab.errors import UserError
from streamlab.pipeline.runner import AppConfig, AppRun

# crashes (exit 3, with a last line saying so) until it has run `crashes` times, then runs until stopped
FLAKY = """
import pathlib, sys, time
counter = pathlib.Path(sys.argv[1]); runs = int(counter.read_text() or 0) + 1 if counter.exists() else 1
counter.write_text(str(runs))
if runs <= int(sys.argv[2]):
    print("starting"); print(f"boom: poison on run {runs}", file=sys.stderr); sys.exit(3)
time.sleep(60)
"""


class FlakyRun(AppRun):
    def __init__(self, config: AppConfig, crashes: int) -> None:
        super().__init__(config)
        self.crashes = crashes

    def command(self, service: str) -> list[str]:
        return [sys.executable, "-c", FLAKY, str(self.config.data_dir / f"{service}.runs"), str(self.crashes)]


def supervise_for(run: AppRun, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run.supervise()
        time.sleep(0.05)


def test_a_crashed_service_is_restarted_with_backoff_and_the_reason_logged(tmp_path, caplog):
    run = FlakyRun(AppConfig(data_dir=tmp_path, restart_backoff_s=0.2), crashes=2)
    tmp_path.mkdir(exist_ok=True)
    run._spawn("health_processor")
    try:
        with caplog.at_level("WARNING", logger="streamlab.runner"):
            supervise_for(run, 3.0)
        assert run.restarts == {"health_processor": 2}
        assert run.services["health_processor"].process.poll() is None            # the third run stays up
        first, second = run.restart_events
        assert (first.exit_code, first.last_line) == (3, "boom: poison on run 1")
        assert second.backoff_s == pytest.approx(2 * first.backoff_s)            # backoff doubles
        assert "exited with code 3 (boom: poison on run 2)" in caplog.text
    finally:
        run.kill_all()


def test_the_supervisor_gives_up_after_max_restarts_in_one_line(tmp_path):
    run = FlakyRun(AppConfig(data_dir=tmp_path, restart_backoff_s=0.05, max_restarts=2), crashes=99)
    run._spawn("alert_csv_sink")
    try:
        with pytest.raises(UserError, match=r"alert_csv_sink exited with code 3 after 2 restart\(s\): boom"):
            supervise_for(run, 5.0)
    finally:
        run.kill_all()


def test_a_service_signalled_on_purpose_is_left_to_the_caller(tmp_path):
    run = FlakyRun(AppConfig(data_dir=tmp_path, restart_backoff_s=0.05), crashes=0)
    run._spawn("health_parquet_sink")
    try:
        assert run.signal_service("health_parquet_sink", signal.SIGKILL) == -signal.SIGKILL
        supervise_for(run, 0.5)
        assert run.restarts == {} and run.services["health_parquet_sink"].process.poll() is not None
        run.restart_service("health_parquet_sink")                               # the caller brings it back
        assert run.services["health_parquet_sink"].process.poll() is None
    finally:
        run.kill_all()


def test_supervision_can_be_left_to_the_caller(tmp_path):
    run = FlakyRun(AppConfig(data_dir=tmp_path, restart_backoff_s=0.05, supervise=False), crashes=1)
    run._spawn("health_processor")
    try:
        supervise_for(run, 0.8)
        assert run.restarts == {} and run.services["health_processor"].process.poll() == 3
    finally:
        run.kill_all()


def wait_until(condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(0.05)


def test_the_supervisor_thread_restarts_without_a_watching_caller(tmp_path):
    """Issue 36: a chapter that only sleeps through its run still gets its crashed services back."""
    run = FlakyRun(AppConfig(data_dir=tmp_path, restart_backoff_s=0.05), crashes=2)
    run._spawn("health_processor")
    run.start_supervisor(interval_s=0.05)
    try:
        wait_until(lambda: run.restarts.get("health_processor") == 2
                   and run.services["health_processor"].process.poll() is None, timeout_s=20)
        assert [event.exit_code for event in run.restart_events] == [3, 3]
    finally:
        run.kill_all()
    assert run._supervisor is None                                               # kill_all stopped the thread


def test_the_supervisor_threads_give_up_reaches_the_caller(tmp_path):
    run = FlakyRun(AppConfig(data_dir=tmp_path, restart_backoff_s=0.05, max_restarts=1), crashes=99)
    run._spawn("alert_csv_sink")
    run.start_supervisor(interval_s=0.05)
    try:
        wait_until(lambda: run.failure is not None, timeout_s=20)
        with pytest.raises(UserError, match=r"alert_csv_sink exited with code 3 after 1 restart\(s\)"):
            run.supervise()                                                      # the caller's next watch
    finally:
        run.kill_all()
