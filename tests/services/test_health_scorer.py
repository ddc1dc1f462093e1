"""The processor's per-machine state, fed by the simulated fleet: no broker."""

from __future__ import annotations

from dataclasses import replace

from streamlab.domain import Fault, FaultMode, FaultSchedule, Fleet
from streamlab.domain.health import FEATURE_NAMES
from streamlab.services.health_processor import HealthScorer

T0_NS = 1_700_000_000_000_000_000


def _run(fleet: Fleet, scorer: HealthScorer, seconds: float, hz: float = 10.0):
    """Every machine's telemetry at ``hz`` and its vibration window once a simulated second, as the generators."""
    records, alerts = [], []
    for tick in range(int(seconds * hz)):
        for machine in fleet.machine_ids:
            t_s = tick / hz   # simulated time, also on the readings' clock: slopes are per simulated second
            if tick % int(hz) == 0:
                scorer.on_vibration(fleet.vibration(machine, t_s, ts_ns=T0_NS + int(t_s * 1e9)))
            record, alert = scorer.on_telemetry(fleet.telemetry(machine, t_s, ts_ns=T0_NS + int(t_s * 1e9)))
            records.append(record)
            if alert is not None:
                alerts.append(alert)
    return records, alerts


def test_one_record_per_reading_carrying_its_seq():
    fleet = Fleet(3, seed=1)
    records, _alerts = _run(fleet, HealthScorer(window=20), seconds=3)
    assert len(records) == 3 * 30
    for machine in fleet.machine_ids:
        assert [r.seq for r in records if r.machine_id == machine] == list(range(30))


def test_a_healthy_fleet_raises_no_alert():
    _records, alerts = _run(Fleet(5, seed=2), HealthScorer(), seconds=20)
    assert alerts == []


def test_a_failing_machine_is_alerted_once_per_state_change():
    fleet = Fleet(2, seed=3)
    sick = fleet.machine_ids[0]
    fleet = Fleet(2, seed=3, schedule=FaultSchedule([Fault(sick, FaultMode.OVERHEATING, 2.0, 5.0, 30.0)]))
    _records, alerts = _run(fleet, HealthScorer(), seconds=25)
    assert alerts, "the fault was never detected"
    assert {a.machine_id for a in alerts} == {sick}
    for before, after in zip(alerts, alerts[1:]):
        assert after.previous_state == before.state        # a chain of changes, never the same state twice
    assert [a.seq for a in alerts] == list(range(len(alerts)))


def _readings(fleet: Fleet, machine: str, seqs: range) -> list:
    """Readings numbered ``seqs`` (a range that skips some is a gap in the machine's stream)."""
    return [replace(fleet.telemetry(machine, seq / 10, ts_ns=T0_NS + seq * 100_000_000), seq=seq) for seq in seqs]


def test_no_verdict_before_the_machines_vibration_is_known():
    """A full telemetry window alone is half the join: the record is the one of a window still filling."""
    fleet = Fleet(1, seed=4)
    machine = fleet.machine_ids[0]
    scorer = HealthScorer(window=10)
    before = [scorer.on_telemetry(reading)[0] for reading in _readings(fleet, machine, range(30))]
    assert [(r.features, r.health_score, r.state) for r in before] == [({}, 1.0, "ok")] * 30
    scorer.on_vibration(fleet.vibration(machine, 3.0, ts_ns=T0_NS + 3_000_000_000))
    after, _alert = scorer.on_telemetry(_readings(fleet, machine, range(30, 31))[0])
    assert set(after.features) == set(FEATURE_NAMES)


def test_no_verdict_after_a_gap_until_the_next_vibration_window():
    """A gap in a machine's readings (its partition came back from another instance) restarts both streams."""
    fleet = Fleet(1, seed=4)
    machine = fleet.machine_ids[0]
    scorer = HealthScorer(window=10)
    scorer.on_vibration(fleet.vibration(machine, 0.0, ts_ns=T0_NS))
    joined = [scorer.on_telemetry(reading)[0] for reading in _readings(fleet, machine, range(20))]
    assert set(joined[-1].features) == set(FEATURE_NAMES)
    resumed = [scorer.on_telemetry(reading)[0] for reading in _readings(fleet, machine, range(40, 60))]
    assert all(record.features == {} for record in resumed)   # window full again after 10, bands still unknown
