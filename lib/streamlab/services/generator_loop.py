"""The paced loop both generators share.

Sends are scheduled on an absolute timetable (tick k at start + k/rate), not
"sleep a period after each send", so the rate holds even when a tick takes
time; when the loop falls behind it catches up without sleeping and reports
how far behind it is (`behind_ms`), which is the honest signal that a
generator cannot keep up.

Within a tick the machines' messages are spread evenly (`--pacing spread`, the
default): machine j of n sends at tick + j/(n·rate), as sensors with clocks of
their own do. Sending the whole fleet's readings at once (`burst`) makes each
reading wait behind the others of its tick in the client, the broker and the
processor: at 20 machines × 10 Hz on RabbitMQ, generator → processor took p50
4.2 ms with bursts and 0.9 ms spread (one session, 2026-12-03); chapter 04
measures both on Kafka in every build.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import typer

from ..codecs import service_codec
from ..domain import FaultSchedule, Fleet
from .common import Deadline, Metrics, ServiceOptions, Shutdown, headers_for, warm_up_enabled

#: The generators' Kafka producer linger (ms), `--linger-ms` / STREAMLAB_GENERATOR_LINGER_MS.
GENERATOR_LINGER_MS = 1.0

#: How a tick's messages are timed, `--pacing` / STREAMLAB_GENERATOR_PACING (see the module doc).
PACINGS = ("spread", "burst")


def slot_offsets(machines: int, period_s: float, pacing: str) -> list[float]:
    """Seconds after its tick at which each machine's message is due."""
    if pacing not in PACINGS:
        raise ValueError(f"pacing must be one of {', '.join(PACINGS)}, not {pacing!r}")
    if pacing == "burst":
        return [0.0] * machines
    return [j * period_s / machines for j in range(machines)]


def _pacing(value: str) -> str:
    if value not in PACINGS:
        raise typer.BadParameter(f"{value!r} is not a pacing: use one of {', '.join(PACINGS)}")
    return value


def pacing_option():
    """The `--pacing` option both generators take."""
    return typer.Option("spread", show_default=True, envvar="STREAMLAB_GENERATOR_PACING", callback=_pacing,
                        help="spread: each machine's message at its own slot of the tick; burst: the whole "
                             "fleet's at the tick")


def _sleep_until(due: float) -> None:
    gap = due - time.monotonic()
    if gap > 0:
        time.sleep(gap)


def build_fleet(machines: int, seed: int, duration_s: float) -> Fleet:
    """The same seed gives every generator the same fleet and the same fault schedule."""
    horizon = duration_s if duration_s > 0 else 3600.0
    schedule = FaultSchedule.generate(n_machines=machines, seed=seed, duration_s=horizon)
    return Fleet(n_machines=machines, seed=seed, schedule=schedule)


def write_ground_truth(options: ServiceOptions, fleet: Fleet, epoch_ns: int) -> None:
    """The injected faults with wall-clock times, so detections can be scored after the run."""
    path = options.data_dir / "ground_truth.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    faults = [{"machine_id": f.machine_id, "mode": f.mode.value, "start_s": f.start_s, "ramp_s": f.ramp_s,
               "failure_s": f.failure_s} for f in fleet.schedule.faults]
    path.write_text(json.dumps({"epoch_ns": epoch_ns, "machines": fleet.machine_ids, "faults": faults}, indent=2))


def run_generator(options: ServiceOptions, log: logging.Logger, topic: str, message_type: str,
                  rate_hz: float, make: Callable[[str, float], object], machine_ids: list[str],
                  epoch_ns: int, max_messages: int = 0, linger_ms: float | None = None,
                  pacing: str = "spread") -> None:
    """``linger_ms``: how long the Kafka producer holds a record to batch it with the next (other brokers
    have no such setting); ``pacing``: when within a tick each machine's message is due (`slot_offsets`)."""
    shutdown = Shutdown()
    codec = service_codec(options.codec)
    producer_options = {"linger_ms": linger_ms} if linger_ms is not None and options.broker == "kafka" else {}
    publisher = options.transport().publisher(options.instance, **producer_options)
    metrics = Metrics(options, log)
    headers = headers_for(codec.name, message_type)
    errors: list[str] = []

    def delivered(error: str | None) -> None:
        if error is None:
            metrics.count("acked")
        else:
            metrics.count("failed")
            if len(errors) < 5:
                errors.append(error)

    target = options.topic(topic)
    if warm_up_enabled():   # the first tick's readings would otherwise wait for the client's start-up
        publisher.warm_up([target])
    deadline = Deadline(options.duration_s)   # --duration is how long readings are sent
    period = 1.0 / rate_hz
    offsets = slot_offsets(len(machine_ids), period, pacing)
    start = time.monotonic()
    tick = 0
    sent = 0
    log.info("sending %s to %s: %d machines at %.1f Hz each via %s/%s, codec %s",
             message_type, target, len(machine_ids), rate_hz, options.broker, options.client, codec.name)
    try:
        while not shutdown.requested and not deadline.passed():
            due = start + tick * period
            _sleep_until(due)
            metrics.gauge("behind_ms", round(max(0.0, time.monotonic() - due) * 1000, 1))
            for machine_id, offset in zip(machine_ids, offsets):
                _sleep_until(due + offset)
                message = make(machine_id, (time.time_ns() - epoch_ns) / 1e9)
                publisher.publish(target, machine_id, codec.encode(message), headers, delivered)
                sent += 1
            metrics.count("sent", len(machine_ids))
            tick += 1
            metrics.maybe_emit()
            if max_messages and sent >= max_messages:
                break
    finally:
        pending = publisher.flush(60)
        publisher.close()
        metrics.gauge("unacked", pending)
        metrics.close()
        if errors:
            log.warning("delivery errors (first %d): %s", len(errors), "; ".join(errors))
        log.info("stopped (%s) after %d messages, %d unacknowledged",
                 shutdown.signal_name or "duration reached", sent, pending)
