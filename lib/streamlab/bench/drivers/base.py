"""The driver interface and its registry: what a driver is, which ones exist, and the broker plumbing they share.

`get_driver("confluent-kafka").run(workload, endpoints)` returns a `RunResult` (`results`); the Python
clients are `ProcessDriver`s (`processes`), the brokers' Java tools parse what the tool printed.
"""

from __future__ import annotations

import os
import re
import sys
import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from ...errors import UserError
from ...transport import kafka_admin
from ...transport.rabbitmq import connection_parameters
from ...transport.spec import TopicSpec
from ..workload import Workload
from .results import RunResult


class DriverError(RuntimeError):
    """A run failed (a child crashed, a tool exited badly); the runner records it and goes on."""


# -- results ------------------------------------------------------------------------------------


# -- drivers ------------------------------------------------------------------------------------

class Progress:
    """What drivers report while they run.

    On a terminal, a tqdm bar over the estimated seconds. Anywhere else (CI, `> file`, the book runner) a
    bar is hundreds of `\r` frames on one line, so it prints one plain line per phase instead: a note
    opens a new phase when it differs from the last one in more than its numbers ("sent 1,200" → "sent
    2,400" is the same phase)."""

    def __init__(self, total_s: float = 0.0, enabled: bool = True, stream: Any = None) -> None:
        self.total_s = max(total_s, 1.0)
        self.started = time.monotonic()
        self.bar = None
        self.stream = stream if stream is not None else sys.stderr
        self.plain = enabled and not _is_tty(self.stream)
        self._phase = ""
        if enabled and not self.plain:
            from tqdm import tqdm

            self.bar = tqdm(total=round(self.total_s), unit="s", leave=True, mininterval=0.5, file=self.stream,
                            bar_format="{percentage:3.0f}%|{bar:20}| {n:.0f}/{total:.0f} s est. {desc}")

    def note(self, text: str) -> None:
        if self.plain:
            phase = re.sub(r"\d[\d,.]*", "#", text)
            if phase != self._phase:
                self._phase = phase
                self._line(text)
        elif self.bar is not None:
            self.bar.set_description_str(text, refresh=False)
            self.refresh()

    def _line(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:5.0f} s / ~{self.total_s:.0f} s] {text}", file=self.stream,
              flush=True)

    def refresh(self) -> None:
        if self.bar is not None:
            elapsed = min(time.monotonic() - self.started, self.bar.total - 0.5)
            if elapsed > self.bar.n:
                self.bar.update(elapsed - self.bar.n)     # update() honours mininterval; refresh() would not

    def close(self) -> None:
        if self.plain:
            self._line("done")
        elif self.bar is not None:
            self.bar.n = self.bar.total
            self.bar.set_description_str("done", refresh=False)
            self.bar.refresh()
            self.bar.close()


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Driver(ABC):
    """Runs a workload against one broker and returns a RunResult; one instance per run is fine."""

    name: ClassVar[str]
    broker: ClassVar[str]                 # "kafka" or "rabbitmq"
    native: ClassVar[bool] = False        # the broker's own Java tool (the reference of the ratios)
    takes_rate: ClassVar[bool] = True     # False: the driver sets its own load (ping-pong), "50%" means nothing
    description: ClassVar[str] = ""

    @abstractmethod
    def client_version(self) -> str: ...

    def check(self, endpoints: Any) -> None:
        """Raise UserError with one line when this driver cannot run (broker down, tool missing)."""
        check_broker(self.broker, endpoints)

    @abstractmethod
    def run(self, workload: Workload, endpoints: Any, progress: Progress | None = None) -> RunResult:
        """Run `workload` (its rate already absolute: the runner resolves "50%") and measure it."""

    def estimate_s(self, workload: Workload) -> float:
        """Wall time one run takes, for the progress bar."""
        return workload.warmup_s + workload.duration_s + 6.0


