"""`STACK=podman`: the compose files of compose/ run in real containers with podman.

podman is driven directly, one `podman run` per compose service, rather than through a compose
tool: the compose files stay the single description (image, hostname, environment, ports, volumes,
command, init, memory limit, grace period), and this module reads them and adds what a machine
shared by several stacks needs:

* a project per port set (`streamlab-<KAFKA_PORT>`): its own network, container-name prefix and
  volumes, so a developer's stack and the test suite's never meet;
* the stack's host ports (StackConfig), so every client setting of the local stack works unchanged;
  a compose file's default port is moved to the configured one, in the published port and in the
  Kafka listeners that advertise it;
* the project's images (`make images`) in place of the registry images the files name for Docker;
* readiness as the local stack checks it (Kafka: all brokers registered with the quorum, from the
  host; RabbitMQ: an AMQP login), since podman without systemd runs no periodic healthchecks.

Traffic stays between the project's containers (on the project's network, found by name through
aardvark-dns) and 127.0.0.1: every port is published on the loopback only, nothing else is addressed.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..paths import COMPOSE_DIR
from . import procs
from .base import NodeStatus
from .config import KAFKA_VERSION, StackConfig, StackError
from .podman_images import APP_IMAGE, KAFKA_IMAGE, RABBITMQ_IMAGE, image_label, podman

PROJECT_LABEL = "io.streamlab.project"
CGROUP_PARENT = "/"
READY_TIMEOUT_S = 300.0   # three JVMs electing a quorum on a loaded 2-core machine
#: The registry images the compose files name for Docker users -> the images `make images` builds.
IMAGE_MAP = {f"apache/kafka:{KAFKA_VERSION}": KAFKA_IMAGE, "rabbitmq:3.13-management": RABBITMQ_IMAGE,
             "streamlab-app:latest": APP_IMAGE}
DEFAULTS = StackConfig()


# ---- the compose file -> podman run (pure, unit-tested) -----------------------------------------

def load_services(path: Path) -> dict[str, dict[str, Any]]:
    from .compose_check import load_compose

    return load_compose(path).get("services", {})


def project_name(config: StackConfig) -> str:
    """One project per port set: the developer's stack and each test stack are apart."""
    return f"streamlab-{config.kafka_port}"


def port_map(config: StackConfig) -> dict[int, int]:
    """The compose files' host ports (the local stack's defaults) -> this stack's ports."""
    mapping = {}
    for i in range(3):
        mapping[DEFAULTS.kafka_port + i] = config.kafka_port + i
        mapping[DEFAULTS.amqp_port + i] = config.amqp_port + i
        mapping[DEFAULTS.rabbit_mgmt_port + i] = config.rabbit_mgmt_port + i
    return mapping


