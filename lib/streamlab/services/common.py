"""What every service shares: configuration, shutdown on signals, logging and metrics.

Each service is a plain loop in its own process (`python -m streamlab.services.<name>`),
so it can run in a container or as a local process; the loop checks `Shutdown.requested`
between batches, and SIGTERM/SIGINT only set that flag, so a batch in flight is
finished, flushed and committed before the process exits.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
import click

from ..stack import REPO_ROOT, StackError
from ..transport import Transport, TransportError, get_transport

LOG_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)s %(name)s %(message)s"


def setup_logging(service: str) -> logging.Logger:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format=LOG_FORMAT, datefmt="%H:%M:%S",
                        stream=sys.stderr)
    for noisy in ("kafka", "pika"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return logging.getLogger(f"streamlab.{service}")


class Shutdown:
    """Turns SIGTERM/SIGINT into a flag the service loop polls."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name = ""
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, _frame) -> None:
        self.requested = True
        self.signal_name = signal.Signals(signum).name


@dataclass
class ServiceOptions:
    """Options every service takes; flags override STREAMLAB_* environment variables."""

    broker: str = "kafka"
    client: str = "confluent"
    codec: str = "orjson"
    data_dir: Path = REPO_ROOT / "data" / "app"
    duration_s: float = 0.0          # 0 = run until signalled
    metrics_interval_s: float = float(os.environ.get("STREAMLAB_METRICS_INTERVAL", "2.0"))
    instance: str = ""
    namespace: str = ""              # prefixes topics and groups, so runs and tests never share state

    def topic(self, name: str) -> str:
        return f"{self.namespace}.{name}" if self.namespace else name

    def group(self, name: str) -> str:
        return f"{self.namespace}.{name}" if self.namespace else name

    def transport(self) -> Transport:
        return get_transport(self.broker, self.client)

    @property
    def metrics_file(self) -> Path:
        return self.data_dir / "metrics" / f"{self.instance}.jsonl"


def service_command(name: str):
    """Make `func(options, log, **own_flags)` a click command with the options every service shares.

    Put the service's own `@click.option`s between this decorator and the function.
    Every shared flag also reads a STREAMLAB_* environment variable, which is how
    containers configure the services.
    """

    def decorate(func):
        @functools.wraps(func)
        def command(broker: str, client: str, codec: str, data_dir: Path, duration: float,
                    instance: str | None, namespace: str, **own_flags) -> None:
            options = ServiceOptions(broker=broker, client=client, codec=codec, data_dir=data_dir,
                                     duration_s=duration, instance=instance or name, namespace=namespace)
            run_service(name, lambda opts, log: func(opts, log, **own_flags), options)

        shared = [
            click.option("--broker", envvar="STREAMLAB_BROKER", default="kafka", show_default=True,
                          help="which broker's transport to use"),
            click.option("--client", envvar="STREAMLAB_CLIENT", default="confluent", show_default=True,
                          help="Kafka client: confluent (fast path) or kafka-python"),
            click.option("--codec", envvar="STREAMLAB_CODEC", default="orjson", show_default=True,
                          help="message codec (json, orjson, msgpack, avro, protobuf)"),
            click.option("--data-dir", envvar="STREAMLAB_DATA_DIR", default=str(REPO_ROOT / "data" / "app"),
                          type=click.Path(path_type=Path), show_default=True, help="files, metrics and logs"),
            click.option("--duration", envvar="STREAMLAB_DURATION", default=0.0, type=float, show_default=True,
                          help="seconds to run; 0 runs until SIGTERM"),
            click.option("--instance", envvar="STREAMLAB_INSTANCE", default=None,
                          help="name in logs and metrics (default: the service name)"),
            click.option("--namespace", envvar="STREAMLAB_NAMESPACE", default="",
                          help="prefix for topics and consumer groups (isolates runs)"),
        ]
        for option in reversed(shared):
            command = option(command)
        return click.command(name=name, help=func.__doc__)(command)

    return decorate


class Metrics:
    """Counters written as one JSON line per interval, so the app runner and the book can plot rates."""

    def __init__(self, options: ServiceOptions, log: logging.Logger) -> None:
        self.options = options
        self.log = log
        self.counters: dict[str, float] = {}
        self.gauges: dict[str, float] = {}
        self.started = time.time()
        self._last_emit = time.monotonic()
        self._last_counters: dict[str, float] = {}
        options.metrics_file.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(options.metrics_file, "a", buffering=1)

    def count(self, name: str, n: float = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    def gauge(self, name: str, value: float) -> None:
        self.gauges[name] = value

    def maybe_emit(self, force: bool = False) -> None:
        now = time.monotonic()
        elapsed = now - self._last_emit
        if not force and elapsed < self.options.metrics_interval_s:
            return
        rates = {f"{k}_per_s": round((v - self._last_counters.get(k, 0)) / max(elapsed, 1e-9), 1)
                 for k, v in self.counters.items()}
        line = {"service": self.options.instance, "ts": round(time.time(), 3),
                "uptime_s": round(time.time() - self.started, 2), **self.counters, **rates, **self.gauges}
        self._file.write(json.dumps(line) + "\n")
        self.log.info(" ".join(f"{k}={v}" for k, v in line.items()
                               if k not in ("service", "ts") and not k.endswith("_histogram")))
        self._last_emit, self._last_counters = now, dict(self.counters)

    def close(self) -> None:
        self.maybe_emit(force=True)
        self._file.close()


def run_service(name: str, body, options: ServiceOptions) -> None:
    """Run a service body with clean one-line errors; exit code 2 for what the user can fix."""
    options.instance = options.instance or name
    log = setup_logging(options.instance)
    try:
        body(options, log)
    except (StackError, TransportError, ValueError) as exc:
        log.error("%s", exc)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def ensure_app_topics(transport: Transport, namespace: str = "") -> list[str]:
    """Create the application's topics (idempotent), prefixed by the namespace if any."""
    from dataclasses import replace

    from ..pipeline.topics import ALL_TOPICS

    prefix = f"{namespace}." if namespace else ""
    return transport.ensure_topics([replace(spec, name=prefix + spec.name) for spec in ALL_TOPICS])


def headers_for(codec_name: str, message_type: str) -> dict[str, bytes]:
    return {"codec": codec_name.encode(), "type": message_type.encode()}


@dataclass
class Deadline:
    duration_s: float
    start: float = field(default_factory=time.monotonic)

    def passed(self) -> bool:
        return self.duration_s > 0 and time.monotonic() - self.start >= self.duration_s
