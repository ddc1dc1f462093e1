"""One competing consumer doing the processor's work on vibration windows, as its own process.

    python -m streamlab.experiments.patterns.fft_worker BROKER BOOTSTRAP_OR_AMQP_URL TOPIC GROUP

Decodes each window (orjson) and computes its FFT band energies, as the
processor does, commits after every batch, and prints one line per batch:
``<records> <wall-clock time>``. The parent counts those lines and sends
SIGTERM once the whole backlog is done, so no worker has to guess when the
others have finished; a worker also stops after 120 s on its own.
"""

from __future__ import annotations

import os
import signal
import sys
import time


def main(argv: list[str]) -> None:
    broker, address, topic, group = argv[:4]
    from ...codecs import get_codec
    from ...domain import VibrationWindow, vibration_band_energies
    from ...transport import get_transport
    from ...transport.spec import Endpoints

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    if broker == "kafka":
        transport = get_transport("kafka", "confluent", Endpoints(address, "", ""))
        consumer = transport.consumer([topic], group, "ch03-worker")
    else:
        from ...transport.rabbitmq import RabbitMQTransport

        transport = RabbitMQTransport([address])
        consumer = transport.consumer([topic], group, "ch03-worker", prefetch=100)
    codec = get_codec("orjson")
    started = time.monotonic()
    while not stop and time.monotonic() - started < 120:
        records = consumer.poll(0.2, 100)
        if records:
            for record in records:
                vibration_band_energies(codec.decode(record.value, VibrationWindow))
            consumer.commit()
            print(f"{len(records)} {time.time()}", flush=True)
    sys.stdout.flush()
    os._exit(0)   # no close(): leaving the group may block for a rebalance; everything done is committed


if __name__ == "__main__":
    main(sys.argv[1:])
