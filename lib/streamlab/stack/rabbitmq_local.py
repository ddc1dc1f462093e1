"""RabbitMQ as private local nodes (Debian's `rabbitmq-server`), 1 node or a 3-node cluster.

Why private nodes: the system service would use the default ports, the
`rabbitmq` user and /var/lib; ours get their own node name, ports, data dir,
Erlang cookie (HOME points into the stack dir) and their own `epmd` on a
non-default port, so nothing outside `<stack_dir>/rabbitmq` is touched and
everything we start is stopped by pid. The scripts in /usr/lib/rabbitmq/bin run
as the calling user (the /usr/sbin wrappers would switch to `rabbitmq`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..transport.rabbitmq import SHARD_PLUGIN
from . import procs
from .base import NodeStatus
from .config import StackConfig, StackError
from .node import LocalCluster, LocalNode

#: The management API (queue depths, bindings) and the consistent-hash exchange, which keeps each machine's
#: messages of every input on one processor instance (streamlab.transport.rabbitmq, co-partitioned groups).
ENABLED_PLUGINS = f"[rabbitmq_management,{SHARD_PLUGIN}].\n"

RABBIT_BIN = Path(os.environ.get("RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))
READY_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class RabbitNode(LocalNode):
    @property
    def name(self) -> str:
        return f"streamlab-rabbit-{self.index}@localhost"

    @property
    def dir(self) -> Path:
        return self.config.stack_dir / "rabbitmq" / f"node-{self.index}"

    @property
    def port(self) -> int:
        return self.config.amqp_port + self.index - 1

    @property
    def dist_port(self) -> int:
        return self.config.rabbit_dist_port + self.index - 1

    @property
    def mgmt_port(self) -> int:
        return self.config.rabbit_mgmt_port + self.index - 1

    @property
    def marker(self) -> str:
        return str(self.dir / "mnesia")


class LocalRabbitMQ(LocalCluster):
    """`config.rabbit_nodes` RabbitMQ nodes on 127.0.0.1, clustered by classic peer discovery."""

    name = "rabbitmq"
    label = "RabbitMQ"

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.nodes = [RabbitNode(i, config) for i in range(1, config.rabbit_nodes + 1)]
        self.root = config.stack_dir / "rabbitmq"
        self.epmd_port = config.rabbit_epmd_port

    # ---- environment -------------------------------------------------------
    def _base_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "HOME": str(self.root),            # the Erlang cookie lives here, not in the user's home
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "LC_ALL": "C.UTF-8",
        })
        return env

    def _node_env(self, node: RabbitNode) -> dict[str, str]:
        env = self._base_env()
        env.update({
            "RABBITMQ_NODENAME": node.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(node.port),
            "RABBITMQ_DIST_PORT": str(node.dist_port),
            "RABBITMQ_MNESIA_BASE": str(node.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(node.dir / "log"),
            "RABBITMQ_CONFIG_FILE": str(node.dir / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(node.dir / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(node.pid_file),
            "RABBITMQ_CONF_ENV_FILE": str(node.dir / "rabbitmq-env.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(node.dir / "advanced.config"),
        })
        return env

    def _conf(self, node: RabbitNode) -> str:
        lines = [
            f"listeners.tcp.default = 127.0.0.1:{node.port}",
            "management.tcp.ip = 127.0.0.1",
            f"management.tcp.port = {node.mgmt_port}",
            "log.console = false",
            "log.file.level = info",
            # Plenty of memory here; keep the default 0.4 watermark, but a small disk must not block publishers.
            "disk_free_limit.absolute = 200MB",
        ]
        if len(self.nodes) > 1:
            lines.append("cluster_formation.peer_discovery_backend = classic_config")
            lines += [f"cluster_formation.classic_config.nodes.{m.index} = {m.name}" for m in self.nodes]
        return "\n".join(lines) + "\n"

    def _check_installed(self) -> None:
        if not (RABBIT_BIN / "rabbitmq-server").exists():
            raise StackError("RabbitMQ is not installed (no /usr/lib/rabbitmq/bin/rabbitmq-server): "
                             "run `make setup` (it installs Debian's rabbitmq-server)")

    def _prepare(self, node: RabbitNode) -> None:
        for sub in ("mnesia", "log"):
            (node.dir / sub).mkdir(parents=True, exist_ok=True)
        (node.dir / "rabbitmq.conf").write_text(self._conf(node))
        (node.dir / "enabled_plugins").write_text(ENABLED_PLUGINS)
        (node.dir / "rabbitmq-env.conf").write_text("")
        # Erlang distribution (node-to-node, CLI) on loopback only; by default it listens on every interface.
        (node.dir / "advanced.config").write_text("[{kernel, [{inet_dist_use_interface, {127,0,0,1}}]}].\n")

    # ---- epmd --------------------------------------------------------------
    @property
    def _epmd_pid_file(self) -> Path:
        return self.root / "epmd.pid"

    def _epmd_marker(self) -> str:
        return f"-port {self.epmd_port}"

    def _ensure_epmd(self) -> None:
        """Our own epmd on our own port, so stopping the stack leaves no Erlang daemon behind."""
        pid = procs.read_pid(self._epmd_pid_file)
        if pid is not None and procs.pid_is_ours(pid, self._epmd_marker()):
            return
        epmd = shutil.which("epmd") or "/usr/lib/erlang/bin/epmd"
        procs.require_free_ports({"epmd": self.epmd_port}, "set RABBIT_EPMD_PORT=... to another port")
        procs.spawn([epmd, "-port", str(self.epmd_port), "-address", "127.0.0.1"],
                    self.root / "epmd.log", self._epmd_pid_file, env=self._base_env())
        procs.wait_until(lambda: procs.port_accepts(self.epmd_port), 10, "epmd to listen")

    def _stop_epmd(self) -> None:
        pid = procs.read_pid(self._epmd_pid_file)
        if pid is not None:
            procs.stop_pid(pid, self._epmd_marker(), timeout=5)
        self._epmd_pid_file.unlink(missing_ok=True)

    # ---- lifecycle -----------------------------------------------------------
    def ctl(self, node: RabbitNode, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([str(RABBIT_BIN / "rabbitmqctl"), "-n", node.name, *args],
                              env=self._base_env(), capture_output=True, text=True, timeout=timeout)

    def _start_node(self, node: RabbitNode) -> None:
        procs.require_free_ports(
            {f"amqp node {node.index}": node.port, f"erlang dist {node.index}": node.dist_port,
             f"management {node.index}": node.mgmt_port},
            "stop what holds it or choose other ports with AMQP_PORT=... RABBIT_DIST_PORT=... RABBIT_MGMT_PORT=...")
        self._prepare(node)
        node.pid_file.unlink(missing_ok=True)
        launcher_pid = node.dir / "launcher.pid"
        procs.spawn([str(RABBIT_BIN / "rabbitmq-server")], node.dir / "log" / "console.log", launcher_pid,
                    env=self._node_env(node))

    def start(self) -> None:
        """Start every node that is not running yet; returns at once (see `wait_ready`)."""
        self._check_installed()
        self.root.mkdir(parents=True, exist_ok=True)
        self._ensure_epmd()
        for node in self.nodes:
            if node.pid() is None:
                self._start_node(node)

    def up(self) -> None:
        self.start()
        self.wait_ready()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        for node in self.nodes:
            procs.wait_until(lambda: node.pid_file.exists(), timeout,  # noqa: B023 - waited on here
                             f"RabbitMQ node {node.index} to write its pid",
                             log_hint=str(node.dir / "log"))
            result = self.ctl(node, "wait", str(node.pid_file), "--timeout", str(int(timeout)), timeout=timeout + 10)
            if result.returncode != 0:
                raise StackError(f"RabbitMQ node {node.index} did not start: "
                                 f"{_last_line(result.stderr or result.stdout)}; see {node.dir / 'log'}")
        if len(self.nodes) > 1:
            procs.wait_until(self._cluster_formed, timeout, f"{len(self.nodes)} RabbitMQ nodes to form a cluster")
        procs.wait_until(lambda: procs.port_accepts(self.nodes[0].port), 30, "AMQP listener")

    def _cluster_formed(self) -> bool:
        result = self.ctl(self.nodes[0], "cluster_status", "--formatter", "json", timeout=30)
        if result.returncode != 0:
            return False
        import json

        status = json.loads(result.stdout)
        return len(status.get("running_nodes", [])) == len(self.nodes)

    def is_ready(self) -> bool:
        return all(node.pid() for node in self.nodes) and procs.port_accepts(self.nodes[0].port)

    def down(self) -> None:
        for node in reversed(self.nodes):
            for pid_file in (node.pid_file, node.dir / "launcher.pid"):
                pid = procs.read_pid(pid_file)
                if pid is not None:
                    procs.stop_pid(pid, node.marker, timeout=30)
                pid_file.unlink(missing_ok=True)
        self._stop_epmd()

    def status(self) -> list[NodeStatus]:
        rows = []
        for node in self.nodes:
            pid, state = node.pid(), node.state()
            detail = node.name
            if pid is not None and state == "running" and procs.port_accepts(node.port):
                detail += ", accepting AMQP"
            rows.append(NodeStatus("rabbitmq", node.index, pid, state, f"127.0.0.1:{node.port}", detail))
        return rows

    def start_node(self, node: LocalNode) -> None:
        self._check_installed()
        self._ensure_epmd()
        self._start_node(node)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"
