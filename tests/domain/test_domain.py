"""The domain without brokers: messages, fault schedule, fleet simulation, health scoring."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from streamlab.domain import (
    MESSAGE_TYPES,
    AccelAxes,
    Alert,
    AlertTracker,
    Fault,
    FaultMode,
    FaultSchedule,
    Fleet,
    HealthModel,
    HealthRecord,
    Limit,
    SequenceCounter,
    TelemetryFeatures,
    TelemetryReading,
    VibrationMetadata,
    VibrationWindow,
    message_type,
    vibration_band_energies,
)

TS = 1_750_000_000_000_000_000


def make_vibration(n: int = 16, **signal) -> VibrationWindow:
    axes = {axis: signal.get(axis, np.zeros(n, dtype=np.float32)) for axis in "xyz"}
    return VibrationWindow(
        machine_id="M001", seq=0, ts_ns=TS, sample_rate_hz=1000.0, axes=AccelAxes(**axes),
        metadata=VibrationMetadata("ACC-1", "drive-end bearing", "2.1.0", rpm_at_capture=1500.0),
    )


def example_messages() -> list:
    return [
        TelemetryReading("M001", 3, TS, 55.5, 1500.0, 62.0, 9.5),
        make_vibration(8, x=np.arange(8, dtype=np.float32)),
        HealthRecord("M001", 0, TS + 5, TS, 0.75, "warning", {"temp_mean": 70.1, "vib_rms_0_50": 0.2}),
        Alert("M001", 0, TS + 6, TS, "ok", "warning", "temperature high", 0.75),
    ]


# ------------------------------------------------------------------------------------------ messages


@pytest.mark.parametrize("msg", example_messages(), ids=lambda m: m.type_name)
def test_to_dict_from_dict_round_trip(msg):
    data = msg.to_dict()
    again = type(msg).from_dict(data)
    assert again == msg
    assert MESSAGE_TYPES[msg.type_name] is type(msg)


def test_to_dict_is_plain_json():
    import json

    for msg in example_messages():
        assert type(msg).from_dict(json.loads(json.dumps(msg.to_dict()))) == msg


def test_registry_names_and_lookup():
    assert set(MESSAGE_TYPES) == {"telemetry", "vibration", "health", "alert"}
    assert message_type("health") is HealthRecord
    with pytest.raises(ValueError, match="valid"):
        message_type("nope")


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"seq": True}, "seq must be an integer"),
        ({"seq": -1}, "seq must be >= 0"),
        ({"seq": "3"}, "seq must be an integer"),
        ({"machine_id": ""}, "must not be empty"),
        ({"machine_id": 7}, "machine_id must be a string"),
        ({"temperature_c": float("nan")}, "must be finite"),
        ({"rpm": "fast"}, "rpm must be a number"),
        ({"extra": 1}, "unknown \\['extra'\\]"),
    ],
)
def test_from_dict_rejects_bad_fields(change, reason):
    data = example_messages()[0].to_dict() | change
    with pytest.raises(ValueError, match=reason):
        TelemetryReading.from_dict(data)


def test_from_dict_rejects_missing_field_and_non_mapping():
    data = example_messages()[0].to_dict()
    del data["rpm"]
    with pytest.raises(ValueError, match="missing \\['rpm'\\]"):
        TelemetryReading.from_dict(data)
    with pytest.raises(ValueError, match="must be a mapping"):
        TelemetryReading.from_dict([1, 2])


def test_health_and_alert_validate_states_and_score():
    health = example_messages()[2].to_dict()
    with pytest.raises(ValueError, match="state must be one of"):
        HealthRecord.from_dict(health | {"state": "fine"})
    with pytest.raises(ValueError, match="within \\[0, 1\\]"):
        HealthRecord.from_dict(health | {"health_score": 1.5})
    alert = example_messages()[3].to_dict()
    assert Alert.from_dict(alert | {"previous_state": "unknown"}).previous_state == "unknown"


def test_vibration_axes_validation():
    data = make_vibration(8).to_dict()
    with pytest.raises(ValueError, match="equal lengths"):
        VibrationWindow.from_dict(data | {"axes": {"x": [1.0], "y": [1.0, 2.0], "z": [1.0]}})
    with pytest.raises(ValueError, match="1-D sequence of numbers"):
        VibrationWindow.from_dict(data | {"axes": {"x": ["a"], "y": [1.0], "z": [1.0]}})
    with pytest.raises(ValueError, match="finite"):
        VibrationWindow.from_dict(data | {"axes": {"x": [float("inf")], "y": [1.0], "z": [1.0]}})


def test_accel_axes_are_float32_and_compare_by_value():
    axes = AccelAxes([1.0, 2.0], [3.0, 4.0], [5.0, 6.0])
    assert axes.x.dtype == np.float32 and axes.n_samples == 2
    assert axes == AccelAxes(np.array([1, 2]), [3, 4], [5, 6])
    assert axes != AccelAxes([1.0, 2.5], [3.0, 4.0], [5.0, 6.0])
    assert axes.as_matrix().shape == (3, 2)


def test_raw_arrays_dict_keeps_numpy():
    window = make_vibration(4)
    assert isinstance(window.to_dict(raw_arrays=True)["axes"]["x"], np.ndarray)
    assert isinstance(window.to_dict()["axes"]["x"], list)


def test_sequence_counter_is_per_key():
    counter = SequenceCounter()
    assert [counter.next("a"), counter.next("a"), counter.next("b"), counter.next("a")] == [0, 1, 0, 2]
    assert counter.peek("b") == 1


# ------------------------------------------------------------------------------------------ faults


def test_fault_severity_ramp():
    fault = Fault("M001", FaultMode.OVERHEATING, start_s=10.0, ramp_s=20.0, failure_s=40.0)
    assert [fault.severity(t) for t in (0.0, 10.0, 20.0, 30.0, 100.0)] == [0.0, 0.0, 0.5, 1.0, 1.0]
    assert fault.developed_s == 30.0
    with pytest.raises(ValueError):
        Fault("M001", FaultMode.IMBALANCE, start_s=10.0, ramp_s=20.0, failure_s=20.0)


def test_schedule_is_seeded_and_sized():
    first = FaultSchedule.generate(20, seed=3, duration_s=300)
    assert first.faults == FaultSchedule.generate(20, seed=3, duration_s=300).faults
    assert first.faults != FaultSchedule.generate(20, seed=4, duration_s=300).faults
    assert len(first) == 6
    assert len(FaultSchedule.generate(20, seed=3, duration_s=300, fault_fraction=0.0)) == 0
    for fault in first.faults:
        assert 0.1 * 300 <= fault.start_s <= 0.5 * 300
        assert fault.developed_s < 300 < fault.failure_s + 300


def test_schedule_ground_truth_queries():
    fault = Fault("M002", FaultMode.BEARING_WEAR, start_s=10.0, ramp_s=10.0, failure_s=30.0)
    schedule = FaultSchedule([fault])
    assert schedule.severity("M001", 50.0) == {}
    assert schedule.severity("M002", 5.0) == {}
    assert schedule.severity("M002", 15.0) == {FaultMode.BEARING_WEAR: 0.5}
    assert not schedule.is_faulty("M002", 10.0) and schedule.is_faulty("M002", 10.5)
    assert not schedule.is_developed("M002", 19.0) and schedule.is_developed("M002", 20.0)
    assert not schedule.is_faulty("M001", 100.0)
    with pytest.raises(ValueError, match="more than one fault"):
        FaultSchedule([fault, fault])


# ------------------------------------------------------------------------------------------ fleet


def test_fleet_is_deterministic_and_machine_data_independent_of_fleet_size():
    a, b, c = Fleet(5, seed=11), Fleet(5, seed=11), Fleet(12, seed=11)
    for t in (0.0, 0.1, 0.2):
        ra, rb, rc = (f.telemetry(3, t, ts_ns=TS) for f in (a, b, c))
        assert ra == rb == rc
    assert a.vibration("M003", 1.0, ts_ns=TS) == c.vibration("M003", 1.0, ts_ns=TS)
    assert Fleet(5, seed=12).telemetry(3, 0.0, ts_ns=TS) != Fleet(5, seed=11).telemetry(3, 0.0, ts_ns=TS)


def test_fleet_sequence_numbers_per_machine_and_stream():
    fleet = Fleet(3, seed=1)
    seqs = [fleet.telemetry(m, 0.0).seq for m in (0, 1, 0, 0, 2, 1)]
    assert seqs == [0, 0, 1, 2, 0, 1]
    assert [fleet.vibration("M000", 0.0).seq for _ in range(3)] == [0, 1, 2]


def test_fleet_machine_ids_and_lookup():
    fleet = Fleet(12, seed=1)
    assert fleet.machine_ids[7] == "M007"
    assert fleet.index_of("M007") == 7 == fleet.index_of(7)
    assert fleet.telemetry("M007", 0.0).machine_id == "M007"
    with pytest.raises(ValueError, match="unknown machine"):
        fleet.index_of("M099")
    with pytest.raises(ValueError, match="out of range"):
        fleet.index_of(12)


def test_fleet_messages_are_valid_and_stamped_with_wall_clock():
    fleet = Fleet(2, seed=5)
    before = time.time_ns()
    reading = fleet.telemetry(0, 12.3)
    window = fleet.vibration(1, 12.3, n_samples=128, sample_rate_hz=2000)
    assert before <= reading.ts_ns <= time.time_ns()
    assert TelemetryReading.from_dict(reading.to_dict()) == reading
    assert VibrationWindow.from_dict(window.to_dict()) == window
    assert window.n_samples == 128 and window.sample_rate_hz == 2000.0
    assert window.axes.x.dtype == np.float32


def test_healthy_machine_is_stationary():
    fleet = Fleet(1, seed=2)
    early = [fleet.telemetry(0, t / 10).temperature_c for t in range(0, 600)]
    late = [fleet.telemetry(0, t / 10).temperature_c for t in range(6000, 6600)]
    assert abs(np.mean(early) - np.mean(late)) < 1.5
    assert 0.1 < np.std(early) < 2.0


@pytest.mark.parametrize("mode", list(FaultMode))
def test_faulty_machine_drifts_by_its_mode(mode):
    schedule = FaultSchedule([Fault("M000", mode, start_s=10.0, ramp_s=10.0, failure_s=30.0)])
    faulty, healthy = Fleet(1, seed=4, schedule=schedule), Fleet(1, seed=4)
    t = 25.0
    temp_rise = faulty.telemetry(0, t).temperature_c - healthy.telemetry(0, t).temperature_c
    bands = vibration_band_energies(faulty.vibration(0, t))
    base_bands = vibration_band_energies(healthy.vibration(0, t))
    if mode is FaultMode.OVERHEATING:
        assert temp_rise > 25
    elif mode is FaultMode.BEARING_WEAR:
        assert bands["vib_rms_150_250"] > 5 * base_bands["vib_rms_150_250"]
        assert 4 < temp_rise < 12
    else:
        assert bands["vib_rms_0_50"] > 5 * base_bands["vib_rms_0_50"]


# ------------------------------------------------------------------------------------------ health features


def test_telemetry_features_rolling_stats():
    features = TelemetryFeatures(window=20, min_readings=5)
    for k in range(4):
        features.update(TelemetryReading("M0", k, TS + k * 10**8, 50.0 + 0.2 * k, 1000.0, 50.0, 5.0))
    assert not features.ready and features.features() == {}
    for k in range(4, 40):  # temperature rises 2 degrees per second; only the last 20 readings count
        features.update(TelemetryReading("M0", k, TS + k * 10**8, 50.0 + 0.2 * k, 1000.0 + k % 2, 50.0, 5.0))
    stats = features.features()
    assert features.count == 20
    assert stats["temp_slope"] == pytest.approx(2.0)
    assert stats["temp_mean"] == pytest.approx(50.0 + 0.2 * np.mean(range(20, 40)))
    assert stats["rpm_std"] == pytest.approx(0.5)
    assert stats["power_mean"] == pytest.approx(5.0)


def test_running_sums_match_numpy_over_long_runs():
    """The O(1) sums must equal a direct computation on the window, also after many evictions and resyncs."""
    rng = np.random.default_rng(5)
    features = TelemetryFeatures(window=50, min_readings=10)
    rows = []
    for k in range(2600):  # > 2 resyncs, thousands of evictions
        temp, rpm = 70 + 5 * rng.standard_normal(), 1500 + 20 * rng.standard_normal()
        ts = TS + k * 10**8 + int(rng.integers(0, 10**6))
        features.update(TelemetryReading("M0", k, ts, temp, rpm, 40 + k % 7, 10 + k % 3))
        rows.append(((ts - TS) * 1e-9, temp, rpm, 40 + k % 7, 10 + k % 3))
        if k % 397 == 0 or k == 2599:
            window = np.array(rows[-50:])
            t, temps = window[:, 0], window[:, 1]
            stats = features.features() if len(rows) >= 10 else {}
            if not stats:
                continue
            assert stats["temp_mean"] == pytest.approx(temps.mean(), rel=1e-9)
            assert stats["temp_std"] == pytest.approx(temps.std(), rel=1e-6)
            assert stats["rpm_std"] == pytest.approx(window[:, 2].std(), rel=1e-6)
            assert stats["temp_slope"] == pytest.approx(np.polyfit(t, temps, 1)[0], rel=1e-6, abs=1e-9)
            assert stats["load_mean"] == pytest.approx(window[:, 3].mean())
            assert stats["power_mean"] == pytest.approx(window[:, 4].mean())


def test_band_energies_follow_parseval():
    t = np.arange(256) / 1000.0
    amplitude = 2.0
    tone = (amplitude * np.sin(2 * np.pi * 203.125 * t)).astype(np.float32)  # on a bin: no leakage to other bands
    window = make_vibration(256, x=tone, z=np.full(256, 9.81, dtype=np.float32))
    bands = vibration_band_energies(window)
    assert bands["vib_rms_150_250"] == pytest.approx(amplitude / math.sqrt(2), rel=0.02)
    assert bands["vib_rms_0_50"] < 1e-3  # gravity (DC on z) is removed
    assert bands["vib_rms_250_500"] < 1e-3
    squares = sum(v**2 for k, v in bands.items() if k != "vib_rms_total")
    assert squares == pytest.approx(bands["vib_rms_total"] ** 2)


def test_limit_severity_zones():
    limit = Limit("x", normal=1.0, warning=2.0, critical=4.0, meaning="x")
    assert [limit.severity(v) for v in (0.0, 1.0, 1.5, 2.0, 3.0, 4.0, 9.0)] == [0, 0, 0.25, 0.5, 0.75, 1.0, 1.0]


def test_health_model_states_and_reason():
    model = HealthModel()
    assert model.score() == (1.0, "ok", {})
    score, state, features = model.score({"temp_mean": 55.0, "temp_slope": 0.0}, {"vib_rms_0_50": 0.1})
    assert (score, state) == (1.0, "ok") and features["vib_rms_0_50"] == 0.1
    assert model.score({"temp_mean": 75.0}).state == "warning"
    critical = model.score({"temp_mean": 60.0}, {"vib_rms_150_250": 0.9})
    assert critical.state == "critical" and critical.health_score == 0.0
    assert "bearing" in model.reason(critical.features)
    assert model.reason({"temp_mean": 50.0}) == "all indicators normal"


def test_alert_tracker_reports_changes_only():
    tracker = AlertTracker()
    model = HealthModel()

    def record(state_features, seq):
        return model.record("M001", seq, TS + seq, model.score(state_features), ts_ns=TS)

    assert tracker.update(record({"temp_mean": 50.0}, 0)) is None  # unknown -> ok is not news
    assert tracker.update(record({"temp_mean": 51.0}, 1)) is None
    alert = tracker.update(record({"temp_mean": 75.0}, 2))
    assert (alert.previous_state, alert.state, alert.seq, alert.source_ts_ns) == ("ok", "warning", 0, TS + 2)
    assert "temperature" in alert.reason
    assert tracker.update(record({"temp_mean": 85.0}, 3)).seq == 1
    assert tracker.state_of("M001") == "critical"


def test_alert_tracker_confirm_damps_flapping():
    tracker = AlertTracker(confirm=2)
    model = HealthModel()
    states = [50.0, 75.0, 50.0, 75.0, 75.0]
    alerts = [tracker.update(model.record("M1", k, TS, model.score({"temp_mean": v}), ts_ns=TS))
              for k, v in enumerate(states)]
    assert [a.state if a else None for a in alerts] == [None, None, None, None, "warning"]


# ------------------------------------------------------------------------------------------ detection quality


def score_fleet(n_machines: int = 20, seed: int = 7, duration_s: float = 300.0, hz: int = 10):
    """Run the fleet and the health model like the pipeline does; count detections per second.

    Positive truth = fault fully developed (after its ramp); negative truth =
    no fault begun; the ramp itself is not scored. Predicted positive = state
    warning or critical. Also returns when each faulty machine was first flagged.
    """
    fleet = Fleet.with_faults(n_machines, seed, duration_s)
    model = HealthModel()
    features = {machine_id: TelemetryFeatures() for machine_id in fleet.machine_ids}
    counts = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    first_flag: dict[str, float] = {}
    for step in range(int(duration_s * hz)):
        t = step / hz
        for i, machine_id in enumerate(fleet.machine_ids):
            features[machine_id].update(fleet.telemetry(i, t, ts_ns=int(t * 1e9)))
        if step % hz:
            continue
        for i, machine_id in enumerate(fleet.machine_ids):
            bands = vibration_band_energies(fleet.vibration(i, t, ts_ns=int(t * 1e9)))
            flagged = model.score(features[machine_id].features(), bands).state != "ok"
            if flagged and fleet.schedule.is_faulty(machine_id, t):
                first_flag.setdefault(machine_id, t)
            if t < 10:  # warm-up of the rolling window
                continue
            if fleet.schedule.is_developed(machine_id, t):
                counts["tp" if flagged else "fn"] += 1
            elif not fleet.schedule.is_faulty(machine_id, t):
                counts["fp" if flagged else "tn"] += 1
    return fleet, counts, first_flag


def test_health_model_detects_injected_faults():
    fleet, counts, first_flag = score_fleet()
    precision = counts["tp"] / (counts["tp"] + counts["fp"])
    recall = counts["tp"] / (counts["tp"] + counts["fn"])
    print(f"precision={precision:.3f} recall={recall:.3f} counts={counts}")
    assert len(fleet.schedule) == 6
    assert precision >= 0.8
    assert recall >= 0.8
    # Predictive maintenance: every fault is flagged before the machine would fail.
    for fault in fleet.schedule.faults:
        assert fault.machine_id in first_flag
        assert first_flag[fault.machine_id] < fault.failure_s


def test_feature_names_cover_what_the_features_produce():
    from streamlab.domain.health import FEATURE_NAMES

    features = TelemetryFeatures(window=10, min_readings=10)
    for k in range(10):
        features.update(TelemetryReading("M0", k, TS + k * 10**8, 50.0, 1000.0, 50.0, 5.0))
    bands = vibration_band_energies(make_vibration(256))
    assert set(features.features()) | set(bands) == set(FEATURE_NAMES)
