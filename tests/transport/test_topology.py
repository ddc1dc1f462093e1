"""RabbitMQ's topology and the caller's topic table: pure code, no broker."""

from __future__ import annotations

import pytest

from streamlab.errors import UserError
from streamlab.transport import get_transport
from streamlab.transport.rabbitmq import DELIVERY_LIMIT, GROUP_EXPIRES_MS, HELD_MAX_LENGTH, Topology
from streamlab.transport.spec import Endpoints, TopicSpec, TopicTable, base_name, namespace_prefix
from streamlab.transport.zeromq import BASE_PORT, endpoint

TELEMETRY = TopicSpec("telemetry", "telemetry", replication=3, config={"retention.ms": "60000"})
LATEST = TopicSpec("latest", "health", replication=1)
TABLE = TopicTable((TELEMETRY, LATEST), dead_letter="dead-letter")


def test_names_split_into_namespace_and_stream():
    assert base_name("run-1.telemetry") == "telemetry" and base_name("telemetry") == "telemetry"
    assert namespace_prefix("run-1.telemetry") == "run-1." and namespace_prefix("telemetry") == ""


def test_table_finds_a_spec_by_full_name_then_by_stream_name():
    assert TABLE.spec("telemetry") is TELEMETRY
    assert TABLE.spec("run-1.telemetry") is TELEMETRY
    assert TABLE.spec("run-1.other") is None
    own = TopicSpec("run-1.telemetry", "telemetry", replication=1)
    assert TABLE.with_specs([own]).spec("run-1.telemetry") is own          # an exact name wins
    assert TABLE.with_specs([own]).spec("run-2.telemetry") is TELEMETRY


def test_queue_arguments_follow_the_callers_spec():
    args = Topology(TABLE).queue_arguments("run-1.telemetry")
    assert args == {"x-queue-type": "quorum", "x-expires": GROUP_EXPIRES_MS, "x-quorum-initial-group-size": 3,
                    "x-message-ttl": 60000, "x-dead-letter-exchange": "run-1.dead-letter",
                    "x-delivery-limit": DELIVERY_LIMIT}
    assert Topology(TABLE).queue_arguments("latest")["x-quorum-initial-group-size"] == 1
    assert "x-message-ttl" not in Topology(TABLE).queue_arguments("latest")


def test_the_dead_letter_stream_is_not_dead_lettered_again():
    assert Topology(TABLE).dead_letter_exchange("run-1.dead-letter") is None
    assert Topology(TABLE).dead_letter_exchange("dead-letter") is None
    assert Topology(TABLE).dead_letter_exchange("alerts") == "dead-letter"


def test_without_a_table_nothing_is_dead_lettered_and_queues_replicate_to_three():
    args = Topology().queue_arguments("anything")
    assert args["x-quorum-initial-group-size"] == 3
    assert "x-dead-letter-exchange" not in args and "x-delivery-limit" not in args


def test_group_queue_is_named_group_dot_topic_and_bound_to_everything():
    class Channel:
        def __init__(self):
            self.calls = []

        def __getattr__(self, name):
            return lambda *args, **kwargs: self.calls.append((name, args, kwargs))

    channel = Channel()
    assert Topology(TABLE).declare_group_queue(channel, "run-1.sink", "run-1.telemetry") == "run-1.sink.run-1.telemetry"
    kinds = [name for name, _args, _kwargs in channel.calls]
    assert kinds == ["exchange_declare", "exchange_declare", "queue_declare", "queue_bind"]
    assert channel.calls[1][2]["exchange"] == "run-1.dead-letter"
    assert channel.calls[3][1] == ("run-1.sink.run-1.telemetry", "run-1.telemetry")
    assert channel.calls[3][2] == {"routing_key": "#"}


def test_zeromq_numbers_ports_by_the_callers_table():
    assert endpoint("telemetry", table=TABLE) == f"tcp://127.0.0.1:{BASE_PORT}"
    assert endpoint("run-1.latest", table=TABLE) == f"tcp://127.0.0.1:{BASE_PORT + 1}"
    other = int(endpoint("unknown", table=TABLE).rsplit(":", 1)[1]) - BASE_PORT
    assert 20 <= other < 920 and endpoint("unknown") == endpoint("unknown", table=TABLE)


def test_an_unknown_broker_or_client_is_a_one_line_user_error():
    ep = Endpoints("127.0.0.1:9", "amqp://guest:guest@127.0.0.1:9/%2F")
    with pytest.raises(UserError, match="broker 'nats' has no transport"):
        get_transport("nats", "x", ep)
    with pytest.raises(UserError, match="Kafka client 'rdkafka' is not known"):
        get_transport("kafka", "rdkafka", ep)
    assert Endpoints("b", "u").all_amqp_urls == ["u"]
    assert Endpoints("b", "u", amqp_urls=("u1", "u2")).all_amqp_urls == ["u1", "u2"]


def test_a_stream_no_group_reads_gets_a_bounded_durable_holding_queue():
    held = TopicTable((TopicSpec("dead-letter", "raw", replication=3,
                                 config={"retention.ms": "60000", "retention.bytes": "1000"}),), "dead-letter")
    topology = Topology(held)
    assert Topology.held_queue_name("run-1.dead-letter") == "run-1.dead-letter.held"
    assert topology.held_queue_arguments("run-1.dead-letter") == {
        "x-queue-type": "quorum", "x-quorum-initial-group-size": 3, "x-max-length": HELD_MAX_LENGTH,
        "x-overflow": "drop-head", "x-message-ttl": 60000, "x-max-length-bytes": 1000}
    # no x-expires (it outlives every reader) and no dead-letter exchange (what expires is deleted, as on Kafka)
    assert "x-expires" not in Topology(TABLE).held_queue_arguments("run-1.latest")
    assert "x-dead-letter-exchange" not in Topology(TABLE).held_queue_arguments("run-1.latest")


def test_holding_queue_is_declared_durable_and_bound_to_everything():
    class Channel:
        def __init__(self):
            self.calls = []

        def __getattr__(self, name):
            return lambda *args, **kwargs: self.calls.append((name, args, kwargs))

    channel = Channel()
    assert Topology(TABLE).declare_held_queue(channel, "run-1.dead-letter") == "run-1.dead-letter.held"
    assert [name for name, _a, _k in channel.calls] == ["exchange_declare", "queue_declare", "queue_bind"]
    assert channel.calls[1][2]["durable"] and not channel.calls[1][2]["auto_delete"]
    assert channel.calls[2][1] == ("run-1.dead-letter.held", "run-1.dead-letter")
    assert channel.calls[2][2] == {"routing_key": "#"}


def test_the_consumers_prefetch_follows_the_caller_up_to_amqps_ceiling(monkeypatch):
    """A sink polling 50,000 records asked for a prefetch of 100,000, which basic.qos cannot encode (a short)."""
    import collections

    from streamlab.transport.rabbitmq import MAX_PREFETCH, PikaConsumer

    asked = []
    consumer = PikaConsumer.__new__(PikaConsumer)
    consumer.prefetch, consumer._adaptive, consumer._buffer = 1000, True, collections.deque()
    consumer._channel = type("Channel", (), {"basic_qos": lambda self, prefetch_count: asked.append(prefetch_count)})()
    monkeypatch.setattr(consumer, "_pump", lambda timeout: None, raising=False)
    consumer.poll(timeout=0.0, max_records=2000)
    consumer.poll(timeout=0.0, max_records=50_000)
    assert asked == [4000, MAX_PREFETCH] and MAX_PREFETCH == 2**16 - 1
