"""Broker stacks: start, stop, inspect and break Kafka, RabbitMQ and Mosquitto.

`get_stack()` reads STACK / BROKER / BROKERS / RABBIT_NODES and the port variables
from the environment (see `config.py`) and returns a `Stack` whose `endpoints`
every other part of streamlab uses to find the brokers; `open_transport()` is the
transport for those endpoints. The ways a stack runs sit side by side: `local`
(processes on one `node.LocalNode` base: `kafka_local`, `rabbitmq_local`,
`mosquitto_local`), `docker`, `external`; `explorer` shows what a running Kafka
holds (topics, partitions, groups, messages) as tables; `compose_check` checks
the compose files against the local stack; `procs` starts and stops processes by pid.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ..transport import Transport, get_transport
from ..transport.spec import Endpoints, TopicTable
from .base import BrokerStack, NodeStatus
from .config import BROKER_KINDS, StackConfig, StackError

__all__ = ["Endpoints", "NodeStatus", "Stack", "StackConfig", "StackError", "get_stack", "endpoints",
           "open_transport", "private_rabbit_cluster"]


def _broker_names(broker: str) -> list[str]:
    broker = (broker or "all").strip().lower()
    if broker not in BROKER_KINDS:
        raise StackError(f"BROKER={broker!r} is not known: use one of {', '.join(BROKER_KINDS)}")
    return ["kafka", "rabbitmq"] if broker == "all" else [broker]


def _make(name: str, config: StackConfig) -> BrokerStack:
    if name == "mqtt":
        if config.stack != "local":
            raise StackError("BROKER=mqtt runs as a local Mosquitto process only (STACK=local)")
        from .mosquitto_local import LocalMosquitto
        return LocalMosquitto(config)
    if config.stack == "local":
        if name == "kafka":
            from .kafka_local import LocalKafka
            return LocalKafka(config)
        from .rabbitmq_local import LocalRabbitMQ
        return LocalRabbitMQ(config)
    if config.stack == "podman":
        from .podman import podman_kafka, podman_rabbitmq
        return podman_kafka(config) if name == "kafka" else podman_rabbitmq(config)
    if config.stack == "docker":
        from .docker import docker_kafka, docker_rabbitmq
        return docker_kafka(config) if name == "kafka" else docker_rabbitmq(config)
    from .external import external_kafka, external_rabbitmq
    return external_kafka(config) if name == "kafka" else external_rabbitmq(config)


class Stack:
    """The brokers selected by BROKER, handled together."""

    def __init__(self, config: StackConfig, broker: str = "all") -> None:
        self.config = config
        self.parts: dict[str, BrokerStack] = {name: _make(name, config) for name in _broker_names(broker)}

    @property
    def endpoints(self) -> Endpoints:
        return endpoints(self.config)

    def service_env(self, broker: str) -> dict[str, str]:
        """The environment that points a service process (or a run's transport) at this stack's `broker`."""
        if broker == "kafka":
            return {"KAFKA_BOOTSTRAP": self.endpoints.kafka_bootstrap}
        return {"AMQP_URL": self.endpoints.amqp_url, "RABBIT_MGMT_PORT": str(self.config.rabbit_mgmt_port)}

    def part(self, name: str) -> BrokerStack:
        if name not in self.parts:
            raise StackError(f"{name} is not part of this stack (BROKER={', '.join(self.parts)})")
        return self.parts[name]

    def up(self) -> None:
        """Start every broker first, then wait for each: the JVMs and Erlang VMs boot side by side."""
        for part in self.parts.values():
            part.start()
        for part in self.parts.values():
            part.wait_ready()

    def down(self) -> None:
        for part in self.parts.values():
            part.down()

    def status(self) -> list[NodeStatus]:
        return [row for part in self.parts.values() for row in part.status()]

    def is_ready(self) -> bool:
        return all(part.is_ready() for part in self.parts.values())

    def require_ready(self) -> None:
        """Fail with one clear line when a command needs brokers that are not up."""
        for name, part in self.parts.items():
            if not part.is_ready():
                raise StackError(f"{name} is not running at {self._address(name)}: start it with "
                                 f"`make up BROKER={name}` (or `streamlab stack up --broker {name}`)")

    def _address(self, name: str) -> str:
        ep = self.endpoints
        return {"kafka": ep.kafka_bootstrap, "rabbitmq": ep.amqp_url}.get(name, ep.mqtt_url)

    def clean(self) -> None:
        for part in self.parts.values():
            part.clean()  # type: ignore[attr-defined]


def get_stack(broker: str | None = None, config: StackConfig | None = None) -> Stack:
    import os

    return Stack(config or StackConfig.from_env(), broker or os.environ.get("BROKER", "all"))


def endpoints(config: StackConfig | None = None) -> Endpoints:
    config = config or StackConfig.from_env()
    host, port = config.mqtt_address
    return Endpoints(config.kafka_bootstrap, config.amqp_url, config.rabbit_mgmt_url, f"mqtt://{host}:{port}",
                     tuple(config.amqp_urls))


def open_transport(broker: str = "kafka", client: str = "confluent", table: TopicTable | None = None,
                   config: StackConfig | None = None) -> Transport:
    """The transport to the stack the environment names (STACK, ports, KAFKA_BOOTSTRAP, AMQP_URL, ...)."""
    return get_transport(broker, client, endpoints(config), table)


@contextlib.contextmanager
def private_rabbit_cluster(nodes: int = 3, port_offset: int = 5) -> Iterator[Stack]:
    """A local RabbitMQ cluster of an experiment's own beside the running stack, stopped by pid at the end.

    Every RabbitMQ port (AMQP, management, distribution, epmd) moves by `port_offset` from the environment's
    stack, so node N listens on AMQP_PORT + offset + N - 1; its data lives in a temporary directory. The
    book's stack keeps one node (it serves every other chapter); a cluster is needed only where quorum
    queues replicate or their leaders move (chapters 03 and 06)."""
    import dataclasses
    import tempfile
    from pathlib import Path

    base = StackConfig.from_env()
    with tempfile.TemporaryDirectory(prefix="streamlab-rabbit-") as folder:
        config = dataclasses.replace(
            base, stack="local", rabbit_nodes=nodes, stack_dir=Path(folder), amqp_url_override="",
            amqp_port=base.amqp_port + port_offset, rabbit_mgmt_port=base.rabbit_mgmt_port + port_offset,
            rabbit_dist_port=base.rabbit_dist_port + port_offset, rabbit_epmd_port=base.rabbit_epmd_port + port_offset)
        stack = Stack(config, "rabbitmq")
        try:
            stack.up()
            yield stack
        finally:
            stack.down()
