"""Producers are warmed up on their topics before the first message: the generator before its first tick,
the processor before its first poll (so its group, which the runner waits for, is joined only after)."""

from __future__ import annotations

import logging

from streamlab.domain import Fleet
from streamlab.services.common import Deadline, ServiceOptions, Shutdown
from streamlab.services.generator_loop import run_generator
from streamlab.services.health_processor import HealthScorer, Processor
from streamlab.transport.memory import MemoryConsumer, MemoryPublisher, MemoryTransport


class LoggingPublisher(MemoryPublisher):
    def __init__(self, seen: list[tuple[str, ...]]) -> None:
        super().__init__()
        self.seen = seen

    def warm_up(self, topics: list[str], timeout: float = 10.0) -> None:
        self.seen.append(("warm_up", *topics))

    def publish(self, topic, key, value, headers=None, on_delivery=None) -> None:
        self.seen.append(("publish", topic))
        super().publish(topic, key, value, headers, on_delivery)


class LoggingConsumer(MemoryConsumer):
    def __init__(self, seen: list[tuple[str, ...]]) -> None:
        super().__init__()
        self.seen = seen

    def poll(self, timeout: float = 0.0, max_records: int = 1000):
        self.seen.append(("poll",))
        return super().poll(timeout, max_records)


class LoggingTransport(MemoryTransport):
    """Its publisher and consumer write one ordered log of what the services asked of them."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, ...]] = []
        self.publisher_ = LoggingPublisher(self.seen)
        self.consumer_ = LoggingConsumer(self.seen)


def serve(monkeypatch) -> LoggingTransport:
    transport = LoggingTransport()
    monkeypatch.setattr(ServiceOptions, "transport", lambda self: transport)
    return transport


def generator_log(monkeypatch, tmp_path, messages: int) -> list[tuple[str, ...]]:
    """What a telemetry generator on Kafka asked of its publisher while sending ``messages`` readings."""
    transport = serve(monkeypatch)
    options = ServiceOptions(broker="kafka", data_dir=tmp_path, instance="telemetry-generator")
    fleet = Fleet(2, seed=7)
    run_generator(options, logging.getLogger("warm"), "telemetry", "telemetry", 1000.0, fleet.telemetry,
                  fleet.machine_ids, 0, max_messages=messages)
    return transport.seen


def test_the_generator_warms_up_its_topic_before_the_first_reading(monkeypatch, tmp_path):
    seen = generator_log(monkeypatch, tmp_path, 4)
    assert seen[0] == ("warm_up", "telemetry")
    assert seen[1:] == [("publish", "telemetry")] * 4


def test_the_processor_warms_up_its_outputs_before_its_first_poll(monkeypatch, tmp_path):
    transport = serve(monkeypatch)
    options = ServiceOptions(data_dir=tmp_path, instance="health-processor")
    processor = Processor(options, logging.getLogger("warm"), HealthScorer(window=5, confirm=1), 100)
    processor.run(Shutdown(), Deadline(0.3))
    seen = transport.seen
    assert seen[0] == ("warm_up", "machine-health", "machine-health-latest", "alerts")
    assert ("poll",) in seen[1:] and not any(event[0] == "warm_up" for event in seen[1:])


def test_warm_up_can_be_turned_off_for_the_before_measurement(monkeypatch, tmp_path):
    monkeypatch.setenv("STREAMLAB_WARM_UP", "0")
    assert generator_log(monkeypatch, tmp_path, 2) == [("publish", "telemetry")] * 2


def test_the_consumers_fetch_wait_is_ours_unless_the_environment_says_otherwise(monkeypatch):
    from streamlab.transport import kafka_admin

    monkeypatch.delenv("STREAMLAB_KAFKA_FETCH_WAIT_MS", raising=False)
    assert kafka_admin.fetch_wait_ms() == kafka_admin.FETCH_WAIT_MS == 100
    monkeypatch.setenv("STREAMLAB_KAFKA_FETCH_WAIT_MS", "500")
    assert kafka_admin.fetch_wait_ms() == 500
