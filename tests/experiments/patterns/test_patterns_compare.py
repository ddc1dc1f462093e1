"""Chapter 03's pattern comparison: replay, fan-out copies, key split under competing consumers, routing."""

from __future__ import annotations

import pytest

from streamlab.experiments.patterns import compare
from streamlab.transport.spec import Endpoints

pytestmark = [pytest.mark.kafka, pytest.mark.rabbitmq]


@pytest.fixture(scope="module")
def brokers(kafka_stack, rabbit_stack) -> Endpoints:
    return Endpoints(kafka_stack.endpoints.kafka_bootstrap, rabbit_stack.endpoints.amqp_url,
                     rabbit_stack.config.rabbit_mgmt_url)


def test_replay_from_a_log_and_a_stream_queue_not_from_a_consumed_queue(brokers):
    wide = compare.wide(compare.replay(brokers, 200)).droplevel("experiment")
    assert wide.loc[("Kafka", "topic (log)"), "second_read"] == 200
    assert wide.loc[("RabbitMQ", "quorum queue"), "first_read"] == 200
    assert wide.loc[("RabbitMQ", "quorum queue"), "second_read"] == 0
    assert wide.loc[("RabbitMQ", "stream queue (x-stream-offset first)"), "second_read"] == 200


def test_fanout_one_log_vs_a_copy_per_queue(brokers):
    wide = compare.wide(compare.fanout(brokers, groups=(3,), messages=100, size=64)).droplevel("experiment")
    assert wide.loc[("Kafka", "3 groups"), "copies_held"] == 100
    assert wide.loc[("RabbitMQ", "3 groups"), "copies_held"] == 300
    # the test stacks are local processes: what the brokers spent is measured (its size is the book's business;
    # 100 small messages may cost a broker less than one 10 ms clock tick, so 0.0 is a measurement too)
    for backend in ("Kafka", "RabbitMQ"):
        assert wide.loc[(backend, "3 groups"), "broker_cpu_s"] >= 0
        assert wide.loc[(backend, "3 groups"), "broker_rss_delta_mib"] == wide.loc[(backend, "3 groups"),
                                                                                   "broker_rss_delta_mib"]


def test_competing_consumers_split_a_machine_partitions_do_not(brokers):
    wide = compare.wide(compare.ordering(brokers, 400)).droplevel("experiment").reset_index("variant")
    assert wide.loc["Kafka", "received"] == wide.loc["RabbitMQ", "received"] == 400
    assert wide.loc["Kafka", "machines_split_between_members"] == 0
    assert wide.loc["RabbitMQ", "machines_split_between_members"] > 0
    assert wide.loc["Kafka", "order_inversions_within_a_member"] == 0


def test_topic_exchange_routes_in_the_broker_kafka_filters_in_the_client(brokers):
    wide = compare.wide(compare.routing(brokers, 400)).droplevel("experiment").reset_index("variant")
    assert wide.loc["RabbitMQ", "delivered"] == wide.loc["RabbitMQ", "kept"] == 20
    assert wide.loc["Kafka", "delivered"] == 400
    assert wide.loc["Kafka", "kept"] == 20
