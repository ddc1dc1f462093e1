"""librdkafka's own log lines go through our logging with a level (issue 19.5): an address merely tried
says nothing, one that keeps refusing says so once; no `%3|…|FAIL|` line reaches stderr. No broker needed."""

from __future__ import annotations

import socket
import subprocess
import sys

SCRIPT = """
import sys, time
from confluent_kafka import Producer
from streamlab.transport.kafka_admin import client_logger
producer = Producer({"bootstrap.servers": sys.argv[1], "logger": client_logger(), "reconnect.backoff.ms": 100,
                     "reconnect.backoff.max.ms": 200})
producer.produce("t", b"x")
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    producer.poll(0.1)
"""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]     # nothing listens once the socket is closed


def _stderr(bootstrap: str, seconds: float) -> str:
    out = subprocess.run([sys.executable, "-c", SCRIPT, bootstrap, str(seconds)], capture_output=True, text=True,
                         timeout=10)
    return out.stderr


def test_an_unreachable_broker_is_one_clear_line_not_fail_noise():
    port = _closed_port()
    err = _stderr(f"127.0.0.1:{port}", 5.0)
    assert "%3|" not in err and "FAIL" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [
        f"Kafka broker 127.0.0.1:{port} is unreachable: Connection refused (rdkafka#producer-1 keeps retrying)"
    ]


def test_an_address_tried_once_says_nothing():
    err = _stderr(f"127.0.0.1:{_closed_port()}", 1.5)   # several refused attempts, for less than 3 s
    assert err.strip() == ""
