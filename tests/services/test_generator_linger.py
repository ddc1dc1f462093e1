"""The generators' producer linger reaches a Kafka producer, and only a Kafka one (other brokers have none)."""

from __future__ import annotations

import logging

import pytest

from streamlab.domain import Fleet
from streamlab.services.common import ServiceOptions
from streamlab.services.generator_loop import run_generator
from streamlab.transport.memory import MemoryPublisher, MemoryTransport


class OptionsSeen(MemoryTransport):
    def __init__(self) -> None:
        super().__init__()
        self.options: list[dict] = []

    def publisher(self, client_id: str, **options: object) -> MemoryPublisher:
        self.options.append(options)
        return super().publisher(client_id)


@pytest.mark.parametrize(("broker", "expected"), [("kafka", {"linger_ms": 1.0}), ("rabbitmq", {})])
def test_linger_is_a_kafka_producer_option(monkeypatch, tmp_path, broker, expected):
    transport = OptionsSeen()
    monkeypatch.setattr(ServiceOptions, "transport", lambda self: transport)
    options = ServiceOptions(broker=broker, data_dir=tmp_path, instance="telemetry-generator")
    fleet = Fleet(2, seed=7)
    run_generator(options, logging.getLogger("linger"), "telemetry", "telemetry", 1000.0, fleet.telemetry,
                  fleet.machine_ids, 0, max_messages=4, linger_ms=1.0)
    assert transport.options == [expected]
    assert len(transport.publisher_.on("telemetry")) == 4, "every reading published, none dropped"
