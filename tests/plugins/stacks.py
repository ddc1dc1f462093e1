"""The test suite's broker stacks, as a pytest plugin (registered in tests/conftest.py).

Fixtures: `kafka_stack` (1 broker, session), `rabbit_stack` (1 node, session), `kafka_cluster`
(3 brokers, session, healed before each module), `rabbit_cluster` (3 nodes, likewise), `mqtt_stack`
(Mosquitto, per module) and `unique_name`. The test stacks use their own data dirs
(data/stack-test/...) and ports, so the suite never touches a developer's running stack; a stack
that is already up is reused and left running, one the suite started is stopped at the end, by pid.
Several checkouts on one machine run their suites side by side by setting STREAMLAB_TEST_PORT_SHIFT.
Under pytest-xdist (`make test` runs two workers) each worker is one more such checkout: its own
ports and data dirs.

A test that uses a broker fixture gets that broker's marker (and `cluster` for the 3-node ones), so
`-m "not kafka and not rabbitmq and not cluster and not book and not mqtt"` starts no broker at all,
even where a test forgot its marker.
"""

from __future__ import annotations

import os
import shutil
import signal
import uuid
from collections.abc import Iterator

import pytest

from streamlab.paths import HOME
from streamlab.stack import Stack, StackConfig, procs

#: pytest-xdist's worker number (gw0, gw1, …); 0 without xdist.
WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)

#: Worker N > 0 keeps its stacks in a folder of its own, so two workers never share a broker.
TEST_ROOT = HOME / "data" / "stack-test" / (f"gw{WORKER}" if WORKER else "")

#: Several checkouts on one machine can run their suites side by side: each sets its own
#: STREAMLAB_TEST_PORT_SHIFT (a small whole number) and every test port moves by 10 times it.
#: An xdist worker moves by 1000 more per worker number: every test port (29092–29894, 4389–7394,
#: 15692–16394, 25692–26394, the ZeroMQ sockets at 26100) stays clear of the other worker's.
PORT_SHIFT = 10 * int(os.environ.get("STREAMLAB_TEST_PORT_SHIFT", "0") or 0) + 1000 * WORKER

#: Chapter 03's ZeroMQ experiments bind from STREAMLAB_ZMQ_BASE_PORT (26900 by default, up to ~100 above).
#: Each worker moves it too: the book (one worker) and tests/experiments/patterns (the other) bound the
#: same ports at the same moment in a CI run ("Address already in use"). 23000–23400 is clear of every
#: other test port, and of the other worker's.
os.environ["STREAMLAB_ZMQ_BASE_PORT"] = str(23000 + PORT_SHIFT)


def shifted(env: dict[str, str]) -> dict[str, str]:
    """The same stack settings with every port moved by PORT_SHIFT."""
    return {k: str(int(v) + PORT_SHIFT) if k.endswith("_PORT") else v for k, v in env.items()}


SINGLE_ENV = shifted({
    "STREAMLAB_STACK_DIR": str(TEST_ROOT / "single"),
    "BROKERS": "1", "KAFKA_PORT": "29092", "KAFKA_CONTROLLER_PORT": "29093", "KAFKA_HEAP": "384m",
    "RABBIT_NODES": "1", "AMQP_PORT": "5692", "RABBIT_DIST_PORT": "25692", "RABBIT_MGMT_PORT": "15692",
    "RABBIT_EPMD_PORT": "4389", "STACK": "local",
})
CLUSTER_ENV = shifted({
    "STREAMLAB_STACK_DIR": str(TEST_ROOT / "cluster"),
    "BROKERS": "3", "KAFKA_PORT": "29192", "KAFKA_CONTROLLER_PORT": "29292", "KAFKA_HEAP": "384m",
    "STACK": "local",
})
RABBIT_CLUSTER_ENV = shifted({
    "STREAMLAB_STACK_DIR": str(TEST_ROOT / "rabbit-cluster"),
    "RABBIT_NODES": "3", "AMQP_PORT": "5892", "RABBIT_DIST_PORT": "25892", "RABBIT_MGMT_PORT": "15892",
    "RABBIT_EPMD_PORT": "4589", "STACK": "local",
})


def stack_env(overrides: dict[str, str]) -> dict[str, str]:
    """The process environment a service or CLI under test should get to find this stack."""
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP", "AMQP_URL", "BROKER")}
    env.update(overrides)
    return env


