"""Nothing a producer can send stops the processor: every step of a record is inside the dead-letter boundary.

Each test feeds the real `Processor` through an in-memory transport (tests/services/conftest.py) and checks
that the bad record is dead-lettered with its reason, the good ones are processed and no NaN/inf is published.
"""

from __future__ import annotations

import logging
import math

import orjson
import pytest

from streamlab.codecs import get_codec
from streamlab.services.common import ServiceOptions
from streamlab.services.health_processor import HealthScorer, Processor

TS = 1_790_000_000_000_000_000
LOG = logging.getLogger("test")


def reading(seq: int, machine: str = "M000", **overrides) -> dict:
    return {"machine_id": machine, "seq": seq, "ts_ns": TS + seq * 100_000_000, "temperature_c": 55.0,
            "rpm": 1500.0, "load_pct": 60.0, "power_kw": 12.0, **overrides}


def make_processor(tmp_path, codec: str = "orjson", batch: bool = True, **kwargs) -> Processor:
    options = ServiceOptions(codec=codec, data_dir=tmp_path, instance="health-processor")
    return Processor(options, LOG, HealthScorer(window=5, confirm=1), 1000, batch_scoring=batch, **kwargs)


def run_records(processor: Processor, records) -> None:
    (processor.process_batch if processor.batch_scoring else lambda rs: [processor.handle(r) for r in rs])(records)


def dead_reasons(transport) -> list[str]:
    return [headers["error"].decode() for _t, _k, _v, headers in transport.publisher_.on("dead-letter")]


def health_of(transport, codec: str = "orjson") -> list:
    from streamlab.domain import HealthRecord

    return [get_codec(codec).decode(v, HealthRecord) for _t, _k, v, _h in transport.publisher_.on("machine-health")]


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "per-record"])
def test_a_null_codec_header_is_dead_lettered(fake_transport, make_record, tmp_path, batch):
    processor = make_processor(tmp_path, batch=batch)
    run_records(processor, [make_record("telemetry", orjson.dumps(reading(0)), headers={"codec": None}),
                            make_record("telemetry", orjson.dumps(reading(1)), 1)])
    assert len(dead_reasons(fake_transport)) == 1 and "codec" in dead_reasons(fake_transport)[0]
    assert len(health_of(fake_transport)) == 1


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "per-record"])
def test_a_ts_beyond_int64_is_dead_lettered_as_out_of_range(fake_transport, make_record, tmp_path, batch):
    processor = make_processor(tmp_path, batch=batch)
    run_records(processor, [make_record("telemetry", orjson.dumps(reading(0, ts_ns=2**63 + 1)))])
    assert "ts_ns" in dead_reasons(fake_transport)[0] and not health_of(fake_transport)


@pytest.mark.parametrize("codec", ["json", "orjson"])
@pytest.mark.parametrize("batch", [True, False], ids=["batch", "per-record"])
def test_an_absurd_reading_is_dead_lettered_and_later_records_stay_finite(fake_transport, make_record, tmp_path,
                                                                          codec, batch):
    processor = make_processor(tmp_path, codec=codec, batch=batch)
    payloads = [reading(s, temperature_c=1e308 if s == 3 else 55.0) for s in range(20)]
    import json
    records = [make_record("telemetry", json.dumps(p).encode(), s, {"codec": codec.encode()})
               for s, p in enumerate(payloads)]
    run_records(processor, records)
    assert len(dead_reasons(fake_transport)) == 1 and "out of range" in dead_reasons(fake_transport)[0]
    health = health_of(fake_transport, codec)
    assert len(health) == 19
    assert all(math.isfinite(v) for h in health for v in h.features.values())


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "per-record"])
def test_an_encoding_failure_is_dead_lettered_not_a_crash(fake_transport, make_record, tmp_path, monkeypatch, batch):
    processor = make_processor(tmp_path, batch=batch)
    real_encode = processor.codec.encode
    calls = {"n": 0}

    def flaky(message):
        calls["n"] += 1
        if getattr(message, "seq", None) == 2:
            raise ValueError("cannot encode this one")
        return real_encode(message)

    monkeypatch.setattr(processor.codec, "encode", flaky)
    run_records(processor, [make_record("telemetry", orjson.dumps(reading(s)), s) for s in range(5)])
    assert len(dead_reasons(fake_transport)) == 1 and "cannot encode" in dead_reasons(fake_transport)[0]
    assert sorted(h.seq for h in health_of(fake_transport)) == [0, 1, 3, 4]


def test_a_record_that_keeps_failing_is_dead_lettered_after_n_attempts(fake_transport, make_record, tmp_path,
                                                                        monkeypatch):
    """A failure outside the per-record boundary (a bug, a full producer queue) is retried, then dead-lettered."""
    processor = make_processor(tmp_path)
    attempts = {"n": 0}
    real = processor._publish

    def publish(outputs):
        for record, health, alert in outputs:
            if health.seq == 1:
                attempts["n"] += 1
                raise BufferError("queue full")   # escapes the scoring boundary, as confluent's produce() does
            real([(record, health, alert)])

    monkeypatch.setattr(processor, "_publish", publish)
    processor.process_with_retries([make_record("telemetry", orjson.dumps(reading(s)), s) for s in range(3)])
    reasons = dead_reasons(fake_transport)
    assert len(reasons) == 1 and f"failed {processor.max_attempts} attempts" in reasons[0], reasons
    assert attempts["n"] == 1 + processor.max_attempts     # once in its batch, then max_attempts on its own
    assert sorted({h.seq for h in health_of(fake_transport)}) == [0, 2]   # 0 maybe twice: the sinks drop it


def test_unknown_machines_beyond_the_cap_are_dead_lettered_and_counted(fake_transport, make_record, tmp_path):
    processor = make_processor(tmp_path, max_machines=3)
    run_records(processor, [make_record("telemetry", orjson.dumps(reading(0, f"M{i:03d}")), i) for i in range(5)])
    reasons = dead_reasons(fake_transport)
    assert len(reasons) == 2 and all("machine cap" in r for r in reasons)
    assert len(processor.scorer.telemetry) == 3
    assert processor.metrics.counters["machines_refused"] == 2
    # machines already known keep being scored
    run_records(processor, [make_record("telemetry", orjson.dumps(reading(1, "M000")), 9)])
    assert len(health_of(fake_transport)) == 4