def _duration_s(value: Any) -> int | None:
    match = re.fullmatch(r"(\d+)(ms|s|m)?", str(value or "").strip())
    if not match:
        return None
    number, unit = int(match.group(1)), match.group(2) or "s"
    return max(1, {"ms": number // 1000, "s": number, "m": number * 60}[unit])


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def _move_ports(text: str, mapping: dict[int, int]) -> str:
    return re.sub(r":(\d+)\b", lambda m: f":{mapping.get(int(m.group(1)), int(m.group(1)))}", text)


@dataclass(frozen=True)
class Project:
    """Where one stack's containers live: names, network, volumes, ports."""

    name: str
    ports: dict[int, int]
    compose_dir: Path = COMPOSE_DIR

    @property
    def network(self) -> str:
        return self.name

    def container(self, service: str) -> str:
        return f"{self.name}-{service}"

    def volume(self, volume: str) -> str:
        return f"{self.name}-{volume}"

    def run_args(self, service_name: str, service: dict[str, Any], *, env: dict[str, str] | None = None,
                 command: list[str] | None = None, detach: bool = True, remove: bool = False,
                 volumes: list[str] | None = None) -> list[str]:
        """`podman run` arguments for one compose service (ports moved, images mapped, labels added)."""
        args = ["run", *(["-d"] if detach else []), *(["--rm"] if remove else []),
                "--name", self.container(service_name),
                "--hostname", str(service.get("hostname") or service_name),
                "--network", self.network, "--network-alias", service_name,
                "--label", f"{PROJECT_LABEL}={self.name}", "--label", f"io.streamlab.service={service_name}"]
        if service.get("init", True):             # every service: PID 1 must forward SIGTERM
            args.append("--init")
        # Each container's cgroup directly under the root, beside the host's processes. Under podman's
        # default parent (libpod_parent) all containers together weigh as much as ONE host task in
        # cgroup v1's CPU sharing: on a busy machine three broker JVMs then got ~1 % of a core and never
        # formed a quorum. Here a container competes like a local process does (memory limits still hold).
        args += ["--cgroup-parent", CGROUP_PARENT]
        if service.get("mem_limit"):
            args += ["--memory", str(service["mem_limit"])]
        grace = _duration_s(service.get("stop_grace_period"))
        if grace:
            args += ["--stop-timeout", str(grace)]
        merged = _env(service)
        for key in ("KAFKA_LISTENERS", "KAFKA_ADVERTISED_LISTENERS"):
            if key in merged:
                merged[key] = _move_ports(merged[key], self.ports)
        merged.update(env or {})
        for key, value in merged.items():
            args += ["-e", f"{key}={value}"]
        for entry in service.get("ports") or []:
            host_ip, published, target = _port_entry(entry)
            if host_ip != "127.0.0.1":
                raise StackError(f"{service_name}: port {entry!r} is not published on 127.0.0.1 only")
            moved = self.ports.get(published, published)
            # container port = host port where the compose file does so (Kafka's EXTERNAL listener)
            inner = moved if target == published else target
            args += ["-p", f"127.0.0.1:{moved}:{inner}"]
        by_target = {_volume_target(str(e)): str(e) for e in service.get("volumes") or []}
        by_target.update({_volume_target(str(e)): str(e) for e in volumes or []})   # the caller's win
        for entry in by_target.values():
            args += ["-v", self._volume_arg(entry)]
        image = str(service.get("image", ""))
        args.append(IMAGE_MAP.get(image, image))
        args += [str(c) for c in (command if command is not None else service.get("command") or [])]
        return args

    def _volume_arg(self, entry: str) -> str:
        source, _, rest = entry.partition(":")
        if source.startswith((".", "/")):
            path = Path(source) if source.startswith("/") else (self.compose_dir / source).resolve()
            return f"{path}:{rest}"
        return f"{self.volume(source)}:{rest}"


def _volume_target(entry: str) -> str:
    return entry.split(":")[1] if ":" in entry else entry


def _port_entry(entry: Any) -> tuple[str, int, int]:
    if isinstance(entry, dict):
        return str(entry.get("host_ip", "")), int(entry["published"]), int(entry["target"])
    parts = str(entry).split(":")
    if len(parts) == 3:
        return parts[0], int(parts[1]), int(parts[2])
    return "", int(parts[0]), int(parts[-1])


# ---- live objects --------------------------------------------------------------------------------

def project_objects(project: str) -> dict[str, list[str]]:
    """The containers, pods and networks of a project (what `down` must leave empty)."""
    containers = podman("ps", "-a", "--filter", f"label={PROJECT_LABEL}={project}", "--format", "{{.Names}}",
                        check=False).stdout.split()
    networks = [n for n in podman("network", "ls", "--format", "{{.Name}}", check=False).stdout.split()
                if n == project]
    pods = podman("pod", "ls", "--filter", f"label={PROJECT_LABEL}={project}", "--format", "{{.Name}}",
                  check=False).stdout.split()
    return {"containers": containers, "pods": pods, "networks": networks}


def container_states(project: str) -> dict[str, dict[str, Any]]:
    """Container name -> {state, pid} for one project."""
    out = podman("ps", "-a", "--filter", f"label={PROJECT_LABEL}={project}", "--format", "json", check=False)
    states = {}
    for entry in json.loads(out.stdout or "[]"):
        names = entry.get("Names") or []
        name = names[0] if isinstance(names, list) and names else str(names)
        states[name] = {"state": str(entry.get("State", "unknown")).lower(), "pid": entry.get("Pid") or None}
    return states


def ensure_network(project: str) -> None:
    """The project's network, with DNS: the containers find each other by name (kafka-1, rabbitmq-1)."""
    if podman("network", "exists", project, check=False).returncode != 0:
        podman("network", "create", "--label", f"{PROJECT_LABEL}={project}", project)
    info = json.loads(podman("network", "inspect", project).stdout or "[{}]")[0]
    if not info.get("dns_enabled"):
        podman("network", "rm", project, check=False)
        raise StackError(f"podman network {project} resolves no container names: install netavark and "
                         "aardvark-dns (`make setup`)")


def remove_network_if_unused(project: str) -> None:
    if not container_states(project):
        podman("network", "rm", project, check=False)


def last_log_line(container: str) -> str:
    """The line that says why a container stopped: its first ERROR near the end, else its last line."""
    out = podman("logs", "--tail", "300", container, check=False)
    lines = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r"\bERROR\b|FATAL|error:", line)]
    return (errors[0] if errors else (lines or ["no output"])[-1])[:300]


