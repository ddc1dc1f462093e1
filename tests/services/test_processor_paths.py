"""The processor's fast path (runs decoded and scored as columns) publishes what its per-record path publishes.

Both paths see the same encoded stream through the in-memory transport (conftest.py): a faulty fleet's
telemetry and vibration in poll batches of varying size, with bad records mixed in (unparsable, out of
range, another codec named in the headers, machines beyond the cap), so every fallback of the fast path
is crossed too.
"""

from __future__ import annotations

import logging
import random

import orjson
import pytest
from test_batch_scoring import fleet_stream  # same folder: pytest puts it on the path

from streamlab.codecs import get_codec
from streamlab.domain import Alert, HealthRecord, VibrationWindow
from streamlab.services.common import ServiceOptions
from streamlab.services.health_processor import VECTORISE_MIN_PER_MACHINE, HealthScorer, Processor
from streamlab.transport import Record

BAD = [b"not json", orjson.dumps({"machine_id": "M000"}), b'{"machine_id": "M000", "seq": true}']


def records(seed: int = 3) -> list[Record]:
    rng = random.Random(seed)
    codec, msgpack = get_codec("orjson"), get_codec("msgpack")
    out: list[Record] = []
    for message in fleet_stream(machines=6, duration_s=40.0):
        topic = "vibration" if isinstance(message, VibrationWindow) else "telemetry"
        roll = rng.random()
        if roll < 0.01:
            out.append(Record("telemetry", b"M000", rng.choice(BAD), {"codec": b"orjson"}, 0, len(out)))
        if roll > 0.995:   # the same reading in another (safe) codec: per-record path, same result
            out.append(Record(topic, message.machine_id.encode(), msgpack.encode(message), {"codec": b"msgpack"},
                              0, len(out)))
            continue
        if topic == "telemetry" and 0.5 < roll < 0.502:   # out of range: dead-lettered
            message.temperature_c = 1e308
        out.append(Record(topic, message.machine_id.encode(), codec.encode(message), {"codec": b"orjson"}, 0,
                          len(out)))
    return out


def published(fake_transport, tmp_path, batch: bool, max_machines: int, stream: list[Record],
              vectorise_min_per_machine: int = 0) -> dict:
    fake_transport.publisher_.sent.clear()
    options = ServiceOptions(codec="orjson", data_dir=tmp_path / f"{batch}-{vectorise_min_per_machine}",
                             instance="health-processor")
    processor = Processor(options, logging.getLogger("paths"), HealthScorer(window=50, confirm=3), 2000,
                          batch_scoring=batch, max_machines=max_machines,
                          vectorise_min_per_machine=vectorise_min_per_machine)
    rng = random.Random(1)
    position = 0
    while position < len(stream):
        size = rng.choice([1, 5, 300, 2000])
        processor.process_with_retries(stream[position:position + size])
        processor.commit_batch()
        position += size
    codec = get_codec("orjson")
    health = [codec.decode(v, HealthRecord) for t, _k, v, _h in fake_transport.publisher_.sent if t == "machine-health"]
    alerts = [codec.decode(v, Alert) for t, _k, v, _h in fake_transport.publisher_.sent if t == "alerts"]
    for message in health + alerts:
        message.ts_ns = 0   # processing time differs between runs
    dead = [(h["source_offset"], h["error"])
            for t, _k, _v, h in fake_transport.publisher_.sent if t == "dead-letter"]
    return {"health": health, "alerts": alerts, "dead": dead, "counters": dict(processor.metrics.counters)}


@pytest.mark.parametrize("max_machines", [10_000, 4], ids=["fleet", "cap-reached"])
@pytest.mark.parametrize("vectorise_min", [0, VECTORISE_MIN_PER_MACHINE], ids=["batch", "auto"])
def test_the_fast_path_publishes_what_the_per_record_path_publishes(fake_transport, tmp_path, max_machines,
                                                                    vectorise_min):
    """batch: every run vectorised; auto: only runs with enough readings per machine (the batch sizes
    below give both kinds), the rest record by record -- the output must not tell which."""
    stream = records()
    one = published(fake_transport, tmp_path, False, max_machines, stream)
    fast = published(fake_transport, tmp_path, True, max_machines, stream, vectorise_min)
    assert len(fast["health"]) == len(one["health"]) > 1000
    assert one["dead"], "the stream should hold bad records, or this test checks little"
    assert sorted(fast["dead"], key=repr) == sorted(one["dead"], key=repr)
    assert fast["counters"] == one["counters"]
    for got, want in zip(fast["health"], one["health"]):
        assert (got.machine_id, got.seq, got.source_ts_ns, got.state, list(got.features)) == \
            (want.machine_id, want.seq, want.source_ts_ns, want.state, list(want.features))
        assert got.health_score == pytest.approx(want.health_score, abs=1e-9)
        assert got.features == pytest.approx(want.features, rel=1e-7, abs=1e-9)
    assert [(a.machine_id, a.seq, a.state, a.reason) for a in fast["alerts"]] == \
        [(a.machine_id, a.seq, a.state, a.reason) for a in one["alerts"]]


def test_auto_vectorises_only_runs_with_enough_readings_per_machine(fake_transport, tmp_path):
    stream = [r for r in records() if r.topic == "telemetry" and r.headers == {"codec": b"orjson"}]
    options = ServiceOptions(codec="orjson", data_dir=tmp_path, instance="health-processor")
    processor = Processor(options, logging.getLogger("paths"), HealthScorer(window=50, confirm=3), 2000,
                          vectorise_min_per_machine=VECTORISE_MIN_PER_MACHINE)
    vectorised: list[int] = []
    columns = processor._columns
    processor._columns = lambda run: vectorised.append(len(run)) or columns(run)
    machines = len({r.key for r in stream})
    small, large = machines * (VECTORISE_MIN_PER_MACHINE - 1), machines * VECTORISE_MIN_PER_MACHINE
    processor.process_batch(stream[:small])
    assert vectorised == []
    processor.process_batch(stream[small:small + large])
    assert vectorised == [large]
