"""The stack's size comes from its data (issue 19.1): after `up --brokers 1`, every later command talks to one
broker unless BROKERS or KAFKA_BOOTSTRAP says otherwise. A fake formatted data dir, no broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from streamlab.stack import StackConfig, get_stack
from streamlab.stack.config import formatted_brokers, kafka_meta_file
from streamlab.stack.kafka_local import LocalKafka


def _formatted(tmp_path, brokers: int):
    meta = kafka_meta_file(tmp_path)
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"cluster_id": "x", "brokers": brokers}))
    return {"STREAMLAB_STACK_DIR": str(tmp_path), "KAFKA_PORT": "31092"}


def test_a_one_broker_stack_is_one_broker_for_every_client(tmp_path):
    env = _formatted(tmp_path, 1)
    config = StackConfig.from_env(env)
    assert config.brokers == 1
    assert config.kafka_bootstrap == "127.0.0.1:31092"
    assert get_stack("kafka", config).endpoints.kafka_bootstrap == "127.0.0.1:31092"
    assert len(LocalKafka(config).nodes) == 1


def test_the_environment_still_wins(tmp_path):
    env = _formatted(tmp_path, 1)
    assert StackConfig.from_env({**env, "BROKERS": "3"}).brokers == 3
    assert StackConfig.from_env({**env, "KAFKA_BOOTSTRAP": "h:1,h:2"}).kafka_bootstrap == "h:1,h:2"


def test_no_data_or_unreadable_data_means_the_default(tmp_path):
    assert formatted_brokers(tmp_path) is None
    assert StackConfig.from_env({"STREAMLAB_STACK_DIR": str(tmp_path)}).brokers == 3
    kafka_meta_file(tmp_path).parent.mkdir(parents=True)
    kafka_meta_file(tmp_path).write_text("{not json")
    assert StackConfig.from_env({"STREAMLAB_STACK_DIR": str(tmp_path)}).brokers == 3


def test_container_stacks_ignore_the_local_data(tmp_path):
    env = _formatted(tmp_path, 1)
    assert StackConfig.from_env({**env, "STACK": "podman"}).brokers == 3


def test_the_format_step_writes_what_the_config_reads(tmp_path):
    config = StackConfig.from_env({"STREAMLAB_STACK_DIR": str(tmp_path), "BROKERS": "1"})
    LocalKafka(config)._cluster_meta()
    assert formatted_brokers(tmp_path) == 1


def test_stack_env_exports_the_running_stacks_size(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("BROKERS", "KAFKA_BOOTSTRAP", "STACK")}
    out = subprocess.run([sys.executable, "-m", "streamlab.cli", "stack", "env"], capture_output=True, text=True,
                         env={**env, **_formatted(tmp_path, 1)}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "export KAFKA_BOOTSTRAP=127.0.0.1:31092\n" in out.stdout
