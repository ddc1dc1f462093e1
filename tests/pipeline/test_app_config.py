"""The runner's configuration and the app's declaration, without a broker."""

from __future__ import annotations

from pathlib import Path

from streamlab.pipeline.declare import app_transport, declare_app
from streamlab.pipeline.runner import AppConfig
from streamlab.pipeline.topics import ALL_TOPICS
from streamlab.pipeline.wiring import GROUP_TOPICS, consumer_groups
from streamlab.transport.spec import Endpoints


def test_the_client_defaults_to_the_brokers_own():
    assert AppConfig().client == "confluent"
    assert AppConfig(broker="rabbitmq").client == "pika"
    assert AppConfig(broker="rabbitmq", client="confluent").client == "pika"   # the CLI's Kafka default
    assert AppConfig(client="kafka-python").client == "kafka-python"


def test_service_args_give_generators_the_fleet_and_everyone_the_run():
    config = AppConfig(broker="kafka", machines=5, rate_hz=12.5, vibration_hz=2.0, duration_s=30, seed=3,
                       data_dir=Path("/tmp/run"), namespace="ns", epoch_ns=42)
    shared = ["--broker", "kafka", "--client", "confluent", "--codec", "orjson", "--data-dir", "/tmp/run",
              "--namespace", "ns"]
    assert config.service_args("health_processor") == shared
    assert config.service_args("telemetry_generator") == shared + [
        "--machines", "5", "--seed", "3", "--duration", "30", "--rate", "12.5", "--epoch-ns", "42"]
    assert config.service_args("vibration_generator")[-4:] == ["--rate", "2.0", "--epoch-ns", "42"]
    assert config.service_args("health_parquet_sink") == shared          # the sink's own rolling default


def test_a_run_can_give_the_archive_a_short_rotate_interval():
    config = AppConfig(data_dir=Path("/tmp/run"), archive_rotate_s=1.0)
    assert config.service_args("health_parquet_sink")[-2:] == ["--flush-interval", "1.0"]
    assert "--flush-interval" not in config.service_args("alert_csv_sink")


class RecordingTransport:
    def __init__(self):
        self.topics, self.groups, self.held = [], {}, []

    def ensure_topics(self, specs):
        self.topics += specs
        return [spec.name for spec in specs]

    def ensure_groups(self, group_topics):
        self.groups.update(group_topics)
        return [f"{g}.{t}" for g, topics in group_topics.items() for t in topics]

    def ensure_held(self, topics):
        self.held += topics
        return [f"{t}.held" for t in topics]


def test_declare_app_names_every_topic_and_group_queue_in_the_namespace():
    transport = RecordingTransport()
    declared = declare_app(transport, "run-7")
    assert [spec.name for spec in transport.topics] == [f"run-7.{spec.name}" for spec in ALL_TOPICS]
    assert [spec.partitions for spec in transport.topics] == [spec.partitions for spec in ALL_TOPICS]
    assert transport.groups == consumer_groups("run-7")
    assert set(transport.groups) == {f"run-7.{group}" for group in GROUP_TOPICS}
    assert len(declared.queues) == sum(len(topics) for topics in GROUP_TOPICS.values())
    assert declare_app(RecordingTransport(), "", groups=False).queues == []


def test_declare_app_holds_every_stream_the_app_writes_and_no_group_reads():
    transport = RecordingTransport()
    declared = declare_app(transport, "run-7", groups=False)
    assert transport.held == ["run-7.machine-health-latest", "run-7.dead-letter"]
    assert declared.held == ["run-7.machine-health-latest.held", "run-7.dead-letter.held"]
    read = {t for topics in consumer_groups("run-7").values() for t in topics}
    written = {f"run-7.{spec.name}" for spec in ALL_TOPICS}
    assert written - read == set(transport.held)     # every stream is read by a group or held


def test_the_app_tells_back_ends_its_streams_and_dead_letter_stream():
    """What a back end does with what it was told (no connection is opened to build the transport):
    RabbitMQ dead-letters each of the app's streams into the namespace's dead-letter stream, never that
    one into itself, and sizes and ages each queue by the stream's own settings."""
    ep = Endpoints(kafka_bootstrap="127.0.0.1:1", amqp_url="amqp://guest:guest@127.0.0.1:1/%2f")
    topology = app_transport("rabbitmq", ep=ep).topology
    for spec in ALL_TOPICS:
        args = topology.queue_arguments(f"run-7.{spec.name}")
        if spec.name == "dead-letter":
            assert "x-dead-letter-exchange" not in args and topology.dead_letter_exchange("run-7.dead-letter") is None
        else:
            assert args["x-dead-letter-exchange"] == "run-7.dead-letter", (spec.name, args)
        assert args["x-quorum-initial-group-size"] == spec.replication
        assert args.get("x-message-ttl") == (int(spec.config["retention.ms"]) if "retention.ms" in spec.config
                                             else None), (spec.name, args)
