"""Apache Kafka in KRaft mode as local JVM processes, 1 or 3 combined broker+controller nodes.

Why local processes: these machines have no Docker engine, and the point of the
book is to measure real brokers. The jars come from Maven Central (`make setup`);
each node gets its own folder under `<stack_dir>/kafka/node-N` holding its
properties, data, log and pid file, so a node can be killed, paused and
restarted on its own for the failure experiments.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..transport.kafka_admin import ClusterView, describe_kafka_cluster
from . import procs
from .base import NodeStatus
from .config import KAFKA_VERSION, StackConfig, StackError, kafka_meta_file
from .node import LocalCluster, LocalNode

READY_TIMEOUT_S = 120.0
#: The release whose features (metadata.version, share.version, ...) the cluster runs with: `major.minor`.
FEATURE_RELEASE = ".".join(KAFKA_VERSION.split(".")[:2])

LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRefs = stdout
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
"""


def new_cluster_id() -> str:
    """The same format as `kafka-storage random-uuid`: 16 random bytes, url-safe base64, no padding.

    Like Kafka's own Uuid.randomUuid, never one that starts with "-": the storage tool would read it as an option
    (`--cluster-id: expected one argument`), so one fresh stack in 64 failed to format."""
    while (cluster_id := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"):
        pass
    return cluster_id


@dataclass(frozen=True)
class KafkaNode(LocalNode):
    @property
    def dir(self) -> Path:
        return self.config.stack_dir / "kafka" / f"node-{self.index}"

    @property
    def port(self) -> int:
        return self.config.kafka_port + self.index - 1

    @property
    def controller_port(self) -> int:
        return self.config.kafka_controller_port + self.index - 1

    @property
    def properties_file(self) -> Path:
        return self.dir / "server.properties"

    @property
    def log_file(self) -> Path:
        return self.dir / "server.log"

    @property
    def marker(self) -> str:
        """A string only this node's command line contains, to recognise our pid."""
        return str(self.properties_file)


class LocalKafka(LocalCluster):
    """A KRaft cluster of `config.brokers` nodes on 127.0.0.1."""

    name = "kafka"
    label = "Kafka"

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.nodes = [KafkaNode(i, config) for i in range(1, config.brokers + 1)]
        self.root = config.stack_dir / "kafka"

    # ---- configuration -------------------------------------------------
    def _classpath(self) -> str:
        jars = self.config.jars_dir / "kafka"
        if not any(jars.glob("kafka_2.13-*.jar")):
            raise StackError(f"Kafka jars not found in {jars}: run `make setup` first")
        return f"{jars}/*"

    def _check_java(self) -> None:
        if shutil.which(self.config.java) is None:
            raise StackError(f"`{self.config.java}` not found: install a Java 17+ runtime "
                             "(apt-get install openjdk-17-jre-headless) or set JAVA=/path/to/java")

    def _cluster_meta(self) -> dict:
        """Cluster id and size are fixed at format time; remember them beside the data."""
        meta_file = kafka_meta_file(self.config.stack_dir)
        if meta_file.exists():
            meta = json.loads(meta_file.read_text())
            if meta["brokers"] != self.config.brokers:
                raise StackError(
                    f"Kafka data in {self.root} was formatted for {meta['brokers']} broker(s), not "
                    f"{self.config.brokers}: use BROKERS={meta['brokers']}, or `make down clean-stack` to start afresh")
            return meta
        meta = {"cluster_id": new_cluster_id(), "brokers": self.config.brokers, "features": FEATURE_RELEASE}
        self.root.mkdir(parents=True, exist_ok=True)
        meta_file.write_text(json.dumps(meta))
        return meta

    def _finalize_features(self) -> None:
        """Raise the cluster's finalized features to this Kafka release, once, on data an older release formatted.

        Why: the storage tool finalizes the features of the release that formats the data; a developer's
        stack formatted by Kafka 4.1 keeps metadata.version 4.1 and share.version 0 after the jars move to
        4.4, and share groups (chapter 03) are refused there until `kafka-features upgrade` runs. Data
        formatted by this release needs nothing (the meta file says which release finalized it)."""
        meta_file = kafka_meta_file(self.config.stack_dir)
        meta = json.loads(meta_file.read_text())
        if meta.get("features") == FEATURE_RELEASE:
            return
        cmd = [self.config.java, "-Xmx128m", "-cp", self._classpath(),
               f"-Dlog4j2.configurationFile={self.nodes[0].dir / 'log4j2.properties'}",
               "org.apache.kafka.tools.FeatureCommand", "--bootstrap-server", self.config.kafka_bootstrap,
               "upgrade", "--release-version", FEATURE_RELEASE]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise StackError(f"upgrading the Kafka features to {FEATURE_RELEASE} failed: {last[0]}; "
                             "`make down clean-stack` starts afresh")
        meta_file.write_text(json.dumps({**meta, "features": FEATURE_RELEASE}))

    def _properties(self, node: KafkaNode) -> str:
        n = self.config.brokers
        voters = ",".join(f"{m.index}@127.0.0.1:{m.controller_port}" for m in self.nodes)
        settings = {
            "process.roles": "broker,controller",
            "node.id": node.index,
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": node.dir / "data",
            "num.partitions": 3,
            "default.replication.factor": min(3, n),
            "offsets.topic.replication.factor": min(3, n),
            "offsets.topic.num.partitions": 12,
            "transaction.state.log.replication.factor": min(3, n),
            "transaction.state.log.min.isr": min(2, n),
            "share.coordinator.state.topic.replication.factor": min(3, n),
            "share.coordinator.state.topic.min.isr": min(2, n),
            "group.initial.rebalance.delay.ms": 0,
            # Topics are declared in one place by the application; a typo must not create one.
            "auto.create.topics.enable": "false",
            "num.network.threads": 2,
            "num.io.threads": 4,
            # Failure experiments want a dead broker noticed in seconds, not the default 9 s / 30 s.
            "broker.session.timeout.ms": 6000,
            "broker.heartbeat.interval.ms": 1000,
            "replica.lag.time.max.ms": 10000,
            # Retention and compaction (deep dive 6) should act in seconds: the retention check is a
            # static broker setting (default every 5 min, first one 30 s after start), the cleaner's
            # idle back-off defaults to 15 s. Checking an idle log costs a directory listing.
            "log.retention.check.interval.ms": 2000,
            "log.initial.task.delay.ms": 2000,
            "log.cleaner.backoff.ms": 1000,
        }
        return "".join(f"{k}={v}\n" for k, v in settings.items())

    def _prepare(self, node: KafkaNode, cluster_id: str) -> None:
        node.dir.mkdir(parents=True, exist_ok=True)
        node.properties_file.write_text(self._properties(node))
        (node.dir / "log4j2.properties").write_text(LOG4J2)
        if (node.dir / "data" / "meta.properties").exists():
            return
        cmd = [self.config.java, "-Xmx256m", "-cp", self._classpath(),
               f"-Dlog4j2.configurationFile={node.dir / 'log4j2.properties'}",
               "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
               "-c", str(node.properties_file), "--ignore-formatted"]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise StackError(f"formatting Kafka node {node.index} failed: {last[0]}")

    def _java_cmd(self, node: KafkaNode) -> list[str]:
        heap = self.config.kafka_heap
        return [
            self.config.java, f"-Xms{heap}", f"-Xmx{heap}",
            "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={node.dir / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={node.dir}",
            "-cp", self._classpath(), "kafka.Kafka", str(node.properties_file),
        ]

    # ---- lifecycle -------------------------------------------------------
    def _start_node(self, node: KafkaNode) -> None:
        procs.require_free_ports(
            {f"kafka node {node.index}": node.port, f"kafka controller {node.index}": node.controller_port},
            "stop what holds it or choose other ports with KAFKA_PORT=... KAFKA_CONTROLLER_PORT=...")
        procs.spawn(self._java_cmd(node), node.log_file, node.pid_file)

    def start(self) -> None:
        """Start every node that is not running yet; returns at once (see `wait_ready`)."""
        self._check_java()
        meta = self._cluster_meta()
        for node in self.nodes:
            if node.pid() is None:
                self._prepare(node, meta["cluster_id"])
                self._start_node(node)

    def up(self) -> None:
        """Start, then wait until the cluster really serves."""
        self.start()
        self.wait_ready()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S, brokers: int | None = None) -> None:
        expected = self.config.brokers if brokers is None else brokers
        logs = ", ".join(str(n.log_file) for n in self.nodes)

        def ready() -> bool:
            for node in self.nodes:
                pid = procs.read_pid(node.pid_file)
                if pid is not None and not procs.pid_alive(pid) and expected == self.config.brokers:
                    tail = _last_error_line(node.log_file)
                    raise StackError(f"Kafka node {node.index} exited during start-up: {tail}; see {node.log_file}")
            return self._registered_brokers() >= expected

        procs.wait_until(ready, timeout, f"{expected} Kafka broker(s) to register with a controller quorum",
                         log_hint=logs)
        if expected == self.config.brokers:
            self._finalize_features()

    def cluster_view(self) -> ClusterView:
        """Brokers the controller sees unfenced, and who leads the KRaft quorum (DescribeQuorum)."""
        return describe_kafka_cluster(self.config.kafka_bootstrap)

    def _registered_brokers(self) -> int:
        view = self.cluster_view()
        return len(view.unfenced) if view.quorum_leader >= 0 else 0

    def is_ready(self) -> bool:
        try:
            return self._registered_brokers() >= self.config.brokers
        except Exception:  # noqa: BLE001 - a cluster that does not answer is not ready
            return False

    def down(self) -> None:
        # Stop brokers before the last controllers go, so shutdown is controlled, not a timeout.
        for node in reversed(self.nodes):
            pid = procs.read_pid(node.pid_file)
            if pid is not None:
                procs.stop_pid(pid, node.marker, timeout=30)
            node.pid_file.unlink(missing_ok=True)

    def status(self) -> list[NodeStatus]:
        view: ClusterView | None = None
        if any(node.pid() for node in self.nodes):
            try:
                view = self.cluster_view()
            except Exception:  # noqa: BLE001 - status shows a cluster it cannot ask, too
                view = None
        rows = []
        for node in self.nodes:
            pid = node.pid()
            detail = ["broker+controller"]
            if view is not None:
                detail.append("unfenced" if node.index in view.unfenced else "fenced/absent")
                if node.index == view.quorum_leader:
                    detail.append("quorum leader")
                elif node.index in view.voters:
                    detail.append(f"voter, {view.high_watermark - view.voters[node.index]} behind")
            rows.append(NodeStatus("kafka", node.index, pid, node.state(), f"127.0.0.1:{node.port}",
                                   ", ".join(detail)))
        return rows

    def not_running_hint(self, index: int) -> str:
        return f"`streamlab stack up` or restart-node {index}"

    def start_node(self, node: LocalNode) -> None:
        self._check_java()
        self._prepare(node, self._cluster_meta()["cluster_id"])
        self._start_node(node)


def _last_error_line(log_file: Path) -> str:
    try:
        lines = log_file.read_text(errors="replace").splitlines()
    except OSError:
        return "no log"
    for line in reversed(lines):
        if "ERROR" in line or "Exception" in line:
            return line.strip()[:300]
    return (lines[-1].strip()[:300] if lines else "empty log")
