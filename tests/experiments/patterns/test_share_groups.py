"""Kafka share groups (KIP-932) on the test stack: a live round trip of every acknowledgement, and chapter
03's share-group experiments showing what they claim."""

from __future__ import annotations

import time

import pytest

from plugins.capabilities import missing
from streamlab.experiments.patterns import share_groups as sg
from streamlab.experiments.patterns.brokers import kafka_cleanup, kafka_topic, unique
from streamlab.transport import kafka_admin
from streamlab.transport.spec import Endpoints

LIMIT = 3


@pytest.fixture(scope="module")
def share_client():
    """confluent-kafka's ShareConsumer and AcknowledgeType (confluent-kafka 2.13+; pyproject pins the floor)."""
    import confluent_kafka

    if not hasattr(confluent_kafka, "ShareConsumer"):
        missing(f"confluent-kafka {confluent_kafka.version()[0]} has no ShareConsumer: pip install -e '.[book,dev]'")
    return confluent_kafka


@pytest.fixture(scope="module")
def brokers(kafka_stack, rabbit_stack) -> Endpoints:
    return Endpoints(kafka_stack.endpoints.kafka_bootstrap, rabbit_stack.endpoints.amqp_url,
                     rabbit_stack.config.rabbit_mgmt_url)


def _poll_until(consumer, handle, done, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not done():
        messages = [m for m in consumer.poll(0.5) if m.error() is None]
        for msg in messages:
            handle(msg)
        if messages:
            consumer.commit_sync(10)


@pytest.mark.kafka
def test_share_group_round_trip_accept_release_reject_and_delivery_limit(kafka_stack, share_client):
    """Accept: delivered once. Release: delivered again, its delivery count up by one. Reject: archived,
    never again. A record released every time: delivered `share.delivery.count.limit` times, then archived;
    a new member of the group gets nothing more."""
    ack = share_client.AcknowledgeType
    bootstrap = kafka_stack.endpoints.kafka_bootstrap
    topic = unique("share-roundtrip")
    kafka_topic(bootstrap, topic, partitions=1)
    try:
        kafka_admin.set_group_config(bootstrap, topic, sg.share_group_config(delivery_limit=LIMIT))
        sg.produce_spread(bootstrap, topic, 1, [b"accept", b"release", b"reject", b"poison"])
        counts: dict[str, list[int]] = {}

        def handle(msg) -> None:
            value, count = msg.value().decode(), msg.delivery_count()
            counts.setdefault(value, []).append(count)
            kind = {"accept": ack.ACCEPT, "reject": ack.REJECT, "poison": ack.RELEASE,
                    "release": ack.RELEASE if count == 1 else ack.ACCEPT}[value]
            consumer.acknowledge(msg, kind)

        consumer = sg.share_consumer(bootstrap, topic, explicit=True)
        consumer.subscribe([topic])
        try:
            _poll_until(consumer, handle, lambda: len(counts.get("poison", [])) >= LIMIT, 60)
            _poll_until(consumer, handle, lambda: False, 3)      # anything more would show here
        finally:
            consumer.close()
        assert counts == {"accept": [1], "release": [1, 2], "reject": [1], "poison": list(range(1, LIMIT + 1))}

        late = sg.share_consumer(bootstrap, topic)
        late.subscribe([topic])
        got: list[bytes] = []
        try:
            _poll_until(late, lambda msg: got.append(msg.value()), lambda: bool(got), 10)
        finally:
            late.close()
        assert got == []        # accepted, rejected and the archived poison record: none is delivered again
    finally:
        kafka_cleanup(bootstrap, [topic], [topic])


@pytest.mark.kafka
def test_group_config_outside_the_brokers_bounds_is_refused(kafka_stack, share_client):
    from confluent_kafka import KafkaException

    with pytest.raises(KafkaException, match="(?i)delivery.count.limit|invalid"):
        kafka_admin.set_group_config(kafka_stack.endpoints.kafka_bootstrap, unique("share-bounds"),
                                     {"share.delivery.count.limit": "1"})   # the brokers' floor is 2


@pytest.mark.kafka
@pytest.mark.rabbitmq
def test_poison_blocks_a_consumer_group_and_not_a_share_group_or_queue(brokers, share_client):
    table = sg.poison(brokers, behind=10, delivery_limit=LIMIT, delay_ms=0.0, window_s=2.0).set_index("backend")
    group, share, queue = (table.loc[b] for b in sg.BACKENDS)
    assert group["good_processed"] == 0 and group["given_up"] == 0 and group["poison_deliveries"] > LIMIT
    assert share["poison_deliveries"] == LIMIT and share["given_up"] == 1 and share["good_processed"] == 10
    assert queue["given_up"] == 1 and queue["good_processed"] == 10
    assert queue["poison_deliveries"] in (LIMIT, LIMIT + 1)     # x-delivery-limit counts redeliveries


@pytest.mark.kafka
@pytest.mark.rabbitmq
def test_killed_member_hands_back_what_it_held_and_nothing_it_acknowledged(brokers, share_client):
    table = sg.killed(brokers, messages=12, batch=5, handled=2).set_index("backend")
    for backend in sg.BACKENDS:
        row = table.loc[backend]
        assert row["in_hand"] == 3, backend
        assert row["redelivered"] == 3, backend
        assert row["duplicates"] == 0, backend
        assert row["survivor_got"] == 10, backend


@pytest.mark.kafka
@pytest.mark.rabbitmq
def test_more_consumers_than_partitions_idle_only_in_a_consumer_group(brokers, share_client):
    table = sg.spread(brokers, consumers=(4,), partitions=2, delay_ms=5.0, batch=5, measure_s=1.0)
    busy = table.set_index("backend")["busy_consumers"]
    assert busy[sg.CONSUMER_GROUP] == 2                 # one member per partition; two idle
    assert busy[sg.SHARE_GROUP] == 4 and busy[sg.QUORUM_QUEUE] == 4
    assert (table["redelivered"] == 0).all()


def _synthetic_tables(signals: tuple[str, ...]):
    import pandas as pd

    spread = pd.DataFrame([{"backend": b, "consumers": n, "partitions": 6, "delay_ms": 10.0, "batch": 10,
                            "msgs_per_s": rate * n, "busy_consumers": min(n, cap),
                            "largest_share_pct": 100 / min(n, cap)}
                           for b, rate, cap in ((sg.CONSUMER_GROUP, 90, 6), (sg.SHARE_GROUP, 80, 99),
                                                (sg.QUORUM_QUEUE, 85, 99)) for n in (1, 12)])
    poison = pd.DataFrame([{"backend": b, "setting": f"{b} setting", "poison_deliveries": d, "given_up": g,
                            "give_up_s": s, "good_processed": good, "good_behind": 20}
                           for b, d, g, s, good in ((sg.CONSUMER_GROUP, 9, 0, float("nan"), 0),
                                                    (sg.SHARE_GROUP, 3, 1, 0.2, 20), (sg.QUORUM_QUEUE, 4, 1, 0.3, 20))])
    killed = pd.DataFrame([{"backend": b, "signal": sig, "setting": f"{b} {sig}", "in_hand": 6, "duplicates": 0,
                            "stop_to_redelivery_s": s, "taken_to_redelivery_s": s + 7}
                           for sig in signals for b, s in ((sg.CONSUMER_GROUP, 5.8), (sg.SHARE_GROUP, 0.4),
                                                           (sg.QUORUM_QUEUE, 0.05))])
    return spread, poison, killed


@pytest.mark.parametrize("signals", [("SIGKILL",), ("SIGKILL", "SIGSTOP")])
def test_facts_and_table_read_the_runs(signals):
    spread, poison, killed = _synthetic_tables(signals)
    facts = sg.facts(spread, poison, killed)
    assert facts["share_most"] == 12 and facts["share_cg_busy"] == 6 and facts["share_sg_busy"] == 12
    assert facts["share_sg_most"] == 960 and facts["share_cg_poison"] == 9 and facts["share_qq_good"] == 20
    assert facts["share_sg_crash_how"] == "the connection closing"    # 0.4 s: long before the 15-s lock
    assert facts["share_hang"] == 3 * (len(signals) - 1)                # back ends hung; quick: none
    table = sg.comparison_rows(spread, poison, killed, {"kafka": "Apache Kafka 9.9", "rabbitmq": "RabbitMQ 9.9"})
    assert list(table.index) == list(sg.BACKENDS)
    assert table.loc[sg.QUORUM_QUEUE, "broker"] == "RabbitMQ 9.9"
    assert table.loc[sg.CONSUMER_GROUP, "poison: given up by the broker"] == "no"
    assert ("hung (SIGSTOP): held records back after (s)" in table.columns) == ("SIGSTOP" in signals)


def test_what_released_the_share_groups_records_follows_the_crash_time():
    spread, poison, killed = _synthetic_tables(("SIGKILL",))
    share = killed["backend"] == sg.SHARE_GROUP
    killed.loc[share, "stop_to_redelivery_s"] = sg.SHARE_LOCK_MS / 1000 + 0.5      # after the lock elapsed
    assert sg.facts(spread, poison, killed)["share_sg_crash_how"] == "the lock elapsing"
    killed.loc[share, "stop_to_redelivery_s"] = float("nan")                        # never came back
    assert sg.facts(spread, poison, killed)["share_sg_crash_how"] == "not within the run"
