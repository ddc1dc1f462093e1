"""Mosquitto (Debian's MQTT broker) as a private local process, for the MQTT pattern of Part 3.

One node only: Mosquitto has no clustering of its own. Its own config file,
listener on 127.0.0.1, persistence in the stack dir, stopped by pid like the
other brokers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import procs
from .base import NodeStatus
from .config import StackConfig, StackError
from .node import LocalCluster, LocalNode

MOSQUITTO = "/usr/sbin/mosquitto"


@dataclass(frozen=True)
class MosquittoNode(LocalNode):
    @property
    def dir(self) -> Path:
        return self.config.stack_dir / "mosquitto"

    @property
    def conf_file(self) -> Path:
        return self.dir / "mosquitto.conf"

    @property
    def marker(self) -> str:
        return str(self.conf_file)


class LocalMosquitto(LocalCluster):
    """One node: Mosquitto has no clustering of its own."""

    name = "mqtt"
    label = "Mosquitto"
    stop_timeout_s = 10
    down_hint = "`make down BROKER=mqtt` first"

    def __init__(self, config: StackConfig, max_queued_messages: int = 100_000) -> None:
        self.config = config
        self.max_queued_messages = max_queued_messages
        self.nodes = [MosquittoNode(1, config)]
        self.root = self.nodes[0].dir
        self.pid_file = self.nodes[0].pid_file
        self.conf_file = self.nodes[0].conf_file

    def pid(self) -> int | None:
        return self.nodes[0].pid()

    def not_running_hint(self, index: int) -> str:
        return "`streamlab stack up --broker mqtt`"

    def start_node(self, node: LocalNode) -> None:
        self.up()

    def _conf(self) -> str:
        return "\n".join([
            f"listener {self.config.mqtt_port} 127.0.0.1",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {self.root / 'data'}/",
            # messages queued per client beyond its in-flight window (the default 1000 drops under a slow
            # consumer); chapter 03 bounds it on a private broker to show what QoS 0 loses
            f"max_queued_messages {self.max_queued_messages}",
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
            procs.stop_pid(pid, self.nodes[0].marker, timeout=self.stop_timeout_s)
        self.pid_file.unlink(missing_ok=True)

    def is_ready(self) -> bool:
        return self.pid() is not None and procs.port_accepts(self.config.mqtt_port)

    def status(self) -> list[NodeStatus]:
        node = self.nodes[0]
        return [NodeStatus("mqtt", 1, node.pid(), node.state(), f"127.0.0.1:{self.config.mqtt_port}", "mosquitto")]
