"""Fuzz: 10,000 generated payloads through the live processor on Kafka; each is processed or dead-lettered.

A mix, from a fixed seed: valid readings (in-range random values, some at the bounds), out-of-range ones
(ts_ns beyond int64, 1e308 °C, negative rpm), malformed bytes, wrong JSON shapes, bad headers (a null
codec, cloudpickle, an unknown codec, undecodable bytes) and vibration windows, valid and broken. The
processor runs as its own process (`python -m streamlab.services.health_processor`) in a fresh namespace;
the test knows which payloads are valid, so the counts must match exactly: processed = valid, dead-lettered
= the rest, the broker holds as many health records and dead letters as the processor says, 0 crashes.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import time
import uuid

import orjson
import pytest
from plugins.stacks import stack_env

from streamlab.codecs import get_codec
from streamlab.domain import Fleet
from streamlab.domain import messages as m
from streamlab.pipeline.declare import app_transport, declare_app
from streamlab.pipeline.topics import ALL_TOPICS

PAYLOADS = 10_000
TS = 1_790_000_000_000_000_000

pytestmark = pytest.mark.kafka


def generate(seed: int = 15) -> tuple[list[tuple[str, bytes, list]], int, int]:
    """(topic, value, headers) triples, and how many telemetry readings and vibration windows are valid."""
    rng = random.Random(seed)
    fleet = Fleet.with_faults(4, seed, 60.0)
    orj, valid_telemetry, valid_vibration, out = get_codec("orjson"), 0, 0, []
    good_headers = [("codec", b"orjson"), ("type", b"telemetry")]
    for i in range(PAYLOADS):
        machine = f"M{rng.randrange(20):03d}"
        reading = {"machine_id": machine, "seq": i, "ts_ns": TS + i * 1_000_000,
                   "temperature_c": rng.uniform(*m.TEMPERATURE_C), "rpm": rng.uniform(*m.RPM),
                   "load_pct": rng.uniform(*m.LOAD_PCT), "power_kw": rng.uniform(*m.POWER_KW)}
        kind = rng.random()
        if kind < 0.45:                                  # valid, sometimes exactly at a bound
            if rng.random() < 0.2:
                field = rng.choice(["temperature_c", "rpm", "load_pct", "power_kw"])
                bounds = {"temperature_c": m.TEMPERATURE_C, "rpm": m.RPM, "load_pct": m.LOAD_PCT,
                          "power_kw": m.POWER_KW}[field]
                reading[field] = rng.choice(bounds)
            if rng.random() < 0.1:
                reading["ts_ns"] = rng.choice([0, m.MAX_TS_NS])
            out.append(("telemetry", orjson.dumps(reading), good_headers))
            valid_telemetry += 1
        elif kind < 0.55:                                # out of range, still well-formed JSON
            field, value = rng.choice([("ts_ns", 2**63 + rng.randrange(2**63)), ("temperature_c", 1e308),
                                       ("rpm", -1.0), ("seq", 2**64 - 1), ("power_kw", 1e30),
                                       ("machine_id", "M" * 500)])
            out.append(("telemetry", json.dumps({**reading, field: value}).encode(), good_headers))
        elif kind < 0.65:                                # malformed bytes
            out.append(("telemetry", rng.randbytes(rng.randrange(0, 64)), good_headers))
        elif kind < 0.75:                                # wrong shapes and types, NaN tokens
            value = rng.choice([b"[1,2,3]", b'{"seq": "x"}', b"null", b'{"machine_id": 7}',
                                json.dumps({**reading, "rpm": float("nan")}).encode(),
                                json.dumps({**reading, "extra": 1}).encode()])
            out.append(("telemetry", value, good_headers))
        elif kind < 0.85:                                # bad headers on a valid payload
            header = rng.choice([None, b"cloudpickle", b"yaml", b"\xff\xfe", b""])
            out.append(("telemetry", orjson.dumps(reading), [("codec", header)]))
        elif kind < 0.93:                                # valid vibration windows
            window = fleet.vibration(rng.randrange(4), i / 100, ts_ns=TS + i * 1_000_000)
            out.append(("vibration", orj.encode(window), [("codec", b"orjson"), ("type", b"vibration")]))
            valid_vibration += 1
        else:                                            # broken vibration windows
            window = fleet.vibration(rng.randrange(4), i / 100, ts_ns=TS + i * 1_000_000).to_dict()
            window["axes"]["x"] = [1e30] * len(window["axes"]["x"]) if rng.random() < 0.5 else []
            out.append(("vibration", json.dumps(window).encode(), [("codec", b"orjson")]))
    return out, valid_telemetry, valid_vibration


def _count(consumer, expected: int, idle_s: float = 4.0, limit_s: float = 20.0) -> tuple[int, list]:
    seen, sample, idle, end = 0, [], time.monotonic(), time.monotonic() + limit_s
    while time.monotonic() < end and (seen < expected or time.monotonic() - idle < 0.5):
        records = consumer.poll(timeout=0.2, max_records=5000)
        if records:
            seen += len(records)
            sample += records[:5]
            idle = time.monotonic()
        elif time.monotonic() - idle > idle_s:
            break
    return seen, sample


STALL_S = 120


def test_ten_thousand_fuzzed_payloads_are_each_processed_or_dead_lettered(kafka_stack, tmp_path):
    from confluent_kafka import Producer

    started = time.monotonic()
    namespace = f"fuzz-{uuid.uuid4().hex[:6]}"
    transport = app_transport("kafka", ep=kafka_stack.endpoints)
    declare_app(transport, namespace)
    env = {**stack_env({"KAFKA_BOOTSTRAP": kafka_stack.endpoints.kafka_bootstrap}),
           "STREAMLAB_METRICS_INTERVAL": "0.5", "PYTHONUNBUFFERED": "1"}
    log_file = tmp_path / "processor.log"
    with open(log_file, "wb") as log:
        processor = subprocess.Popen(
            [sys.executable, "-m", "streamlab.services.health_processor", "--namespace", namespace,
             "--data-dir", str(tmp_path), "--instance", "fuzz-processor"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        payloads, valid_telemetry, valid_vibration = generate()
        producer = Producer({"bootstrap.servers": kafka_stack.endpoints.kafka_bootstrap, "acks": "all",
                             "linger.ms": 5})
        failed = []
        for topic, value, headers in payloads:
            producer.produce(f"{namespace}.{topic}", value, b"k", headers=headers,
                             on_delivery=lambda err, _msg: err and failed.append(err))
            producer.poll(0)
        assert producer.flush(30) == 0 and not failed

        metrics_file = tmp_path / "metrics" / "fuzz-processor.jsonl"
        # liveness, not a rate: wait as long as the processor makes progress; fail loudly once it has made
        # none for STALL_S (however slow a shared machine is, a working processor moves within that)
        done, last_progress = -1, time.monotonic()
        while done < PAYLOADS:
            assert processor.poll() is None, f"the processor died: {log_file.read_text()[-2000:]}"
            now = done
            if metrics_file.exists() and metrics_file.read_text().strip():
                last = json.loads(metrics_file.read_text().strip().splitlines()[-1])
                now = sum(last.get(k, 0) for k in ("processed", "vibration", "dead_lettered"))
            if now > done:
                done, last_progress = now, time.monotonic()
            assert time.monotonic() - last_progress < STALL_S, \
                f"no progress for {STALL_S} s at {done} of {PAYLOADS}: {log_file.read_text()[-2000:]}"
            time.sleep(0.3)
        processor.send_signal(signal.SIGTERM)
        assert processor.wait(timeout=30) == 0, log_file.read_text()[-2000:]
    finally:
        if processor.poll() is None:
            processor.kill()
            processor.wait()

    final = json.loads(metrics_file.read_text().strip().splitlines()[-1])
    assert final.get("processed", 0) == valid_telemetry
    assert final.get("vibration", 0) == valid_vibration
    assert final.get("dead_lettered", 0) == PAYLOADS - valid_telemetry - valid_vibration
    assert not final.get("poison")
    assert "Traceback" not in log_file.read_text()

    audit = transport.consumer([f"{namespace}.machine-health"], f"{namespace}.audit-h", "audit")
    health, sample = _count(audit, valid_telemetry)
    audit.close()
    dead = transport.consumer([f"{namespace}.dead-letter"], f"{namespace}.audit-d", "audit")
    letters, dead_sample = _count(dead, final["dead_lettered"])
    dead.close()
    transport.delete_topics([f"{namespace}.{spec.name}" for spec in ALL_TOPICS])
    assert health == valid_telemetry and letters == final["dead_lettered"]
    for record in sample:
        decoded = orjson.loads(record.value)
        assert math.isfinite(decoded["health_score"]) and all(math.isfinite(v) for v in decoded["features"].values())
    assert all(r.headers.get("error") for r in dead_sample)
    print(f"\nfuzz: {PAYLOADS} payloads, {valid_telemetry} + {valid_vibration} valid, "
          f"{final['dead_lettered']} dead-lettered, {time.monotonic() - started:.1f} s")