class PodmanBroker:
    """One broker kind of one compose file; nodes are the services `<prefix>-N`."""

    def __init__(self, name: str, config: StackConfig, compose_file: Path, prefix: str, nodes: int,
                 host_ports: list[int], image: str) -> None:
        self.name = name
        self.config = config
        self.compose_file = compose_file
        self.prefix = prefix
        self.nodes = nodes
        self.host_ports = host_ports
        self.image = image
        self.project = Project(project_name(config), port_map(config))
        self.root = config.stack_dir / "podman"   # nothing lives here; `stack clean` removes the volumes

    def _service(self, node: int) -> str:
        if not 1 <= node <= self.nodes:
            raise StackError(f"{self.name} node {node} does not exist: nodes are 1..{self.nodes}")
        return f"{self.prefix}-{node}"

    def _container(self, node: int) -> str:
        return self.project.container(self._service(node))

    def _env_for(self, node: int) -> dict[str, str]:
        return {}

    def _states(self) -> dict[str, dict[str, Any]]:
        return container_states(self.project.name)

    def start(self) -> None:
        """Create or start each node's container; returns at once (see `wait_ready`)."""
        states = self._states()
        todo = [n for n in range(1, self.nodes + 1) if states.get(self._container(n), {}).get("state") != "running"]
        procs.require_free_ports({f"{self.name} node {n}": self.host_ports[n - 1] for n in todo},
                                 "stop what holds it or choose other ports (KAFKA_PORT=..., AMQP_PORT=...)")
        if todo and image_label(self.image) is None:
            raise StackError(f"image {self.image} is missing: run `make images` first")
        ensure_network(self.project.name)
        services = load_services(self.compose_file)
        for node in todo:
            container = self._container(node)
            state = states.get(container, {}).get("state")
            if state is not None:
                podman("start", container)
            else:
                service = services[self._service(node)]
                podman(*self.project.run_args(self._service(node), service, env=self._env_for(node)))

    def up(self) -> None:
        self.start()
        self.wait_ready()

    def _check_not_exited(self) -> None:
        states = self._states()
        for node in range(1, self.nodes + 1):
            container = self._container(node)
            if states.get(container, {}).get("state") in ("exited", "stopped", "stopping"):
                raise StackError(f"{self.name} container {container} exited during start-up: "
                                 f"{last_log_line(container)}; see `podman logs {container}`")

    def _serving(self) -> bool:
        raise NotImplementedError

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Until the cluster serves; a container that exits meanwhile fails at once, with its reason."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_not_exited()
            if self._serving():
                return
            if time.monotonic() > deadline:
                raise StackError(f"timed out after {timeout:.0f}s waiting for the {self.name} containers to serve; "
                                 f"see `podman logs {self._container(1)}`")
            time.sleep(1.0)

    def is_ready(self) -> bool:
        try:
            states = self._states()
            return all(states.get(self._container(n), {}).get("state") == "running"
                       for n in range(1, self.nodes + 1)) and self._serving()
        except (StackError, OSError):
            return False

    def down(self) -> None:
        """Stop and remove this broker's containers (volumes stay, as with compose down); the network
        goes with the last container of the project."""
        try:
            states = self._states()
        except StackError:
            return
        names = [self._container(n) for n in range(1, 4) if self.project.container(f"{self.prefix}-{n}") in states]
        if names:
            podman("stop", "-t", "30", *names, check=False)
            podman("rm", "-f", *names, check=False)
        remove_network_if_unused(self.project.name)

    def status(self) -> list[NodeStatus]:
        try:
            states = self._states()
        except StackError:
            states = {}
        rows = []
        for node in range(1, self.nodes + 1):
            info = states.get(self._container(node), {})
            state = {"exited": "stopped", "created": "stopped"}.get(info.get("state", ""), info.get("state", "stopped"))
            rows.append(NodeStatus(self.name, node, info.get("pid"), state,
                                   f"127.0.0.1:{self.host_ports[node - 1]}", f"container {self._container(node)}"))
        return rows

    def kill_node(self, node: int) -> None:
        podman("kill", self._container(node))

    def stop_node(self, node: int) -> None:
        podman("stop", "-t", "30", self._container(node))

    def pause_node(self, node: int) -> None:
        podman("pause", self._container(node))

    def resume_node(self, node: int) -> None:
        podman("unpause", self._container(node))

    def restart_node(self, node: int, wait: bool = True) -> None:
        container = self._container(node)
        if self._states().get(container, {}).get("state") == "running":
            podman("stop", "-t", "30", container)
        podman("start", container)
        if wait:
            # The controller still counts a killed broker as registered until its session times out, so the
            # cluster check alone could pass before the restarted node serves: wait for its own port first.
            procs.wait_until(lambda: procs.port_accepts(self.host_ports[node - 1]), READY_TIMEOUT_S,
                             f"{self.name} node {node} to listen on 127.0.0.1:{self.host_ports[node - 1]}",
                             interval=1.0, log_hint=f"podman logs {container}")
            self.wait_ready()

    def clean(self) -> None:
        """Remove the containers and the named volumes (the brokers' data)."""
        self.down()
        services = load_services(self.compose_file)
        for node in range(1, 4):
            for entry in services.get(f"{self.prefix}-{node}", {}).get("volumes") or []:
                source = str(entry).split(":", 1)[0]
                if not source.startswith((".", "/")):
                    podman("volume", "rm", "-f", self.project.volume(source), check=False)


