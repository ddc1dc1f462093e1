"""The processor's vectorised path gives the health records and alerts of its per-record path."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from streamlab.domain import Fleet, TelemetryFeatures, TelemetryReading, VibrationWindow
from streamlab.domain.health import HealthModel
from streamlab.services.health_processor import HealthScorer

T0_NS = 1_700_000_000_000_000_000


def fleet_stream(machines: int = 6, duration_s: float = 120.0, hz: int = 10, seed: int = 7) -> list:
    """Telemetry of a fleet with faults, one vibration window per machine and second, in arrival order."""
    fleet = Fleet.with_faults(machines, seed, duration_s)
    stream: list = []
    for step in range(int(duration_s * hz)):
        t = step / hz
        for i in range(machines):
            stream.append(fleet.telemetry(i, t, ts_ns=T0_NS + int(t * 1e9)))
            if step % hz == i % hz:
                stream.append(fleet.vibration(i, t, ts_ns=T0_NS + int(t * 1e9)))
    return stream


def per_record(stream: list) -> list:
    scorer = HealthScorer(window=50, confirm=3)
    out = []
    for message in stream:
        if isinstance(message, VibrationWindow):
            scorer.on_vibration(message)
        else:
            out.append(scorer.on_telemetry(message))
    return out


def batched(stream: list, seed: int = 1) -> list:
    """As the processor's batch path: poll batches of random size, split at vibration windows."""
    rng = random.Random(seed)
    scorer = HealthScorer(window=50, confirm=3)
    out: list = []
    position = 0
    while position < len(stream):
        size = rng.choice([1, 7, 64, 500, 2000])
        batch, position = stream[position:position + size], position + size
        run: list[TelemetryReading] = []
        for message in batch:
            if isinstance(message, VibrationWindow):
                out += scorer.on_telemetry_batch(run)
                run = []
                scorer.on_vibration(message)
            else:
                run.append(message)
        out += scorer.on_telemetry_batch(run)
    return out


def test_batch_scoring_equals_per_record_scoring():
    stream = fleet_stream()
    expected, actual = per_record(stream), batched(stream)
    assert len([a for _r, a in expected if a is not None]) >= 3, (
        "the fleet should raise alerts, or this test checks little"
    )
    assert_same_outputs(expected, actual)


def test_both_paths_give_no_verdict_until_the_vibration_is_known():
    """Half the fleet's vibration windows start at 20 s: until then their full telemetry windows score nothing."""
    late = {f"M{i:03d}" for i in range(3)}
    stream = [m for m in fleet_stream(duration_s=40.0)
              if not (isinstance(m, VibrationWindow) and m.machine_id in late and m.ts_ns < T0_NS + 20 * 10**9)]
    expected, actual = per_record(stream), batched(stream)
    assert_same_outputs(expected, actual)
    for records in (expected, actual):
        window_full = [r for r, _a in records if r.seq >= 50 and r.source_ts_ns < T0_NS + 19 * 10**9]
        assert {r.machine_id for r in window_full if r.features} == {f"M{i:03d}" for i in range(3, 6)}
        assert {r.machine_id for r in window_full if not r.features} == late
        assert all(r.features for r, _a in records if r.seq >= 50 and r.source_ts_ns >= T0_NS + 21 * 10**9)


def assert_same_outputs(expected: list, actual: list) -> None:
    """The same health records (to rounding) and the same alerts, in the same order."""
    assert len(actual) == len(expected)
    alerts_expected = [a for _r, a in expected if a is not None]
    alerts_actual = [a for _r, a in actual if a is not None]
    for (want, _), (got, _) in zip(expected, actual):
        assert (got.machine_id, got.seq, got.source_ts_ns, got.state) == \
            (want.machine_id, want.seq, want.source_ts_ns, want.state)
        assert got.health_score == pytest.approx(want.health_score, abs=1e-9)
        assert list(got.features) == list(want.features)  # same keys in the same order: same bytes on the wire
        for name, value in want.features.items():
            assert got.features[name] == pytest.approx(value, rel=1e-7, abs=1e-9), name
    assert [(a.machine_id, a.seq, a.source_ts_ns, a.previous_state, a.state, a.reason) for a in alerts_actual] == \
        [(a.machine_id, a.seq, a.source_ts_ns, a.previous_state, a.state, a.reason) for a in alerts_expected]


def test_update_many_leaves_the_state_of_per_reading_updates():
    fleet = Fleet(1, seed=3)
    readings = [fleet.telemetry(0, k / 10, ts_ns=1_700_000_000_000_000_000 + k * 100_000_000) for k in range(173)]
    one, many = TelemetryFeatures(window=20, min_readings=5), TelemetryFeatures(window=20, min_readings=5)
    for r in readings[:100]:
        one.update(r)
    ts = np.array([r.ts_ns for r in readings[:100]], dtype=np.int64)
    values = np.array([(r.temperature_c, r.rpm, r.load_pct, r.power_kw) for r in readings[:100]])
    stats = many.update_many(ts[:3], values[:3])
    assert not stats["ready"].any() and math.isnan(stats["temp_mean"][0])
    many.update_many(ts[3:], values[3:])
    for r in readings[100:]:   # both continue per reading from the state the batch left
        one.update(r)
        many.update(r)
    assert many.count == one.count == 20
    for name, value in one.features().items():
        assert many.features()[name] == pytest.approx(value, rel=1e-9, abs=1e-12)


def test_severity_many_matches_severity():
    model = HealthModel()
    values = np.linspace(-1.0, 100.0, 2001)
    for limit in model.limits:
        assert limit.severity_many(values).tolist() == pytest.approx([limit.severity(v) for v in values])
