"""What every service shares: configuration, shutdown on signals, logging and metrics.

Each service is a plain loop in its own process (`python -m streamlab.services.<name>`),
so it can run in a container or as a local process; the loop checks `Shutdown.requested`
between batches, and SIGTERM/SIGINT only set that flag, so a batch in flight is
finished, flushed and committed before the process exits.
"""

from __future__ import annotations

import errno
import inspect
import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional
import typer

from ..codecs import service_codec
from ..errors import UserError
from ..paths import APP_DATA_DIR
from ..pipeline.declare import app_transport
from ..transport import Transport

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
    data_dir: Path = APP_DATA_DIR
    duration_s: float = 0.0          # 0 = run until signalled
    metrics_interval_s: float = float(os.environ.get("STREAMLAB_METRICS_INTERVAL", "2.0"))
    instance: str = ""
    namespace: str = ""              # prefixes topics and groups, so runs and tests never share state

    def topic(self, name: str) -> str:
        return f"{self.namespace}.{name}" if self.namespace else name

    def group(self, name: str) -> str:
        return f"{self.namespace}.{name}" if self.namespace else name

    def transport(self) -> Transport:
        return app_transport(self.broker, self.client)

    @property
    def metrics_file(self) -> Path:
        return self.data_dir / "metrics" / f"{self.instance}.jsonl"


def _shared_options() -> list[inspect.Parameter]:
    """The flags every service takes, each also read from a STREAMLAB_* variable (how containers set them)."""
    def option(name: str, annotation: type, default, envvar: str, help: str) -> inspect.Parameter:
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                                 default=typer.Option(default, envvar=envvar, show_default=True, help=help))

    return [
        option("broker", str, "kafka", "STREAMLAB_BROKER", "which broker's transport to use"),
        option("client", str, "confluent", "STREAMLAB_CLIENT", "Kafka client: confluent (fast path) or kafka-python"),
        option("codec", str, "orjson", "STREAMLAB_CODEC", "message codec (json, orjson, msgpack, avro, protobuf)"),
        option("data_dir", Path, APP_DATA_DIR, "STREAMLAB_DATA_DIR", "files, metrics and logs"),
        option("duration", float, 0.0, "STREAMLAB_DURATION", "seconds to run; 0 runs until SIGTERM"),
        option("instance", Optional[str], None, "STREAMLAB_INSTANCE",
               "name in logs and metrics (default: the service name)"),
        option("namespace", str, "", "STREAMLAB_NAMESPACE", "prefix for topics and consumer groups (isolates runs)"),
    ]


SHARED_OPTIONS = tuple(p.name for p in _shared_options())


def service_command(name: str):
    """Make `func(options, log, **own_flags)` a command line with the options every service shares.

    The service declares its own flags as typer options in its signature, after `options` and `log`.
    The result is the click command typer builds (so its `.params` list every flag, shared and own);
    calling it parses `sys.argv` and runs the service.
    """

    def decorate(func):
        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in list(inspect.signature(func).parameters.values())[2:]]

        def command(**flags) -> None:
            shared = {key: flags.pop(key) for key in SHARED_OPTIONS}
            options = ServiceOptions(broker=shared["broker"], client=shared["client"], codec=shared["codec"],
                                     data_dir=shared["data_dir"], duration_s=shared["duration"],
                                     instance=shared["instance"] or name, namespace=shared["namespace"])
            run_service(name, lambda opts, log: func(opts, log, **flags), options)

        command.__signature__ = inspect.Signature([*_shared_options(), *own])  # type: ignore[attr-defined]
        command.__doc__ = func.__doc__
        app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        app.command(name=name)(command)
        return typer.main.get_command(app)

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
        service_codec(options.codec)   # every service refuses an unsafe codec before it does anything else
        body(options, log)
    except (UserError, ValueError) as exc:
        log.error("%s", exc)
        raise SystemExit(2) from None
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        # Nothing was committed past the failed write: a supervisor restarts the service, which resumes
        # from the last commit once space is back.
        log.error("%s: %s; free space on the data disk: the service resumes from its last commit", options.instance, exc)
        raise SystemExit(3) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def warm_up_enabled() -> bool:
    """Whether services prepare their clients and writers before the first message (the default).
    ``STREAMLAB_WARM_UP=0`` turns it off, so chapter 04's *before* measures what the warm-ups are worth."""
    return os.environ.get("STREAMLAB_WARM_UP", "1").strip() != "0"


def headers_for(codec_name: str, message_type: str) -> dict[str, bytes]:
    return {"codec": codec_name.encode(), "type": message_type.encode()}


@dataclass
class Deadline:
    duration_s: float
    start: float = field(default_factory=time.monotonic)

    def passed(self) -> bool:
        return self.duration_s > 0 and time.monotonic() - self.start >= self.duration_s


def count_commit(metrics: Metrics, consumer: object, committed: bool) -> None:
    """Count a commit only when the broker took it (`Consumer.commit`'s True); a refused one is counted apart.
    The transport's retries of a moved coordinator show as a gauge, so a run can tell a retried commit from
    one that went through at once."""
    metrics.count("commits" if committed else "commits_refused")
    metrics.gauge("commit_retries", getattr(consumer, "commit_retries", 0))
