"""The processor's per-machine state, fed by the simulated fleet: no broker."""

from __future__ import annotations

from streamlab.domain import Fault, FaultMode, FaultSchedule, Fleet
from streamlab.services.health_processor import HealthScorer


def _run(fleet: Fleet, scorer: HealthScorer, seconds: float, hz: float = 10.0):
    records, alerts = [], []
    for tick in range(int(seconds * hz)):
        for machine in fleet.machine_ids:
            t_s = tick / hz  # simulated time, also on the readings' clock: slopes are per simulated second
            record, alert = scorer.on_telemetry(
                fleet.telemetry(machine, t_s, ts_ns=1_700_000_000_000_000_000 + int(t_s * 1e9))
            )
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
