"""AppRun's supervisor: a crashed service comes back after a backoff, and the run says why (issue 15)."""

from __future__ import annotations

import signal
import sys
import time

import pytest

from streamlab.errors import UserError
from streamlab.pipeline.runner import AppConfig, AppRun
from streamlab.polling import wait_until

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


def supervise_until(run: AppRun, condition, what: str, timeout: float = 60.0) -> None:
    """Supervise (as every loop that watches a run does) until `condition` holds; a generous deadline that
    fails loudly, since how fast Python starts three times depends on the machine's load."""
    def supervised_and_holds():
        run.supervise()
        return condition()

    wait_until(supervised_and_holds, timeout, what, interval=0.05, error=AssertionError)


def supervise_past_backoff(run: AppRun) -> None:
    """Supervise, then supervise again once any restart the first call scheduled is due: a supervisor that
    would restart a service does so by then, however slow the machine (the backoff is on its clock)."""
    run.supervise()
    due = time.monotonic() + 2 * run.config.restart_backoff_s
    while time.monotonic() < due:
        time.sleep(0.01)
    run.supervise()


def runs_of(run: AppRun, service: str) -> int:
    counter = run.config.data_dir / f"{service}.runs"
    return int(counter.read_text() or 0) if counter.exists() else 0


def test_a_crashed_service_is_restarted_with_backoff_and_the_reason_logged(tmp_path, caplog):
    run = FlakyRun(AppConfig(data_dir=tmp_path, restart_backoff_s=0.2), crashes=2)
    tmp_path.mkdir(exist_ok=True)
    run._spawn("health_processor")
    try:
        with caplog.at_level("WARNING", logger="streamlab.runner"):
            supervise_until(run, lambda: runs_of(run, "health_processor") == 3, "the third run of the service")
            supervise_past_backoff(run)
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
            deadline = time.monotonic() + 60           # pytest.raises fails loudly if it never gives up
            while time.monotonic() < deadline:
                run.supervise()
                time.sleep(0.05)
    finally:
        run.kill_all()


def test_a_service_signalled_on_purpose_is_left_to_the_caller(tmp_path):
    run = FlakyRun(AppConfig(data_dir=tmp_path, restart_backoff_s=0.05), crashes=0)
    run._spawn("health_parquet_sink")
    try:
        assert run.signal_service("health_parquet_sink", signal.SIGKILL) == -signal.SIGKILL
        supervise_past_backoff(run)
        assert run.restarts == {} and run.services["health_parquet_sink"].process.poll() is not None
        run.restart_service("health_parquet_sink")                               # the caller brings it back
        assert run.services["health_parquet_sink"].process.poll() is None
    finally:
        run.kill_all()


def test_supervision_can_be_left_to_the_caller(tmp_path):
    run = FlakyRun(AppConfig(data_dir=tmp_path, restart_backoff_s=0.05, supervise=False), crashes=1)
    run._spawn("health_processor")
    try:
        wait_until(lambda: run.services["health_processor"].process.poll() is not None, 60,
                   "the service's crash", error=AssertionError)
        supervise_past_backoff(run)
        assert run.restarts == {} and run.services["health_processor"].process.poll() == 3
    finally:
        run.kill_all()


def test_the_supervisor_thread_restarts_without_a_watching_caller(tmp_path):
    """Issue 36: a chapter that only sleeps through its run still gets its crashed services back."""
    run = FlakyRun(AppConfig(data_dir=tmp_path, restart_backoff_s=0.05), crashes=2)
    run._spawn("health_processor")
    run.start_supervisor(interval_s=0.05)
    try:
        wait_until(lambda: run.restarts.get("health_processor") == 2
                   and run.services["health_processor"].process.poll() is None, 60,
                   "the supervisor thread's second restart", interval=0.05, error=AssertionError)
        assert [event.exit_code for event in run.restart_events] == [3, 3]
    finally:
        run.kill_all()
    assert run._supervisor is None                                               # kill_all stopped the thread


def test_the_supervisor_threads_give_up_reaches_the_caller(tmp_path):
    run = FlakyRun(AppConfig(data_dir=tmp_path, restart_backoff_s=0.05, max_restarts=1), crashes=99)
    run._spawn("alert_csv_sink")
    run.start_supervisor(interval_s=0.05)
    try:
        wait_until(lambda: run.failure is not None, 60, "the supervisor thread to give up", interval=0.05,
                   error=AssertionError)
        with pytest.raises(UserError, match=r"alert_csv_sink exited with code 3 after 1 restart\(s\)"):
            run.supervise()                                                      # the caller's next watch
    finally:
        run.kill_all()


def test_start_supervises_the_run_it_starts(tmp_path, monkeypatch):
    """`start()` itself starts the supervisor (the brokers' part of it stubbed: no topics, no group wait)."""
    from streamlab.pipeline import runner

    monkeypatch.setattr(runner, "declare_app", lambda transport, namespace: None)
    monkeypatch.setattr(FlakyRun, "transport", None)
    monkeypatch.setattr(FlakyRun, "_wait_for_groups", lambda self, groups: None)
    run = FlakyRun(AppConfig(data_dir=tmp_path, restart_backoff_s=0.05), crashes=1)
    run.start()
    try:
        wait_until(lambda: run.restarts.get("health_processor") == 1, 60, "the processor's restart",
                   interval=0.05, error=AssertionError)
    finally:
        run.kill_all()
