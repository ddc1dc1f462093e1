"""The CLI's failure modes print one line that says what to do, exit non-zero, and show no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from streamlab.paths import HOME


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP", "AMQP_URL", "BROKER", "STACK")}
    full_env.update(env)
    return subprocess.run([sys.executable, "-m", "streamlab.cli", *args], capture_output=True, text=True,
                          env=full_env, cwd=HOME, timeout=60)


@pytest.mark.parametrize("args, env, expected", [
    (("stack", "status"), {"STACK": "mesos"}, "STACK='mesos' is not known"),
    (("stack", "status"), {"BROKER": "nats"}, "BROKER='nats' is not known"),
    (("stack", "up"), {"STACK": "docker"}, "STACK=docker needs"),
    (("stack", "kill-node", "7"), {"STREAMLAB_STACK_DIR": "/nonexistent-streamlab"}, "Kafka node 7 does not exist"),
    (("stack", "pause-node", "1"), {"STREAMLAB_STACK_DIR": "/nonexistent-streamlab"}, "Kafka node 1 is not running"),
    (("topics",), {"KAFKA_BOOTSTRAP": "127.0.0.1:9"}, "Kafka does not answer at 127.0.0.1:9"),
    (("groups",), {"KAFKA_BOOTSTRAP": "127.0.0.1:9"}, "Kafka does not answer at 127.0.0.1:9"),
    (("groups", "--broker", "nats"), {}, "knows kafka and rabbitmq, not 'nats'"),
    (("tail", "dead-letter", "--broker", "nats"), {}, "knows kafka and rabbitmq, not 'nats'"),
    (("tail", "dead-letter", "--broker", "rabbitmq"), {"AMQP_URL": "amqp://guest:guest@127.0.0.1:9/%2F"},
     "RabbitMQ does not answer at 127.0.0.1:9"),
])
def test_user_errors_are_one_line(args, env, expected):
    result = run_cli(*args, **env)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1, result.stderr


def test_check_reports_not_ready_with_exit_1():
    result = run_cli("stack", "check", "-b", "kafka", STREAMLAB_STACK_DIR="/nonexistent-streamlab",
                     KAFKA_PORT="9", BROKERS="1")
    assert result.returncode == 1
    assert "make up BROKER=kafka" in result.stderr


BOX = set("╭╮╰╯│─")


@pytest.mark.parametrize("args, env, expected", [
    (("run", "app", "--codec", "yaml"), {}, "allowed codecs: json, orjson, msgpack, avro, protobuf"),
    (("run", "app", "--codec", "cloudpickle"), {}, "decoding it runs code"),
    (("run", "app", "--machines", "0"), {}, "Invalid value for '--machines'"),
    (("stack", "up", "--bogus"), {}, "No such option: --bogus"),
    (("bogus",), {}, "No such command 'bogus'"),
    (("run", "app"), {"KAFKA_BOOTSTRAP": "127.0.0.1:9"}, "kafka is not running at 127.0.0.1:9"),
])
def test_usage_and_value_errors_are_one_line_without_a_box(args, env, expected):
    """Issue 15: `run app --codec yaml` printed a 42-line traceback (exit 1) and typer's usage errors a box."""
    result = run_cli(*args, **env)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not BOX & set(result.stderr + result.stdout), result.stderr


def test_help_and_no_arguments_still_print_help():
    assert run_cli("--help").returncode == 0
    bare = run_cli("run")
    assert "app" in bare.stdout + bare.stderr and "Traceback" not in bare.stderr