class PodmanKafka(PodmanBroker):
    def __init__(self, config: StackConfig) -> None:
        if config.brokers != 3:
            raise StackError("STACK=podman runs the 3-node KRaft quorum of compose/kafka.yml; "
                             "a single node is BROKERS=1 with STACK=local")
        super().__init__("kafka", config, COMPOSE_DIR / "kafka.yml", "kafka", 3,
                         [config.kafka_port + i for i in range(3)], KAFKA_IMAGE)

    def _env_for(self, node: int) -> dict[str, str]:
        heap = self.config.kafka_heap
        return {"KAFKA_HEAP_OPTS": f"-Xmx{heap} -Xms{heap}"}

    def _serving(self) -> bool:
        from .kafka_local import describe_kafka_cluster

        try:
            view = describe_kafka_cluster(self.config.kafka_bootstrap, attempts=1)
            return view.quorum_leader >= 0 and len(view.unfenced) >= self.nodes
        except Exception:  # noqa: BLE001 - not up yet
            return False


class PodmanRabbitMQ(PodmanBroker):
    def __init__(self, config: StackConfig) -> None:
        super().__init__("rabbitmq", config, COMPOSE_DIR / "rabbitmq.yml", "rabbitmq", config.rabbit_nodes,
                         [config.amqp_port + i for i in range(3)], RABBITMQ_IMAGE)

    def _serving(self) -> bool:
        import pika

        for url in self.config.amqp_urls:
            try:
                params = pika.URLParameters(url)
                params.socket_timeout = params.blocked_connection_timeout = 3
                params.connection_attempts = 1
                pika.BlockingConnection(params).close()
            except Exception:  # noqa: BLE001 - not up yet
                return False
        return True


def podman_kafka(config: StackConfig) -> PodmanKafka:
    return PodmanKafka(config)


def podman_rabbitmq(config: StackConfig) -> PodmanRabbitMQ:
    return PodmanRabbitMQ(config)