def running_stack(overrides: dict[str, str], broker: str) -> Iterator[Stack]:
    """Yield a ready stack: reuse one already up (and leave it), or start one (and stop it after)."""
    config = StackConfig.from_env(stack_env(overrides))
    stack = Stack(config, broker)
    reuse = stack.is_ready()
    if not reuse:
        stack.down()  # leftovers of a crashed run: ours by pid file, stopped by pid
        for part in stack.parts.values():
            shutil.rmtree(part.root, ignore_errors=True)
        try:
            stack.up()
        except BaseException:
            stack.down()    # a stack that never became ready is still ours to stop
            raise
    try:
        yield stack
    finally:
        if not reuse:
            stack.down()


#: fixture → the markers a test using it must carry
FIXTURE_MARKERS = {
    "kafka_stack": ("kafka",),
    "rabbit_stack": ("rabbitmq",),
    "kafka_cluster": ("kafka", "cluster"),
    "rabbit_cluster": ("rabbitmq", "cluster"),
    "mqtt_stack": ("mqtt",),
}


#: Markers whose tests run one after another on one xdist worker, a group per marker: the book tests
#: share one session build of the book, the podman tests one compose stack (module-scoped, fixed
#: ports). The two groups may run side by side: their ports differ, and the podman images they both
#: need are built under a lock (stack.podman_images.build_all).
SERIAL_GROUPS = ("book", "podman")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items) -> None:
    """Mark each test by the brokers its fixtures start, before `-m` deselects (hence tryfirst)."""
    for item in items:
        for fixture in getattr(item, "fixturenames", ()):
            for marker in FIXTURE_MARKERS.get(fixture, ()):
                if item.get_closest_marker(marker) is None:
                    item.add_marker(marker)
        group = next((name for name in SERIAL_GROUPS if item.get_closest_marker(name)), None)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def kafka_stack() -> Iterator[Stack]:
    """A single-node KRaft Kafka for the whole session."""
    yield from running_stack(SINGLE_ENV, "kafka")


@pytest.fixture(scope="session")
def rabbit_stack() -> Iterator[Stack]:
    """A single RabbitMQ node for the whole session."""
    yield from running_stack(SINGLE_ENV, "rabbitmq")


@pytest.fixture(scope="session")
def _kafka_cluster_session() -> Iterator[Stack]:
    yield from running_stack(CLUSTER_ENV, "kafka")


@pytest.fixture(scope="session")
def _rabbit_cluster_session() -> Iterator[Stack]:
    yield from running_stack(RABBIT_CLUSTER_ENV, "rabbitmq")


def healed(stack: Stack) -> Stack:
    """The cluster whole again before a module uses it: a node a test left paused resumes, one it left
    stopped starts (and the cluster is waited for).

    The 3-node clusters live for the whole session, not per module: booting and stopping three JVMs or
    Erlang VMs cost about 100 s of a 2-core machine each time, six modules used them, and a module that
    breaks a node must restore it anyway (its own assertions say so); this check makes sure of it."""
    for part in stack.parts.values():
        for node in getattr(part, "nodes", ()):
            pid = node.pid()
            if pid is not None and procs.process_state(pid) == "T":
                procs.signal_pid(pid, signal.SIGCONT)
    if not stack.is_ready():
        stack.up()
    return stack


@pytest.fixture(scope="module")
def kafka_cluster(_kafka_cluster_session) -> Stack:
    """A 3-node KRaft cluster, for the modules that break brokers: one per session, whole at each module's start."""
    return healed(_kafka_cluster_session)


@pytest.fixture(scope="module")
def rabbit_cluster(_rabbit_cluster_session) -> Stack:
    """3 clustered RabbitMQ nodes (quorum queues replicate across them): one per session, whole at each
    module's start."""
    return healed(_rabbit_cluster_session)


@pytest.fixture(scope="module")
def mqtt_stack() -> Iterator[Stack]:
    """A Mosquitto broker on the test ports, for the module; stopped after it if the module started it."""
    yield from running_stack({**SINGLE_ENV, "MQTT_PORT": str(1894 + PORT_SHIFT)}, "mqtt")


@pytest.fixture
def unique_name(request) -> str:
    """Topic/queue names unique per test, readable in `streamlab topics`."""
    return f"t-{request.node.name[:40].replace('[', '-').replace(']', '')}-{uuid.uuid4().hex[:6]}"
