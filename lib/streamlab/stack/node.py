"""The one local-node base: a broker process of ours, and a cluster of them numbered from 1.

Kafka, RabbitMQ and Mosquitto differ in how a node is configured and started; they are the same in
how it is found (a pid file whose process still shows the node's marker on its command line), and
in how a failure experiment breaks it: kill (SIGKILL), stop (SIGTERM), pause (SIGSTOP), resume
(SIGCONT) and restart. That part is written here once.
"""

from __future__ import annotations

import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

from . import procs
from .config import StackConfig, StackError


@dataclass(frozen=True)
class LocalNode:
    """One broker process of ours. Subclasses say where it lives (`dir`) and what marks its pid."""

    index: int            # 1-based
    config: StackConfig

    @property
    def dir(self) -> Path:
        raise NotImplementedError

    @property
    def marker(self) -> str:
        """A string only this node's command line contains, to recognise our pid."""
        raise NotImplementedError

    @property
    def pid_file(self) -> Path:
        return self.dir / "pid"

    def pid(self) -> int | None:
        pid = procs.read_pid(self.pid_file)
        if pid is not None and procs.pid_is_ours(pid, self.marker):
            return pid
        return None

    def state(self) -> str:
        pid = self.pid()
        if pid is None:
            return "stopped"
        return "paused" if procs.process_state(pid) == "T" else "running"


class LocalCluster:
    """Nodes numbered from 1, broken one at a time for the failure experiments.

    A subclass sets `name`, `label` (for messages), `nodes` and `root`, and implements `start_node`
    (start one stopped node again) and `wait_ready`.
    """

    name: str
    label: str
    nodes: list[LocalNode]
    root: Path
    stop_timeout_s: float = 30
    down_hint = "`make down` first"

    def start_node(self, node: LocalNode) -> None:
        raise NotImplementedError

    def wait_ready(self) -> None:
        raise NotImplementedError

    def not_running_hint(self, index: int) -> str:
        return "`streamlab stack up` first"

    def node(self, index: int) -> LocalNode:
        if not 1 <= index <= len(self.nodes):
            raise StackError(f"{self.label} node {index} does not exist: this cluster has nodes 1..{len(self.nodes)}")
        return self.nodes[index - 1]

    def running_pid(self, index: int) -> int:
        pid = self.node(index).pid()
        if pid is None:
            raise StackError(f"{self.label} node {index} is not running: {self.not_running_hint(index)}")
        return pid

    def kill_node(self, node: int) -> None:
        """SIGKILL: a crash, no controlled shutdown, the way a power cut looks to the cluster."""
        procs.stop_pid(self.running_pid(node), self.node(node).marker, timeout=0, sig=signal.SIGKILL)

    def stop_node(self, node: int) -> None:
        """SIGTERM: a controlled shutdown (Kafka moves leadership away first)."""
        procs.stop_pid(self.running_pid(node), self.node(node).marker, timeout=self.stop_timeout_s)

    def pause_node(self, node: int) -> None:
        """SIGSTOP: the process lives but answers nothing, like a long GC pause or a hung VM."""
        procs.signal_pid(self.running_pid(node), signal.SIGSTOP)

    def resume_node(self, node: int) -> None:
        procs.signal_pid(self.running_pid(node), signal.SIGCONT)

    def restart_node(self, node: int, wait: bool = True) -> None:
        """Start one node again (stopping it first if it runs); with `wait`, until the cluster serves."""
        target = self.node(node)
        pid = target.pid()
        if pid is not None:
            procs.stop_pid(pid, target.marker, timeout=self.stop_timeout_s)
        self.start_node(target)
        if wait:
            self.wait_ready()

    def clean(self) -> None:
        """Delete the cluster's data; refuses while any node of ours still runs."""
        if any(node.pid() for node in self.nodes):
            raise StackError(f"{self.label} is still running: {self.down_hint}")
        shutil.rmtree(self.root, ignore_errors=True)
