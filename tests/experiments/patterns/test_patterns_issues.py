"""Chapter 03's known issues: each experiment shows its effect before the mitigation and not after."""

from __future__ import annotations

import pytest

from streamlab.experiments.patterns import issues
from streamlab.transport.spec import Endpoints


@pytest.fixture(scope="module")
def brokers(kafka_stack, rabbit_stack) -> Endpoints:
    return Endpoints(kafka_stack.endpoints.kafka_bootstrap, rabbit_stack.endpoints.amqp_url,
                     rabbit_stack.config.rabbit_mgmt_url)


@pytest.mark.kafka
@pytest.mark.rabbitmq
@pytest.mark.zeromq
def test_slow_subscriber_zeromq_drops_silently_brokers_keep_everything(brokers):
    table = issues.slow_consumer(brokers, messages=3000, hwm=50)
    v = lambda backend, variant, metric: issues.value(table, backend, variant, metric)  # noqa: E731
    assert v("ZeroMQ", "before", "lost") > 0                       # dropped past the HWM ...
    assert v("ZeroMQ", "before", "handed_off") == 3000             # ... while every send "succeeded"
    assert v("ZeroMQ", "after", "lost") == 0
    for backend in ("Kafka", "RabbitMQ"):
        assert v(backend, "broker", "lost") == 0
        assert v(backend, "broker", "received") == 3000
        assert v(backend, "broker", "held_by_broker") > 0


@pytest.mark.kafka
@pytest.mark.rabbitmq
def test_crash_before_commit_redelivers_and_dedup_removes_the_duplicates(brokers):
    table = issues.redelivery_duplicates(brokers, messages=600, batch=50, crash_after_batches=3)
    for backend in ("Kafka", "RabbitMQ"):
        assert issues.value(table, backend, "before", "duplicates") == 50   # exactly the uncommitted batch
        assert issues.value(table, backend, "before", "missing") == 0
        assert issues.value(table, backend, "after", "duplicates") == 0
        assert issues.value(table, backend, "after", "applied") == 600


@pytest.mark.rabbitmq
def test_poison_message_loops_without_a_delivery_limit_and_is_dead_lettered_with_one(brokers):
    table = issues.poison_message(brokers, good=20, window_s=1.5, delivery_limit=2)
    assert issues.value(table, "RabbitMQ", "before", "poison_deliveries") > 3
    assert issues.value(table, "RabbitMQ", "before", "poison_still_in_queue") == 1
    assert issues.value(table, "RabbitMQ", "after", "poison_deliveries") == 3     # limit 2: delivered 3 times
    assert issues.value(table, "RabbitMQ", "after", "dead_lettered") == 1
    assert issues.value(table, "RabbitMQ", "after", "good_processed") == 20


@pytest.mark.rabbitmq
def test_max_length_drop_head_loses_silently_reject_publish_nacks(brokers):
    table = issues.max_length(brokers, messages=300, limit=100)
    assert issues.value(table, "RabbitMQ", "before", "in_queue") == 300
    drop = "after: x-max-length 100, drop"
    reject = "after: x-max-length 100, reject"
    assert issues.value(table, "RabbitMQ", drop, "nacked") == 0
    assert issues.value(table, "RabbitMQ", drop, "lost_silently") == 200
    assert issues.value(table, "RabbitMQ", drop, "oldest_kept") == 200
    assert issues.value(table, "RabbitMQ", reject, "nacked") == 200
    assert issues.value(table, "RabbitMQ", reject, "lost_silently") == 0
    assert issues.value(table, "RabbitMQ", reject, "oldest_kept") == 0


@pytest.mark.rabbitmq
def test_head_of_line_blocking_goes_away_when_slow_jobs_get_their_own_queue(brokers):
    table = issues.head_of_line(brokers, fast=30, slow=4, slow_s=0.25)
    before = issues.value(table, "RabbitMQ", "before", "fast_p50_ms")
    after = issues.value(table, "RabbitMQ", "after", "fast_p50_ms")
    assert issues.value(table, "RabbitMQ", "before", "fast_jobs") == 30
    assert issues.value(table, "RabbitMQ", "after", "fast_jobs") == 30
    assert before >= 4 * 250 * 0.9          # every fast job waited for the slow ones (a lower bound, not a timing)
    assert after < before


@pytest.mark.kafka
def test_a_killed_member_holds_its_partitions_for_its_session_timeout(brokers):
    table = issues.dead_member(brokers, (6000,), partitions=2)
    orphaned = issues.value(table, "Kafka", "before", "partitions_orphaned_s")
    assert orphaned == orphaned                 # not NaN: the survivor got every partition in the end
    assert orphaned >= 6.0 * 0.8                # nobody read them until the session had (about) expired


@pytest.mark.mqtt
def test_mqtt_qos0_loses_behind_a_bounded_queue_qos1_with_a_roomy_session_loses_nothing():
    from plugins.stacks import PORT_SHIFT

    table = issues.mqtt_slow_subscriber(messages=1000, queue=50, payload_bytes=8192, port=1899 + PORT_SHIFT)
    lost = lambda variant: issues.value(table, "MQTT", variant, "lost")  # noqa: E731
    assert lost("before: QoS 0") > 0                                    # dropped by the broker, counted by seq
    assert issues.value(table, "MQTT", "before: QoS 0", "handed_off") == 1000
    assert lost("after: QoS 1") == 0
    assert issues.value(table, "MQTT", "after: QoS 1", "received") == 1000
    assert lost("away during the burst: QoS 0") == 1000                 # QoS 0 is never queued for a session
    assert lost("away during the burst: QoS 1") == 0
