"""Configuration and guard rails of the stack code: the errors a user sees must say what to do."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from streamlab.errors import UserError
from streamlab.stack import Stack, StackConfig, get_stack, procs
from streamlab.stack.kafka_local import LocalKafka, new_cluster_id


def test_defaults_give_three_brokers_on_loopback(tmp_path):
    config = StackConfig.from_env({"STREAMLAB_STACK_DIR": str(tmp_path)})   # no stack formatted there yet
    assert config.brokers == 3
    assert config.kafka_bootstrap == "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094"
    assert config.amqp_url == "amqp://guest:guest@127.0.0.1:5682/%2F"


def test_external_endpoints_come_from_env():
    config = StackConfig.from_env({"STACK": "external", "KAFKA_BOOTSTRAP": "k:9092", "AMQP_URL": "amqp://h/"})
    assert config.kafka_bootstrap == "k:9092"
    assert config.amqp_url == "amqp://h/"


@pytest.mark.parametrize("env, message", [
    ({"STACK": "kubernetes"}, "STACK='kubernetes' is not known: use one of local, docker, podman, external"),
    ({"BROKERS": "2"}, "BROKERS=2 is not supported: use one of 1, 3"),
    ({"BROKERS": "three"}, "BROKERS='three' is not a whole number"),
    ({"RABBIT_NODES": "5"}, "RABBIT_NODES=5 is not supported"),
    ({"KAFKA_PORT": "-1"}, "KAFKA_PORT=-1 must be positive"),
])
def test_bad_values_are_named(env, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        StackConfig.from_env(env)


def test_unknown_broker_is_named():
    with pytest.raises(UserError, match="BROKER='zeromq' is not known"):
        Stack(StackConfig.from_env({}), "zeromq")


def test_cluster_id_has_kafka_format():
    cid = new_cluster_id()
    assert len(cid) == 22 and "=" not in cid


def test_cluster_id_never_starts_with_a_dash(monkeypatch):
    """kafka-storage reads `-t -X...` as two options; Kafka's Uuid.randomUuid skips such ids, and so do we."""
    import uuid

    from streamlab.stack import kafka_local

    drawn = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x10" + bytes(15))])  # "-A..." then "EA..."
    monkeypatch.setattr(kafka_local.uuid, "uuid4", lambda: next(drawn))
    assert new_cluster_id().startswith("EA")


def test_port_in_use_is_reported_with_its_number(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        config = StackConfig.from_env({"STREAMLAB_STACK_DIR": str(tmp_path), "BROKERS": "1",
                                       "KAFKA_PORT": str(port), "KAFKA_CONTROLLER_PORT": str(port + 1)})
        kafka = LocalKafka(config)
        with pytest.raises(UserError, match=f"port already in use: kafka node 1 {port}"):
            kafka._start_node(kafka.nodes[0])


def test_missing_java_is_reported(tmp_path):
    config = StackConfig.from_env({"STREAMLAB_STACK_DIR": str(tmp_path), "JAVA": "no-such-java-binary"})
    with pytest.raises(UserError, match="`no-such-java-binary` not found: install a Java 17"):
        LocalKafka(config).up()


def test_missing_jars_are_reported(tmp_path):
    config = StackConfig.from_env({"STREAMLAB_STACK_DIR": str(tmp_path / "s"),
                                   "STREAMLAB_JARS_DIR": str(tmp_path / "nojars")})
    with pytest.raises(UserError, match="Kafka jars not found .* run `make setup`"):
        LocalKafka(config).up()


def test_formatted_size_mismatch_is_refused(tmp_path):
    env = {"STREAMLAB_STACK_DIR": str(tmp_path)}
    LocalKafka(StackConfig.from_env({**env, "BROKERS": "3"}))._cluster_meta()
    with pytest.raises(UserError, match="formatted for 3 broker\\(s\\), not 1"):
        LocalKafka(StackConfig.from_env({**env, "BROKERS": "1"}))._cluster_meta()


def test_foreign_pid_is_never_signalled(tmp_path):
    """A pid file pointing at a process that is not ours (pid reuse) must not be killed."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not procs.pid_is_ours(sleeper.pid, str(tmp_path))
        assert procs.stop_pid(sleeper.pid, str(tmp_path), timeout=1) is False
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_stop_pid_stops_our_process(tmp_path):
    marker = str(tmp_path / "marker")
    proc = subprocess.Popen([sys.executable, "-c", "import time,sys; time.sleep(30)", marker])
    # /proc shows the new command line only once exec has finished in the child
    procs.wait_until(lambda: procs.pid_is_ours(proc.pid, marker), 5, "the child to exec")
    assert procs.stop_pid(proc.pid, marker, timeout=5)
    assert proc.wait(timeout=5) is not None


def test_external_stack_refuses_to_kill():
    stack = get_stack("kafka", StackConfig.from_env({"STACK": "external", "KAFKA_BOOTSTRAP": "127.0.0.1:1"}))
    with pytest.raises(UserError, match="not ours to kill"):
        stack.part("kafka").kill_node(1)
    assert not stack.is_ready()


def test_external_needs_its_variables():
    with pytest.raises(UserError, match="STACK=external needs KAFKA_BOOTSTRAP"):
        get_stack("kafka", StackConfig.from_env({"STACK": "external"}))
