"""`streamlab tail` and `streamlab groups` on RabbitMQ show the dead letters its holding queue keeps (issue 18)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from streamlab.paths import HOME
from streamlab.pipeline.declare import app_transport, declare_app
from streamlab.pipeline.topics import ALL_TOPICS

pytestmark = pytest.mark.rabbitmq


def _cli(stack, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP", "BROKER", "STACK")}
    env.update(AMQP_URL=stack.endpoints.amqp_url, RABBIT_MGMT_PORT=str(stack.config.rabbit_mgmt_port), COLUMNS="300")
    return subprocess.run([sys.executable, "-m", "streamlab.cli", *args], capture_output=True, text=True,
                          env=env, cwd=HOME, timeout=60)


def test_tail_and_groups_show_the_held_dead_letters_without_consuming_them(rabbit_stack, unique_name):
    namespace = unique_name
    transport = app_transport("rabbitmq", ep=rabbit_stack.endpoints)
    declare_app(transport, namespace)
    dead = f"{namespace}.dead-letter"
    publisher = transport.publisher("cli-test")
    try:
        for i in range(3):
            publisher.publish(dead, "M001", f"letter-{i}".encode(), {"error": f"cannot decode {i}".encode()})
        assert publisher.flush(20) == 0
        publisher.close()
        for _ in range(2):     # twice: the first tail must leave them in the queue
            tail = _cli(rabbit_stack, "tail", dead, "--broker", "rabbitmq", "-n", "5")
            assert tail.returncode == 0, tail.stderr
            assert all(f"letter-{i}" in tail.stdout and f"cannot decode {i}" in tail.stdout for i in range(3)), (
                tail.stdout
            )
        groups = _cli(rabbit_stack, "groups", "--broker", "rabbitmq", "--namespace", namespace)
        assert groups.returncode == 0, groups.stderr
        row = next(line for line in groups.stdout.splitlines() if f"{dead}.held" in line)
        assert row.split()[-1] == "3", groups.stdout     # the backlog column, last
        missing = _cli(rabbit_stack, "tail", f"{namespace}.telemetry", "--broker", "rabbitmq")
        assert missing.returncode == 2 and "holds no queue of its own" in missing.stderr
    finally:
        publisher.close()
        transport.delete_topics([f"{namespace}.{spec.name}" for spec in ALL_TOPICS])
        transport.close()