DRIVERS: dict[str, str] = {
    "kafka-python": "streamlab.bench.drivers.kafka_python:KafkaPythonDriver",
    "confluent-kafka": "streamlab.bench.drivers.confluent:ConfluentDriver",
    "kafka-perf-test": "streamlab.bench.drivers.kafka_java_tools:KafkaPerfTestDriver",
    "kafka-e2e-latency": "streamlab.bench.drivers.kafka_java_tools:KafkaEndToEndLatencyDriver",
    "pika": "streamlab.bench.drivers.pika_driver:PikaDriver",
    "aio-pika": "streamlab.bench.drivers.aio_pika_driver:AioPikaDriver",
    "rabbitmq-perftest": "streamlab.bench.drivers.rabbitmq_perftest:RabbitPerfTestDriver",
}
ALIASES: dict[str, list[str]] = {
    "kafka": ["kafka-python", "confluent-kafka", "kafka-perf-test"],
    "rabbitmq": ["pika", "rabbitmq-perftest"],
    "rabbitmq-clients": ["pika", "aio-pika", "rabbitmq-perftest"],
    "python": ["kafka-python", "confluent-kafka", "pika", "aio-pika"],
    "native": ["kafka-perf-test", "rabbitmq-perftest"],
    "all": ["kafka-python", "confluent-kafka", "kafka-perf-test", "pika", "rabbitmq-perftest"],
    "confluent": ["confluent-kafka"], "kafka-producer-perf-test": ["kafka-perf-test"],
    "perftest": ["rabbitmq-perftest"], "perf-test": ["rabbitmq-perftest"], "aiopika": ["aio-pika"],
}
REFERENCE = {"kafka": "kafka-perf-test", "rabbitmq": "rabbitmq-perftest"}   # what ratios divide by


def driver_names(spec: str | list[str] | tuple[str, ...]) -> list[str]:
    """"kafka-python,confluent-kafka" or a list → known driver names (aliases expanded, order kept)."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names: list[str] = []
    for item in (i.strip().lower() for i in items):
        if not item:
            continue
        expanded = ALIASES.get(item, [item])
        for name in expanded:
            if name not in DRIVERS:
                raise UserError(f"driver {item!r} is not known: use {', '.join(DRIVERS)} "
                                 f"(or {', '.join(a for a in ALIASES if a in ('kafka', 'rabbitmq', 'python', 'all'))})")
            if name not in names:
                names.append(name)
    if not names:
        raise UserError("no driver given: use --driver kafka-python,confluent-kafka,kafka-perf-test (for example)")
    return names


def get_driver(name: str) -> Driver:
    import importlib

    if name not in DRIVERS:
        name = driver_names(name)[0]
    module, cls = DRIVERS[name].split(":")
    return getattr(importlib.import_module(module), cls)()


# -- broker plumbing shared by the Kafka drivers ------------------------------------------------

def check_broker(broker: str, endpoints: Any) -> None:
    if broker == "kafka":
        kafka_admin.metadata(endpoints.kafka_bootstrap, timeout=8)
    elif broker == "rabbitmq":
        import pika

        try:
            conn = pika.BlockingConnection(amqp_params(endpoints.amqp_url, timeout=5))
            conn.close()
        except Exception as exc:  # noqa: BLE001 - any connection failure means the same to the user
            raise UserError(f"RabbitMQ does not answer at {endpoints.amqp_url} ({type(exc).__name__}): start it with "
                            f"`streamlab stack up --broker rabbitmq`") from None


def amqp_params(url: str, timeout: float = 10):
    """A bench client's connection: the broker's heartbeat, and a publisher blocked by flow control for
    up to a minute before it gives up."""
    return connection_parameters(url, "streamlab-bench", socket_timeout=timeout, heartbeat=None, blocked_timeout=60)


def create_topic(bootstrap: str, topic: str, partitions: int, replication: int,
                 config: dict[str, str] | None = None) -> tuple[int, int]:
    """Create a bench topic (replication capped at the broker count); returns (brokers, replication)."""
    brokers = kafka_admin.broker_count(bootstrap)
    spec = TopicSpec(topic, "raw", partitions, max(1, replication), dict(config or {})).for_cluster(brokers)
    kafka_admin.ensure_topics(bootstrap, [spec])
    return brokers, spec.replication


def bench_name(driver: str) -> str:
    return f"streamlab-bench-{driver}-{os.urandom(3).hex()}"


# -- payloads and pacing (used inside the child processes) ---------------------------------------


# -- process orchestration --------------------------------------------------------------------------


__all__ = ["ALIASES", "DRIVERS", "REFERENCE", "Driver", "DriverError", "Progress", "amqp_params", "bench_name",
           "check_broker", "create_topic", "driver_names", "get_driver"]
