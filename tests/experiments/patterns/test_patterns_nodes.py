"""Chapter 03's 1-vs-3-node runs: the same backlog is drained whole on a one-broker topic and an RF 3 topic,
on a one-node quorum queue and on one replicated over three nodes (a cluster of the experiment's own too)."""

from __future__ import annotations

import pytest

from streamlab.experiments.patterns import scaling
from streamlab.transport.spec import Endpoints

pytestmark = [pytest.mark.kafka, pytest.mark.rabbitmq, pytest.mark.cluster]


def test_every_node_setup_drains_the_whole_backlog(kafka_cluster, rabbit_stack, rabbit_cluster):
    one = Endpoints(kafka_cluster.endpoints.kafka_bootstrap, rabbit_stack.endpoints.amqp_url,
                    rabbit_stack.config.rabbit_mgmt_url)
    three = Endpoints(kafka_cluster.endpoints.kafka_bootstrap, rabbit_cluster.endpoints.amqp_url,
                      rabbit_cluster.config.rabbit_mgmt_url, amqp_urls=tuple(rabbit_cluster.config.amqp_urls))
    table = scaling.nodes_compare(one, consumers=(2,), messages=120, partitions=3, rabbit_cluster=three)
    assert sorted(zip(table["backend"], table["nodes"])) == [("Kafka", 1), ("Kafka", 3), ("RabbitMQ", 1),
                                                             ("RabbitMQ", 3)]
    assert (table["processed"] == 120).all()          # two workers shared it; none lost, none twice
    assert (table["publish_msgs_per_s"] > 0).all()
