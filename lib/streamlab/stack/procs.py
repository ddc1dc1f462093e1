"""Starting and stopping broker processes by pid, and nothing else.

The rule of this project is to kill only what we started: every process is
recorded in a pid file next to its data, and before signalling a pid we check
that its command line still mentions that data directory (pids get reused).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from .. import polling
from .config import StackError


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_accepts(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_free_ports(ports: dict[str, int], hint: str) -> None:
    taken = [f"{name} {port}" for name, port in ports.items() if not port_is_free(port)]
    if taken:
        raise StackError(f"port already in use: {', '.join(taken)} on 127.0.0.1; {hint}")


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def pid_is_ours(pid: int, marker: str) -> bool:
    """True while `pid` is alive and its command line or environment contains `marker` (our data dir).

    The environment counts because Erlang's VM gets its data dir from RABBITMQ_* variables,
    not from its arguments.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        identity = Path(f"/proc/{pid}/cmdline").read_bytes() + b"\0" + Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state != "Z" and marker.encode() in identity.replace(b"\0", b" ")


def pid_alive(pid: int) -> bool:
    """The process exists and is not a zombie (whoever it is: use right after spawning, before exec shows)."""
    return process_state(pid) not in ("-", "Z")


def process_state(pid: int) -> str:
    """The kernel's one-letter state: R/S running or sleeping, T stopped (paused), Z zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return "-"


def spawn(cmd: list[str], log_file: Path, pid_file: Path, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> int:
    """Start a detached process (own session, so Ctrl-C in a shell does not hit it)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=cwd, start_new_session=True,
        )
    pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def signal_pid(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def stop_pid(pid: int, marker: str, timeout: float = 30.0, sig: signal.Signals = signal.SIGTERM) -> bool:
    """Signal one of our processes and wait for it to exit; SIGKILL after `timeout`.

    Returns False when the pid was not ours (already gone or reused).
    """
    if not pid_is_ours(pid, marker):
        return False
    if process_state(pid) == "T":
        signal_pid(pid, signal.SIGCONT)  # a paused JVM cannot run its shutdown hooks
    signal_pid(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if _has_exited(pid, marker):
            return True
        time.sleep(0.1)
    signal_pid(pid, signal.SIGKILL)
    for _ in range(100):
        _reap(pid)
        if _has_exited(pid, marker):
            break
        time.sleep(0.1)
    return True


def _has_exited(pid: int, marker: str) -> bool:
    """Gone, a zombie, or the pid reused by another program.

    A process in the middle of exiting has already dropped its memory (its command line reads
    empty, so it no longer looks like ours) but may still hold its sockets and files: a node
    restarted on the same port at that moment fails, so it counts as not yet exited.
    """
    if process_state(pid) in ("-", "Z"):
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return bool(cmdline) and not pid_is_ours(pid, marker)


def wait_until(predicate, timeout: float, what: str, interval: float = 0.25, log_hint: str = "") -> None:
    """`polling.wait_until` raising a StackError: what a stack waits for is a problem with the stack."""
    polling.wait_until(predicate, timeout, what, interval, log_hint, error=StackError)
