"""Deep dive 7, way (a): the windowed temperature aggregation written by hand on the project's transport.

The processor's way: a consume → compute → publish → commit loop, its state a dict
in memory. Run as its own process so the harness can SIGKILL it like the other two:
``python -m streamlab.experiments.deep_dives.streams_handwritten bootstrap input output group window-ms``.
Events go to stdout as JSON lines, like the other two implementations'.
"""

from __future__ import annotations

import json
import sys
import time

from ...codecs import get_codec
from ...domain import TelemetryReading
from ...transport import Endpoints, get_transport


def event(kind: str, **fields: object) -> None:
    print(json.dumps({"event": kind, "time_ms": int(time.time() * 1000), **fields}), flush=True)


# --- aggregation
class TumblingTemperature:
    """Count, mean and max temperature per machine in tumbling windows of the records' timestamps.

    A machine's window is emitted when a reading of a later window of that
    machine arrives (records of one machine arrive in order: one key, one
    partition). A reading older than its machine's open window is late and dropped.
    """

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self.open: dict[str, list] = {}     # machine → [window start, count, sum, max]
        self.late = 0

    def add(self, machine: str, ts_ms: int, temperature: float) -> dict | None:
        start = ts_ms - ts_ms % self.window_ms
        current = self.open.get(machine)
        closed = None
        if current is not None and start != current[0]:
            if start < current[0]:
                self.late += 1
                return None
            closed = {"machine_id": machine, "window_start_ms": current[0], "count": current[1],
                      "temp_mean": current[2] / current[1], "temp_max": current[3]}
            current = None
        if current is None:
            current = self.open[machine] = [start, 0, 0.0, float("-inf")]
        current[1] += 1
        current[2] += temperature
        current[3] = max(current[3], temperature)
        return closed


def run(bootstrap: str, source: str, sink: str, group: str, window_ms: int) -> None:
    transport = get_transport("kafka", "confluent", Endpoints(kafka_bootstrap=bootstrap, amqp_url=""))
    # static membership (KIP-345): a restarted instance takes over its predecessor's partitions at once
    consumer = transport.consumer([source], group, "dd7-handwritten", group_instance_id=f"{group}-0",
                                  session_timeout_ms=6000)
    publisher = transport.publisher("dd7-handwritten")
    codec = get_codec("json")
    windows = TumblingTemperature(window_ms)
    event("start", window_ms=window_ms)
    while True:
        records = consumer.poll(0.5, max_records=2000)
        for record in records:
            reading = codec.decode(record.value, TelemetryReading)
            closed = windows.add(reading.machine_id, record.timestamp_ms, reading.temperature_c)
            if closed is not None:
                publisher.publish(sink, reading.machine_id, json.dumps(closed).encode())
        if records:
            publisher.flush()       # at-least-once: what was read is committed once its output is acknowledged
            consumer.commit()
# --- end of aggregation


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit("usage: streams_handwritten bootstrap input output group window-ms")
    run(*sys.argv[1:5], int(sys.argv[5]))
