"""Session fixtures that give tests real brokers.

The test stacks use their own data dirs (data/stack-test/...) and ports, so the
suite never touches a developer's running stack (data/stack, default ports).
A stack that is already up is reused and left running; one the suite started is
stopped at the end, by pid.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from streamlab.stack import REPO_ROOT, Stack, StackConfig

TEST_ROOT = REPO_ROOT / "data" / "stack-test"

SINGLE_ENV = {
    "STREAMLAB_STACK_DIR": str(TEST_ROOT / "single"),
    "BROKERS": "1", "KAFKA_PORT": "29092", "KAFKA_CONTROLLER_PORT": "29093", "KAFKA_HEAP": "384m",
    "RABBIT_NODES": "1", "AMQP_PORT": "5692", "RABBIT_DIST_PORT": "25692", "RABBIT_MGMT_PORT": "15692",
    "RABBIT_EPMD_PORT": "4389", "STACK": "local",
}
CLUSTER_ENV = {
    "STREAMLAB_STACK_DIR": str(TEST_ROOT / "cluster"),
    "BROKERS": "3", "KAFKA_PORT": "29192", "KAFKA_CONTROLLER_PORT": "29292", "KAFKA_HEAP": "384m",
    "STACK": "local",
}
RABBIT_CLUSTER_ENV = {
    "STREAMLAB_STACK_DIR": str(TEST_ROOT / "rabbit-cluster"),
    "RABBIT_NODES": "3", "AMQP_PORT": "5892", "RABBIT_DIST_PORT": "25892", "RABBIT_MGMT_PORT": "15892",
    "RABBIT_EPMD_PORT": "4589", "STACK": "local",
}


def stack_env(overrides: dict[str, str]) -> dict[str, str]:
    """The process environment a service or CLI under test should get to find this stack."""
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP", "AMQP_URL", "BROKER")}
    env.update(overrides)
    return env


def _running_stack(overrides: dict[str, str], broker: str) -> Iterator[Stack]:
    config = StackConfig.from_env(stack_env(overrides))
    stack = Stack(config, broker)
    reuse = stack.is_ready()
    if not reuse:
        stack.down()  # leftovers of a crashed run: ours by pid file, stopped by pid
        for name in stack.parts:
            shutil.rmtree(config.stack_dir / name, ignore_errors=True)
        stack.up()
    try:
        yield stack
    finally:
        if not reuse:
            stack.down()


@pytest.fixture(scope="session")
def kafka_stack() -> Iterator[Stack]:
    """A single-node KRaft Kafka for the whole session."""
    yield from _running_stack(SINGLE_ENV, "kafka")


@pytest.fixture(scope="session")
def rabbit_stack() -> Iterator[Stack]:
    """A single RabbitMQ node for the whole session."""
    yield from _running_stack(SINGLE_ENV, "rabbitmq")


@pytest.fixture(scope="module")
def kafka_cluster() -> Iterator[Stack]:
    """A 3-node KRaft cluster, for the modules that break brokers; stopped after the module."""
    yield from _running_stack(CLUSTER_ENV, "kafka")


@pytest.fixture(scope="module")
def rabbit_cluster() -> Iterator[Stack]:
    """3 clustered RabbitMQ nodes (quorum queues replicate across them); stopped after the module."""
    yield from _running_stack(RABBIT_CLUSTER_ENV, "rabbitmq")


@pytest.fixture
def unique_name(request) -> str:
    """Topic/queue names unique per test, readable in `streamlab topics`."""
    import uuid

    return f"t-{request.node.name[:40].replace('[', '-').replace(']', '')}-{uuid.uuid4().hex[:6]}"
