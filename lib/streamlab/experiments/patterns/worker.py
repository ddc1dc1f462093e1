"""One competing consumer doing the processor's work on vibration windows, as its own process.

    python -m streamlab.experiments.patterns.worker BROKER BOOTSTRAP_OR_AMQP_URL TOPIC GROUP IDLE_S

Decodes each window (orjson) and computes its FFT band energies, as the
processor does, commits after every batch, and stops once nothing arrived for
IDLE_S seconds after the first message (or after 90 s in all). Prints one
JSON line: the wall-clock time of every message it processed.
"""

from __future__ import annotations

import json
import sys
import time


def main(argv: list[str]) -> None:
    broker, address, topic, group, idle_s = argv
    from ...codecs import get_codec
    from ...domain import VibrationWindow, vibration_band_energies
    from ...stack import Endpoints
    from ...transport import get_transport

    if broker == "kafka":
        transport = get_transport("kafka", "confluent", Endpoints(address, "", ""))
        consumer = transport.consumer([topic], group, "ch03-worker")
    else:
        from ...transport.rabbitmq import RabbitMQTransport

        transport = RabbitMQTransport([address])
        consumer = transport.consumer([topic], group, "ch03-worker", prefetch=100)
    codec = get_codec("orjson")
    times: list[float] = []
    started = time.monotonic()
    last = None
    while time.monotonic() - started < 90:
        records = consumer.poll(0.2, 100)
        if records:
            for record in records:
                vibration_band_energies(codec.decode(record.value, VibrationWindow))
                times.append(time.time())
            consumer.commit()
            last = time.monotonic()
        elif last is not None and time.monotonic() - last > float(idle_s):
            break
    consumer.close()
    print(json.dumps({"times": times}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
