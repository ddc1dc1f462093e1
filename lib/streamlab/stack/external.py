"""A cluster someone else runs, reached by KAFKA_BOOTSTRAP / AMQP_URL.

We neither start nor stop it: `up` only checks that it answers, so a chapter or
test fails early with a clear line instead of deep inside a client.
"""

from __future__ import annotations

from urllib.parse import urlparse

from . import procs
from .base import NodeStatus
from .config import StackConfig, StackError


class ExternalBroker:
    def __init__(self, name: str, addresses: list[tuple[str, int]], env_name: str) -> None:
        self.name = name
        self.addresses = addresses
        self.env_name = env_name

    def start(self) -> None:
        """Nothing to start: someone else runs it."""

    def wait_ready(self) -> None:
        self.up()

    def up(self) -> None:
        if not self.is_ready():
            listed = ", ".join(f"{h}:{p}" for h, p in self.addresses)
            raise StackError(f"external {self.name} at {listed} does not answer: check {self.env_name}")

    def down(self) -> None:
        """Nothing to stop: we did not start it."""

    def is_ready(self) -> bool:
        return any(procs.port_accepts(port, host, timeout=2) for host, port in self.addresses)

    def status(self) -> list[NodeStatus]:
        return [NodeStatus(self.name, i, None, "external" if procs.port_accepts(port, host, 2) else "unreachable",
                           f"{host}:{port}", f"from {self.env_name}")
                for i, (host, port) in enumerate(self.addresses, start=1)]

    def _refuse(self, *_: object, **__: object) -> None:
        raise StackError(f"STACK=external: the {self.name} nodes are not ours to kill, pause or restart")

    kill_node = stop_node = pause_node = resume_node = restart_node = clean = _refuse


def external_kafka(config: StackConfig) -> ExternalBroker:
    if not config.kafka_bootstrap_override:
        raise StackError("STACK=external needs KAFKA_BOOTSTRAP=host:port[,host:port...]")
    addresses = []
    for item in config.kafka_bootstrap_override.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise StackError(f"KAFKA_BOOTSTRAP entry {item!r} is not host:port")
        addresses.append((host, int(port)))
    return ExternalBroker("kafka", addresses, "KAFKA_BOOTSTRAP")


def external_rabbitmq(config: StackConfig) -> ExternalBroker:
    if not config.amqp_url_override:
        raise StackError("STACK=external needs AMQP_URL=amqp://user:pass@host:port/vhost")
    url = urlparse(config.amqp_url_override)
    if url.scheme not in ("amqp", "amqps") or not url.hostname:
        raise StackError(f"AMQP_URL={config.amqp_url_override!r} is not an amqp:// URL")
    return ExternalBroker("rabbitmq", [(url.hostname, url.port or 5672)], "AMQP_URL")
