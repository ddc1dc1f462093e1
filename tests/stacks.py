"""The test suite's broker stacks: ports, data dirs, and a start-if-needed, stop-if-started context.

Kept out of conftest.py so that conftest files in subfolders and test modules can import it
(`from stacks import ...`): two modules named `conftest` cannot import each other.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

from streamlab.paths import HOME
from streamlab.stack import Stack, StackConfig

TEST_ROOT = HOME / "data" / "stack-test"

#: Several checkouts on one machine can run their suites side by side: each sets its own
#: STREAMLAB_TEST_PORT_SHIFT (a small whole number) and every test port moves by 10 times it.
PORT_SHIFT = 10 * int(os.environ.get("STREAMLAB_TEST_PORT_SHIFT", "0") or 0)


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
        stack.up()
    try:
        yield stack
    finally:
        if not reuse:
            stack.down()
