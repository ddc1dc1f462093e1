"""Mosquitto (Debian's MQTT broker) as a private local process, for the MQTT pattern of Part 3.

One node only: Mosquitto has no clustering of its own. Its own config file,
listener on 127.0.0.1, persistence in the stack dir, stopped by pid like the
other brokers.
"""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

from . import procs
from .base import NodeStatus
from .config import StackConfig, StackError

MOSQUITTO = "/usr/sbin/mosquitto"


class LocalMosquitto:
    name = "mqtt"

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.root = config.stack_dir / "mosquitto"
        self.pid_file = self.root / "pid"
        self.conf_file = self.root / "mosquitto.conf"

    @property
    def marker(self) -> str:
        return str(self.conf_file)

    def pid(self) -> int | None:
        pid = procs.read_pid(self.pid_file)
        return pid if pid is not None and procs.pid_is_ours(pid, self.marker) else None

    def _conf(self) -> str:
        return "\n".join([
            f"listener {self.config.mqtt_port} 127.0.0.1",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {self.root / 'data'}/",
            # QoS 1 messages queued per offline persistent client (the default 1000 drops under a slow consumer)
            "max_queued_messages 100000",
            # unacknowledged QoS 1 messages in flight per client: the consumer acks on commit(), after a batch
            "max_inflight_messages 10000",
            "log_dest stdout",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]) + "\n"

    def start(self) -> None:
        self.up()   # Mosquitto listens within milliseconds: no point in a separate wait

    def wait_ready(self) -> None:
        """Ready once `up` returned."""

    def up(self) -> None:
        if not Path(MOSQUITTO).exists():
            raise StackError("Mosquitto is not installed: run `make setup` (Debian's mosquitto package)")
        if self.pid() is None:
            procs.require_free_ports({"mqtt": self.config.mqtt_port}, "choose another with MQTT_PORT=...")
            (self.root / "data").mkdir(parents=True, exist_ok=True)
            self.conf_file.write_text(self._conf())
            procs.spawn([MOSQUITTO, "-c", str(self.conf_file)], self.root / "mosquitto.log", self.pid_file)
        procs.wait_until(lambda: procs.port_accepts(self.config.mqtt_port), 20, "Mosquitto to listen",
                         log_hint=str(self.root / "mosquitto.log"))

    def down(self) -> None:
        pid = procs.read_pid(self.pid_file)
        if pid is not None:
            procs.stop_pid(pid, self.marker, timeout=10)
        self.pid_file.unlink(missing_ok=True)

    def is_ready(self) -> bool:
        return self.pid() is not None and procs.port_accepts(self.config.mqtt_port)

    def status(self) -> list[NodeStatus]:
        pid = self.pid()
        state = "stopped" if pid is None else ("paused" if procs.process_state(pid) == "T" else "running")
        return [NodeStatus("mqtt", 1, pid, state, f"127.0.0.1:{self.config.mqtt_port}", "mosquitto")]

    def _running_pid(self, node: int) -> int:
        if node != 1:
            raise StackError("Mosquitto runs one node: node 1")
        pid = self.pid()
        if pid is None:
            raise StackError("Mosquitto is not running: `streamlab stack up --broker mqtt`")
        return pid

    def kill_node(self, node: int) -> None:
        procs.stop_pid(self._running_pid(node), self.marker, timeout=0, sig=signal.SIGKILL)

    def stop_node(self, node: int) -> None:
        procs.stop_pid(self._running_pid(node), self.marker, timeout=10)

    def pause_node(self, node: int) -> None:
        procs.signal_pid(self._running_pid(node), signal.SIGSTOP)

    def resume_node(self, node: int) -> None:
        procs.signal_pid(self._running_pid(node), signal.SIGCONT)

    def restart_node(self, node: int, wait: bool = True) -> None:
        if self.pid() is not None:
            self.stop_node(node)
        self.up()

    def clean(self) -> None:
        if self.pid() is not None:
            raise StackError("Mosquitto is still running: `make down BROKER=mqtt` first")
        shutil.rmtree(self.root, ignore_errors=True)
