"""Where the pika producer's and consumer's CPU goes during one max-rate run (issue 17's "the profile that shows why").

`profile_max_run` runs the pika driver at max rate once and, from this process, attaches py-spy
(`record --format raw --nonblocking`, sampling without pausing the child) to its producer and
consumer child as soon as they exist, until they exit. Only samples taken inside pika's I/O loop
count (`IOLoop.start` on the stack): start-up, imports and the wait for the start signal do not,
whatever the load on the machine does to their timing. `component_shares` folds the raw stacks into a
tidy table of CPU share by component: for every sample the innermost frame that is pika's or ours
decides (a C call such as `struct.unpack` or `socket.recv` shows as the Python frame that made it).
py-spy leaves idle samples (a thread blocked in `poll`) out, so shares are of the CPU the process
used. Where py-spy cannot attach (no ptrace), the same run is repeated under cProfile inside the
children and each function's own time is classified the same way (`method` says which).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pstats
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ...bench.workload import Workload

COMPONENTS = ("pika frame codec", "pika channel dispatch", "pika I/O loop", "socket send/recv", "our code", "other")
PROFILE_COLUMNS = ["process", "component", "samples", "share_pct", "method"]

_CODEC_FILES = {"frame.py", "spec.py", "data.py", "amqp_object.py", "compat.py"}
_CODEC_FUNCS = {"_on_data_available", "_read_frame", "_trim_frame_buffer", "_output_marshaled_frames"}
_SOCKET_FUNCS = {"_sigint_safe_recv", "_sigint_safe_send"}
_IO_FILES = {"select_connection.py", "selector_ioloop_adapter.py", "base_connection.py", "io_services_utils.py",
             "heartbeat.py", "nbio_interface.py", "selectors.py"}
_FRAME = re.compile(r"^(?P<func>.*) \((?P<path>.*?)(?::\d+)?\)$")


def classify_frame(func: str, path: str) -> str | None:
    """The component of one frame, or None when it is neither pika's nor ours (the caller looks further out)."""
    norm = path.replace("\\", "/")
    name = norm.rsplit("/", 1)[-1]
    func = func.rsplit(".", 1)[-1]            # py-spy names methods Class.method
    if "/pika/" not in norm:              # pika first: a checkout named streamlab may hold the venv
        return "our code" if "/streamlab/" in norm else None
    if func in _SOCKET_FUNCS:
        return "socket send/recv"
    if name in _CODEC_FILES or func in _CODEC_FUNCS:
        return "pika frame codec"
    if name in _IO_FILES:
        return "pika I/O loop"
    return "pika channel dispatch"


def classify_stack(frames: list[tuple[str, str]]) -> str:
    """A sample's component: its innermost frame that is pika's or ours; "other" for start-up and the rest."""
    for func, path in reversed(frames):
        component = classify_frame(func, path)
        if component:
            return component
    return "other"


def parse_raw(text: str) -> list[tuple[list[tuple[str, str]], int]]:
    """py-spy's raw (folded) format: `root (file:line);...;leaf (file:line) count` per line."""
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for item in stack.split(";"):
            match = _FRAME.match(item)
            frames.append((match["func"], match["path"]) if match else (item, ""))
        stacks.append((frames, int(count)))
    return stacks


def component_shares(samples: dict[str, int], process: str, method: str) -> pd.DataFrame:
    """Tidy rows (process, component, samples, share_pct, method), every component listed, shares summing to 100."""
    total = sum(samples.values())
    rows = [{"process": process, "component": c, "samples": int(samples.get(c, 0)),
             "share_pct": 100.0 * samples.get(c, 0) / total if total else 0.0, "method": method} for c in COMPONENTS]
    return pd.DataFrame(rows, columns=PROFILE_COLUMNS)


LOOP_FILE = "select_connection.py"        # pika's IOLoop: both pika children run in it once connected


def shares_from_raw(text: str, process: str, within: str | None = LOOP_FILE) -> pd.DataFrame:
    """Shares of the samples whose stack passes through a file named `within` (None: all samples)."""
    counts: dict[str, int] = {}
    for frames, n in parse_raw(text):
        if within and not any(path.endswith("/" + within) for _, path in frames):
            continue
        component = classify_stack(frames)
        counts[component] = counts.get(component, 0) + n
    return component_shares(counts, process, "py-spy")


def shares_from_pstats(path: Path, process: str) -> pd.DataFrame:
    """cProfile fallback: each function's own time (ms, as `samples`) by the component of its file."""
    counts: dict[str, int] = {}
    for (file, _line, func), (_cc, _nc, own, _cum, _callers) in pstats.Stats(str(path)).stats.items():  # type: ignore[attr-defined]
        component = classify_frame(func, file) or ("socket send/recv" if func in ("<method 'recv' of '_socket.socket' "
                                                                                    "objects>",) else "other")
        counts[component] = counts.get(component, 0) + round(own * 1000)
    return component_shares(counts, process, "cProfile")


