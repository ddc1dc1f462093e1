"""Processes by pid, waiting with a deadline, and the local-node base: pure code and our own child processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from streamlab.errors import UserError
from streamlab.polling import wait_until
from streamlab.stack import StackConfig, StackError, procs
from streamlab.stack.node import LocalCluster, LocalNode


def test_read_pid_tolerates_missing_and_garbage(tmp_path):
    assert procs.read_pid(tmp_path / "nope") is None
    (tmp_path / "pid").write_text("not a pid\n")
    assert procs.read_pid(tmp_path / "pid") is None
    (tmp_path / "pid").write_text(" 123\n")
    assert procs.read_pid(tmp_path / "pid") == 123


def test_a_pid_is_ours_only_while_it_shows_our_marker(tmp_path):
    marker = str(tmp_path / "marker-dir")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", marker])
    try:
        wait_until(lambda: procs.pid_is_ours(child.pid, marker), 10, "the child to exec")
        assert not procs.pid_is_ours(child.pid, str(tmp_path / "someone-else"))
        assert procs.process_state(child.pid) in ("S", "R")
        procs.signal_pid(child.pid, signal.SIGSTOP)
        wait_until(lambda: procs.process_state(child.pid) == "T", 5, "the child to stop")
        assert procs.stop_pid(child.pid, marker, timeout=5)   # resumes it first, then SIGTERM
        assert not procs.pid_is_ours(child.pid, marker)      # stop_pid waited for it (and reaped it)
        assert not procs.stop_pid(child.pid, marker)           # gone: not ours any more
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_a_port_in_use_is_named_with_what_to_do():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not procs.port_is_free(port) and procs.port_accepts(port)
        with pytest.raises(StackError, match=f"port already in use: kafka {port} on 127.0.0.1; use KAFKA_PORT"):
            procs.require_free_ports({"kafka": port}, "use KAFKA_PORT")


def test_wait_until_returns_the_value_and_times_out_naming_the_cause():
    values = iter([0, None, 7])
    assert wait_until(lambda: next(values), 5, "a value", interval=0.01) == 7

    def failing():
        raise ConnectionRefusedError("refused")

    with pytest.raises(
        UserError, match=r"timed out after 0s waiting for the broker \(last error: refused\); see x.log"
    ):
        wait_until(failing, 0.05, "the broker", interval=0.01, log_hint="x.log")
    with pytest.raises(StackError):
        procs.wait_until(lambda: False, 0.05, "never", interval=0.01)


@dataclass(frozen=True)
class FakeNode(LocalNode):
    @property
    def dir(self) -> Path:
        return self.config.stack_dir / "fake" / f"node-{self.index}"

    @property
    def marker(self) -> str:
        return str(self.dir)


class FakeCluster(LocalCluster):
    name, label = "fake", "Fake"

    def __init__(self, config: StackConfig, nodes: int) -> None:
        self.nodes = [FakeNode(i, config) for i in range(1, nodes + 1)]
        self.root = config.stack_dir / "fake"
        self.started: list[int] = []

    def start_node(self, node: LocalNode) -> None:
        self.started.append(node.index)

    def wait_ready(self) -> None:
        self.started.append(0)


def test_the_local_node_base_names_what_is_wrong(tmp_path):
    cluster = FakeCluster(StackConfig.from_env({"STREAMLAB_STACK_DIR": str(tmp_path)}), nodes=2)
    with pytest.raises(StackError, match=r"Fake node 3 does not exist: this cluster has nodes 1\.\.2"):
        cluster.kill_node(3)
    with pytest.raises(StackError, match="Fake node 1 is not running: `streamlab stack up` first"):
        cluster.pause_node(1)
    assert cluster.node(2).state() == "stopped" and cluster.node(2).pid_file == tmp_path / "fake/node-2/pid"
    cluster.restart_node(2)                   # not running: just started, then waited for
    assert cluster.started == [2, 0]
    (tmp_path / "fake").mkdir()
    cluster.clean()
    assert not (tmp_path / "fake").exists()


def test_a_node_of_ours_is_found_by_its_pid_file(tmp_path):
    config = StackConfig.from_env({"STREAMLAB_STACK_DIR": str(tmp_path)})
    node = FakeNode(1, config)
    node.dir.mkdir(parents=True)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", node.marker])
    try:
        node.pid_file.write_text(str(child.pid))
        wait_until(lambda: node.pid() == child.pid, 10, "the child to exec")
        assert node.state() == "running"
        cluster = FakeCluster(config, nodes=1)
        with pytest.raises(StackError, match="Fake is still running: `make down` first"):
            cluster.clean()
        cluster.kill_node(1)
        assert node.pid() is None and procs.process_state(child.pid) in ("-", "Z")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert os.path.exists(node.pid_file)     # kill leaves the pid file, as a crash does
