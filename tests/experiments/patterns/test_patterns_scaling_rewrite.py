"""Chapter 03: competing consumers drain the whole backlog on both brokers; the app runs on RabbitMQ
exactly once, and the topology read back is what the transport declares."""

from __future__ import annotations

import pytest

from streamlab.experiments.patterns import rewrite, scaling
from streamlab.transport.spec import Endpoints

pytestmark = [pytest.mark.kafka, pytest.mark.rabbitmq]


@pytest.fixture(scope="module")
def brokers(kafka_stack, rabbit_stack) -> Endpoints:
    return Endpoints(kafka_stack.endpoints.kafka_bootstrap, rabbit_stack.endpoints.amqp_url,
                     rabbit_stack.config.rabbit_mgmt_url)


def test_competing_consumers_process_every_message_once(brokers):
    table = scaling.scale_out(brokers, consumers=(2,), run_s=60.0, max_messages=1200, partitions=4)
    assert list(table["backend"]) == ["Kafka", "RabbitMQ"]
    # a window longer than the drain: two processes shared the whole backlog; none lost, none twice
    assert (table["processed"] == table["messages"]).all(), table.to_string()
    # the rate is what its counts say: the messages after the first batch over the time they took
    assert ((0 < table["timed"]) & (table["timed"] < table["processed"])).all(), table.to_string()
    assert (table["msgs_per_s"] == table["timed"] / table["seconds"]).all(), table.to_string()
    assert table.set_index("backend").loc["Kafka", "guarantee"] == "Kafka RF 1, acks=all"     # the test's one broker
    assert table.set_index("backend").loc["RabbitMQ", "guarantee"].startswith("RabbitMQ quorum queue on 1 node")


def test_a_timed_drain_stops_at_its_window(brokers):
    payloads = scaling._backlog(3000)
    drain = scaling._drain_with(brokers, "rabbitmq", 1, payloads, 4, 120.0, stop_after_s=0.5)
    # what was counted lies inside the window (the batches that ended after it are not counted)
    assert 0 < drain.seconds <= 0.5 and 0 < drain.timed < drain.processed <= 3000


def test_app_on_rabbitmq_exactly_once_with_its_topology_read_back(brokers, tmp_path, monkeypatch):
    monkeypatch.setenv("AMQP_URL", brokers.amqp_url)
    monkeypatch.setenv("RABBIT_MGMT_PORT", str(brokers.rabbit_mgmt_url.rsplit(":", 1)[1]))
    result = rewrite.run_app("rabbitmq", brokers, tmp_path / "app", duration_s=4.0, machines=4, malformed=3)
    assert all(code == 0 for code in result.exit_codes.values()), result.exit_codes
    figures = rewrite.summarize(result, warmup_s=1.0).set_index("metric")["value"]
    assert figures["machines with every seq once"] == figures["machines"] == 4
    assert figures["duplicate rows"] == figures["missing seqs"] == 0
    assert figures["dead-lettered by the processor"] == 3
    queues = result.topology["queues"].set_index("queue")
    assert (queues["type"] == "quorum").all()
    held = queues.index.str.endswith(".held")
    assert (queues.loc[~held, "dead-letter exchange"] == "dead-letter").all()
    assert "dead-letter.held" in queues.index     # the app's dead letters are held, not routed nowhere
    bound = set(result.topology["bindings"]["exchange"])
    assert {"telemetry", "vibration", "machine-health", "alerts"} <= bound
