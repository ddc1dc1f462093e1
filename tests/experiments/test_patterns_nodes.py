"""Chapter 03's 1-vs-3-node runs: the same backlog is drained whole on a one-broker topic and an RF 3 topic,
on a one-node quorum queue and on one replicated over three nodes (a cluster of the experiment's own too)."""

from __future__ import annotations

import pytest

from streamlab.experiments.patterns import scaling
from streamlab.experiments.patterns.brokers import Brokers

pytestmark = [pytest.mark.kafka, pytest.mark.rabbitmq, pytest.mark.cluster]


def test_every_node_setup_drains_the_whole_backlog(kafka_cluster, rabbit_stack, rabbit_cluster, monkeypatch):
    drained = []
    drain_with = scaling._drain_with

    def spy(where, backend, n, payloads, partitions, timeout_s, assignment=None):
        drained.append((backend, where, assignment))
        return drain_with(where, backend, n, payloads, partitions, timeout_s, assignment)

    monkeypatch.setattr(scaling, "_drain_with", spy)
    one = Brokers(kafka_cluster.endpoints.kafka_bootstrap, rabbit_stack.endpoints.amqp_url,
                  rabbit_stack.config.rabbit_mgmt_url)
    three = Brokers(kafka_cluster.endpoints.kafka_bootstrap, rabbit_cluster.endpoints.amqp_url,
                    rabbit_cluster.config.rabbit_mgmt_url, tuple(rabbit_cluster.config.amqp_urls))
    table = scaling.nodes_compare(one, consumers=(2,), messages=120, partitions=3, rabbit_cluster=three)
    assert sorted(zip(table["backend"], table["nodes"])) == [("Kafka", 1), ("Kafka", 3), ("RabbitMQ", 1),
                                                             ("RabbitMQ", 3)]
    assert (table["processed"] == 120).all()          # two workers shared it; none lost, none twice
    # each row ran on the setup it names: Kafka's 1-node topic on one broker, its 3-node one with every
    # partition on three distinct brokers; RabbitMQ's 3-node queue on the cluster, not on the single node
    (_, _, one_broker), (_, _, spread), (_, rabbit_one, _), (_, rabbit_three, _) = drained
    assert {tuple(replicas) for replicas in one_broker} == {tuple(one_broker[0])} and len(one_broker[0]) == 1
    assert all(len(set(replicas)) == 3 for replicas in spread)
    assert rabbit_one.amqp_url == rabbit_stack.endpoints.amqp_url
    assert rabbit_three.amqp_url == rabbit_cluster.endpoints.amqp_url
