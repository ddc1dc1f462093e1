"""STACK=podman for real: images built if needed, the compose stack up in containers, the app's five
services each in its own container for ~20 s, every reading in Parquet exactly once, a broker
container killed and restarted, and nothing of the project left behind afterwards.

Its own project (ports moved by STREAMLAB_TEST_PORT_SHIFT like every test stack), so it never meets a
developer's `STACK=podman make up`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from plugins.stacks import PORT_SHIFT as SHIFT
from plugins.stacks import TEST_ROOT
from streamlab.polling import wait_until
from streamlab.stack import Stack, StackConfig
from streamlab.stack.podman import project_name, project_objects

pytestmark = [pytest.mark.podman, pytest.mark.cluster]

ENV = {
    "STACK": "podman", "BROKERS": "3", "RABBIT_NODES": "1", "KAFKA_HEAP": "384m",
    # ports of its own: the book (another xdist group, perhaps on the other worker at the same time) has
    # 29392/29492/5992/15992; this module's RabbitMQ tour (chapter 03's section) takes these + 400
    "KAFKA_PORT": str(29592 + SHIFT), "KAFKA_CONTROLLER_PORT": str(29692 + SHIFT),
    "AMQP_PORT": str(6092 + SHIFT), "RABBIT_MGMT_PORT": str(16092 + SHIFT),
    "STREAMLAB_STACK_DIR": str(TEST_ROOT / "podman"),
}


@pytest.fixture(scope="module")
def podman_env() -> Iterator[dict[str, str]]:
    """The process environment of this stack (the app runner and the transports read it)."""
    saved = dict(os.environ)
    for key in ("KAFKA_BOOTSTRAP", "AMQP_URL", "BROKER"):
        os.environ.pop(key, None)
    os.environ.update(ENV)
    yield ENV
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def podman_stack(podman_env) -> Iterator[Stack]:
    from streamlab.stack.podman_images import build_all

    build_all()                                       # quick when the images are up to date
    config = StackConfig.from_env()
    stack = Stack(config, "kafka")
    stack.down()                                      # leftovers of a crashed run
    stack.clean()
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
        stack.clean()
        left = project_objects(project_name(config))
        assert left == {"containers": [], "pods": [], "networks": []}, f"left behind: {left}"


def test_brokers_run_in_containers_published_on_loopback(podman_stack):
    from streamlab.experiments.containers import containers_table

    rows = podman_stack.status()
    assert [r.state for r in rows] == ["running"] * 3
    table = containers_table(podman_stack.config).set_index("service")
    port = podman_stack.config.kafka_port
    assert table.loc["kafka-2", "ports"] == f"127.0.0.1:{port + 1}->{port + 1}"
    assert table.loc["kafka-1", "image"] == "localhost/streamlab-kafka:4.4.0"


def test_app_in_containers_writes_every_reading_exactly_once(podman_stack, tmp_path):
    from streamlab.experiments.containers import run_app_in_containers

    run = run_app_in_containers("kafka", duration_s=20, machines=10, data_dir=tmp_path / "app",
                                config=podman_stack.config)
    summary = run.summary
    services = set(run.stats["container"].str.removeprefix(project_name(podman_stack.config) + "-"))
    assert {"telemetry-generator", "health-processor", "health-parquet-sink"} <= services   # sampled mid-run
    assert summary["non-zero exits"] == "none"
    assert summary["readings sent"] > 0                      # how many is the pace, measured in chapter 03
    assert summary["rows in Parquet"] == summary["readings sent"]
    assert summary["exactly once"], summary
    # the five app containers are gone once the run ends: only the brokers remain
    names = project_objects(project_name(podman_stack.config))["containers"]
    assert sorted(names) == sorted(f"{project_name(podman_stack.config)}-kafka-{i}" for i in (1, 2, 3))


def test_a_killed_broker_container_stays_down_and_comes_back(podman_stack):
    kafka = podman_stack.part("kafka")
    kafka.kill_node(3)
    assert [r.state for r in podman_stack.status()] == ["running", "running", "stopped"]
    kafka.restart_node(3)
    # every node answers (a client may still meet one mid-start); how soon is the tour's to show
    wait_until(podman_stack.is_ready, 180, "the restarted broker container to answer", interval=1.0,
               error=AssertionError)


def test_rabbitmq_app_in_containers_writes_every_reading_exactly_once(podman_env, tmp_path):
    """Chapter 03's container section, as it runs it: a RabbitMQ node in a container on the tour's ports
    (this module's + 400), the five services each in its own container (the suite's book build leaves
    the chapters' container sections to this module)."""
    from streamlab.experiments import containers as ct

    config = ct.tour_config()
    stack, _ready_s = ct.start_tour_stack(config, broker="rabbitmq")
    try:
        run = ct.run_app_in_containers("rabbitmq", duration_s=12, machines=10, data_dir=tmp_path / "app",
                                       config=config)
    finally:
        left = ct.stop_tour_stack(stack)
    summary = run.summary
    assert summary["non-zero exits"] == "none"
    assert summary["readings sent"] > 0
    assert summary["rows in Parquet"] == summary["readings sent"]
    assert summary["exactly once"], summary
    assert left.empty, left
