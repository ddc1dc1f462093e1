"""Session fixtures that give tests real brokers.

The test stacks use their own data dirs (data/stack-test/...) and ports, so the
suite never touches a developer's running stack (data/stack, default ports).
A stack that is already up is reused and left running; one the suite started is
stopped at the end, by pid.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stacks import CLUSTER_ENV, RABBIT_CLUSTER_ENV, SINGLE_ENV, running_stack

from streamlab.stack import Stack

@pytest.fixture(scope="session")
def kafka_stack() -> Iterator[Stack]:
    """A single-node KRaft Kafka for the whole session."""
    yield from running_stack(SINGLE_ENV, "kafka")


@pytest.fixture(scope="session")
def rabbit_stack() -> Iterator[Stack]:
    """A single RabbitMQ node for the whole session."""
    yield from running_stack(SINGLE_ENV, "rabbitmq")


@pytest.fixture(scope="module")
def kafka_cluster() -> Iterator[Stack]:
    """A 3-node KRaft cluster, for the modules that break brokers; stopped after the module."""
    yield from running_stack(CLUSTER_ENV, "kafka")


@pytest.fixture(scope="module")
def rabbit_cluster() -> Iterator[Stack]:
    """3 clustered RabbitMQ nodes (quorum queues replicate across them); stopped after the module."""
    yield from running_stack(RABBIT_CLUSTER_ENV, "rabbitmq")


@pytest.fixture
def unique_name(request) -> str:
    """Topic/queue names unique per test, readable in `streamlab topics`."""
    import uuid

    return f"t-{request.node.name[:40].replace('[', '-').replace(']', '')}-{uuid.uuid4().hex[:6]}"
