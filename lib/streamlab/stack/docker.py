"""The same stacks as docker compose projects, for users who have a Docker engine.

Not exercised on the project's own machines (no engine there): the compose files
are validated statically by the tests, and this module only shells out to
`docker compose`. Container names and host ports match the local stack, so the
same KAFKA_BOOTSTRAP / AMQP_URL work against either.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from ..paths import COMPOSE_DIR
from .base import NodeStatus
from .config import StackConfig, StackError


def _docker_ready() -> None:
    if shutil.which("docker") is None:
        raise StackError("STACK=docker needs the docker CLI and a running engine; use STACK=local (the default)")
    probe = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise StackError("STACK=docker needs a running Docker engine (`docker info` failed); "
                         "use STACK=local (the default) to run the brokers as local processes")


class DockerBroker:
    """One compose file = one broker kind; nodes are the services `<prefix>-N`."""

    def __init__(self, name: str, compose_file: Path, prefix: str, nodes: int, ports: list[int],
                 profiles: tuple[str, ...] = ()) -> None:
        self.name = name
        self.compose_file = compose_file
        self.prefix = prefix
        self.nodes = nodes
        self.ports = ports
        self.profiles = profiles

    def _compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        _docker_ready()
        # Profiles always on: `down` and `ps` otherwise ignore services of inactive profiles (compose#11793).
        profile_args = [arg for profile in self.profiles for arg in ("--profile", profile)]
        result = subprocess.run(["docker", "compose", "-f", str(self.compose_file), *profile_args, *args],
                                capture_output=True, text=True)
        if check and result.returncode != 0:
            raise StackError(f"docker compose {' '.join(args)} failed: {result.stderr.strip()[-300:]}")
        return result

    def _service(self, node: int) -> str:
        if not 1 <= node <= self.nodes:
            raise StackError(f"{self.name} node {node} does not exist: nodes are 1..{self.nodes}")
        return f"{self.prefix}-{node}"

    def start(self) -> None:
        """`up --wait` blocks until healthy anyway."""
        self.up()

    def wait_ready(self) -> None:
        """Nothing left to wait for after `up --wait`."""

    def up(self) -> None:
        services = [self._service(i) for i in range(1, self.nodes + 1)]
        self._compose("up", "-d", "--wait", *services)

    def down(self) -> None:
        self._compose("down")

    def is_ready(self) -> bool:
        try:
            return all(row.state == "running" for row in self.status())
        except StackError:
            return False

    def status(self) -> list[NodeStatus]:
        result = self._compose("ps", "--all", "--format", "json", check=False)
        states: dict[str, str] = {}
        for line in result.stdout.splitlines():
            if line.strip():
                entry = json.loads(line)
                states[entry.get("Service", "")] = entry.get("State", "unknown")
        return [NodeStatus(self.name, i, None, states.get(self._service(i), "stopped"),
                           f"127.0.0.1:{self.ports[i - 1]}", f"container {self._service(i)}")
                for i in range(1, self.nodes + 1)]

    def kill_node(self, node: int) -> None:
        self._compose("kill", self._service(node))

    def stop_node(self, node: int) -> None:
        self._compose("stop", self._service(node))

    def pause_node(self, node: int) -> None:
        self._compose("pause", self._service(node))

    def resume_node(self, node: int) -> None:
        self._compose("unpause", self._service(node))

    def restart_node(self, node: int, wait: bool = True) -> None:
        self._compose("up", "-d", *(["--wait"] if wait else []), self._service(node))

    def clean(self) -> None:
        self._compose("down", "--volumes")


def docker_kafka(config: StackConfig) -> DockerBroker:
    if config.brokers != 3:
        raise StackError("STACK=docker runs the 3-node KRaft quorum of compose/kafka.yml; "
                         "a single node is BROKERS=1 with STACK=local")
    return DockerBroker("kafka", COMPOSE_DIR / "kafka.yml", "kafka", config.brokers,
                        [config.kafka_port + i for i in range(3)])


def docker_rabbitmq(config: StackConfig) -> DockerBroker:
    return DockerBroker("rabbitmq", COMPOSE_DIR / "rabbitmq.yml", "rabbitmq", config.rabbit_nodes,
                        [config.amqp_port + i for i in range(3)], profiles=("cluster",))