@dataclass
class _Attach:
    """py-spy on one child, started once the child exists and its run is past the warm-up."""

    role: str
    out: Path
    proc: subprocess.Popen | None = None


class ChildSampler:
    """Watches this process's children for `<driver>-<role>-0` and attaches py-spy to each, after `delay_s`,
    for `seconds` (None: until the child exits)."""

    def __init__(self, driver: str, out_dir: Path, seconds: float | None = None, delay_s: float = 0.0,
                 rate_hz: int = 100) -> None:
        self.driver, self.out_dir, self.seconds, self.delay_s, self.rate_hz = driver, out_dir, seconds, delay_s, rate_hz
        self.attaches = {role: _Attach(role, out_dir / f"{role}.txt") for role in ("producer", "consumer")}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rabbit-profile", daemon=True)

    def _loop(self) -> None:
        pids: dict[str, int] = {}
        while not self._stop.is_set() and len(pids) < 2:
            for child in mp.active_children():
                for role in self.attaches:
                    if child.name == f"{self.driver}-{role}-0" and child.pid:
                        pids[role] = child.pid
            self._stop.wait(0.05)
        if self.delay_s and self._stop.wait(self.delay_s):
            return
        duration = ["--duration", f"{self.seconds:g}"] if self.seconds else []
        for role, pid in pids.items():
            attach = self.attaches[role]
            try:
                attach.proc = subprocess.Popen(
                    [shutil.which("py-spy") or "py-spy", "record", "--pid", str(pid), *duration,
                     "--rate", str(self.rate_hz), "--format", "raw", "--full-filenames",
                     "--nonblocking", "-o", str(attach.out)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            except OSError as exc:
                self.errors.append(f"{role}: {exc}")

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> dict[str, str]:
        """After the run: wait for the samplers; {role: raw folded text} of those that wrote something."""
        self._stop.set()                          # a run that ended before the attach needs none
        self._thread.join(timeout)             # (py-spy ends with its child, which has ended by now)
        out = {}
        for role, attach in self.attaches.items():
            if attach.proc is not None:
                try:
                    _, err = attach.proc.communicate(timeout=timeout)
                except subprocess.TimeoutExpired:
                    attach.proc.kill()
                    _, err = attach.proc.communicate()
                if attach.proc.returncode and err:
                    self.errors.append(f"{role}: {err.strip().splitlines()[-1]}")
            if attach.out.exists() and attach.out.stat().st_size:
                out[role] = attach.out.read_text()
        return out


def profile_max_run(workload: Workload, endpoints: Any, driver: Any = None) -> pd.DataFrame:
    """One max-rate run of `driver` (default pika) with py-spy on its producer and consumer for their whole
    life, the samples inside pika's I/O loop folded into the share table. Falls back to cProfile in the
    children when py-spy yields nothing."""
    from ...bench.drivers.pika_driver import PikaDriver
    from ...bench.drivers.processes import PROFILE_ENV

    driver = driver or PikaDriver()
    with tempfile.TemporaryDirectory(prefix="streamlab-rabbit-profile-") as tmp:
        sampler = ChildSampler(driver.name, Path(tmp))
        sampler.start()
        try:
            run = driver.run(workload, endpoints)
        finally:
            raw = sampler.stop()
        if run.error:
            raise RuntimeError(f"profile run failed: {run.error}")
        if len(raw) == 2:
            return pd.concat([shares_from_raw(text, role) for role, text in sorted(raw.items())], ignore_index=True)
        prof_dir = Path(tmp) / "cprofile"      # py-spy could not attach: profile inside the children instead
        os.environ[PROFILE_ENV] = str(prof_dir)
        try:
            driver.run(workload, endpoints)
        finally:
            del os.environ[PROFILE_ENV]
        return pd.concat([shares_from_pstats(prof_dir / f"{driver.name}-{role}-0.prof", role)
                          for role in ("consumer", "producer")], ignore_index=True)


def share(table: pd.DataFrame, process: str, component: str) -> float:
    frame = table[(table["process"] == process) & (table["component"] == component)]
    return float(frame["share_pct"].iloc[0]) if not frame.empty else 0.0


__all__ = ["COMPONENTS", "PROFILE_COLUMNS", "classify_frame", "classify_stack", "parse_raw", "component_shares",
           "shares_from_raw", "shares_from_pstats", "ChildSampler", "profile_max_run", "share"]
