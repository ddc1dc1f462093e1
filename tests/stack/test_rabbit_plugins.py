"""Every RabbitMQ the app runs on enables the consistent-hash exchange its processor's shards need."""

from __future__ import annotations

from pathlib import Path

import yaml

from streamlab.stack.rabbitmq_local import ENABLED_PLUGINS
from streamlab.transport.rabbitmq import SHARD_PLUGIN

ROOT = Path(__file__).resolve().parents[2]


def test_local_compose_and_container_stacks_enable_the_shard_plugin():
    assert SHARD_PLUGIN in ENABLED_PLUGINS
    assert SHARD_PLUGIN in (ROOT / "compose" / "rabbitmq" / "enabled_plugins").read_text()
    assert f"rabbitmq-plugins enable --offline rabbitmq_management {SHARD_PLUGIN}" in \
        (ROOT / "containers" / "rabbitmq" / "Containerfile").read_text()


def test_the_kubernetes_cluster_enables_the_shard_plugin():
    cluster = next(doc for doc in yaml.safe_load_all((ROOT / "deploy" / "k8s" / "20-rabbitmq.yaml").read_text())
                   if doc and doc["kind"] == "RabbitmqCluster")
    assert SHARD_PLUGIN in cluster["spec"]["rabbitmq"]["additionalPlugins"]
