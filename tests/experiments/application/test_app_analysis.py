"""Analysis of an application run, on small synthetic runs: metrics, latency stages, exactly-once, detection scores."""

from __future__ import annotations

import json
import math
import os
import threading
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streamlab.experiments.application.dead_letters import dead_letter_table, publish_malformed
from streamlab.experiments.application.delivery import exactly_once, expected_per_machine, order_violations
from streamlab.experiments.application.detections import alert_timeline, fleet_scores, score_detections
from streamlab.experiments.application.ground_truth import NS, ground_truth_from_dict, load_ground_truth
from streamlab.experiments.application.kafka_probes import KafkaLagProbe
from streamlab.experiments.application.latency import (
    STAGE_NAMES,
    latency_over_time,
    latency_percentile_curve,
    latency_stages,
    latency_summary,
)
from streamlab.experiments.application.metrics import final_counters, load_metrics, service_rates, steady_rate
from streamlab.experiments.application.sampler import RunSampler, resource_summary
from streamlab.experiments.application.sink_output import files_summary, load_health, sink_files

EPOCH = 1_800_000_000 * NS


# --------------------------------------------------------------------------- metrics


def _write_metrics(folder, service, lines):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{service}.jsonl", "w", encoding="utf-8") as handle:
        for line in lines:
            handle.write((line if isinstance(line, str) else json.dumps(line)) + "\n")


def test_metrics_are_tidy_numeric_and_on_the_run_clock(tmp_path):
    base = EPOCH / NS
    _write_metrics(tmp_path, "telemetry-generator", [
        {"service": "telemetry-generator", "ts": base + 2, "uptime_s": 2.0, "sent": 400, "sent_per_s": 200.0},
        {"service": "telemetry-generator", "ts": base + 4, "uptime_s": 4.0, "sent": 800, "sent_per_s": 200.0},
    ])
    _write_metrics(tmp_path, "health-parquet-sink", [
        {"service": "health-parquet-sink", "ts": base + 3, "written": 500, "written_per_s": 250.0,
         "transit_p50_ms": 12.5, "transit_histogram": "HISTFAAA..."},
        '{"service": "health-parquet-sink", "ts": 18',  # a killed service's half line
    ])
    metrics = load_metrics(tmp_path, EPOCH)
    assert list(metrics.columns) == ["service", "instance", "ts", "t_s", "metric", "value"]
    assert "transit_histogram" not in set(metrics["metric"])
    assert metrics["t_s"].min() == pytest.approx(2.0)
    counters = final_counters(metrics)
    assert counters.loc["telemetry-generator", "sent"] == 800
    assert counters.loc["health-parquet-sink", "written"] == 500
    assert "sent_per_s" not in counters.columns and "transit_p50_ms" not in counters.columns
    rates = service_rates(metrics)
    sent = rates[rates["series"] == "telemetry generator: sent"]
    assert list(sent["rate"]) == [200.0, 200.0] and list(sent["t_s"]) == pytest.approx([2.0, 4.0])
    steady = steady_rate(rates, 2.5, 10)
    assert steady["telemetry generator: sent"] == 200.0 and steady["Parquet sink: rows written"] == 250.0


def test_every_processor_instance_is_counted(tmp_path):
    """`--processors 3`: instances 2 and 3 write their own metrics files; counters and rates add all three,
    the one killed mid-run (a half line last) with what it last reported, and not after it died."""
    base = EPOCH / NS
    for instance, processed, lines in (("health-processor", 900, 3), ("health-processor-2", 700, 3),
                                       ("health-processor-3", 300, 1)):
        _write_metrics(tmp_path, instance, [
            {"service": instance, "ts": base + 2 * (k + 1), "processed": processed * (k + 1) // lines,
             "processed_per_s": 100.0} for k in range(lines)] + ['{"service": "health-processor-3", "ts'])
    metrics = load_metrics(tmp_path, EPOCH)
    assert set(metrics["service"]) == {"health-processor"}
    assert set(metrics["instance"]) == {"health-processor", "health-processor-2", "health-processor-3"}
    assert final_counters(metrics).loc["health-processor", "processed"] == 900 + 700 + 300
    rates = service_rates(metrics)
    out = rates[rates["series"] == "processor: health records out"].set_index("t_s")["rate"]
    assert out.to_dict() == {2.0: 300.0, 4.0: 200.0, 6.0: 200.0}   # instance 3 stopped reporting after 2 s


def test_metrics_without_epoch_start_at_the_first_line(tmp_path):
    _write_metrics(tmp_path, "a", [{"service": "a", "ts": 100.0, "sent": 1}, {"service": "a", "ts": 101.5, "sent": 2}])
    assert list(load_metrics(tmp_path)["t_s"]) == [0.0, 1.5]


# --------------------------------------------------------------------------- Parquet health records


def _health(machines=("M000", "M001"), n=5, start_ns=EPOCH, period_ns=100_000_000):
    rows = []
    for k in range(n):
        for machine in machines:
            sent = start_ns + k * period_ns
            rows.append({"machine_id": machine, "seq": k, "source_ts_ns": sent, "ts_ns": sent + 10_000_000,
                         "sink_received_ns": sent + 30_000_000, "sink_ts_ns": sent + 530_000_000,
                         "state": "ok", "health_score": 1.0})
    return pd.DataFrame(rows)


def test_load_health_keeps_columns_that_only_later_files_have(tmp_path):
    early = _health(n=2)
    late = _health(n=4).iloc[4:].assign(f_temp_mean=55.0)
    folder = tmp_path / "health" / "date=2027-01-15" / "hour=08"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pandas(early, preserve_index=False), folder / "part-1.parquet")
    pq.write_table(pa.Table.from_pandas(late, preserve_index=False), folder / "part-2.parquet")
    health = load_health(tmp_path / "health")
    assert len(health) == 8 and "f_temp_mean" in health.columns
    assert health["f_temp_mean"].isna().sum() == 4
    assert health["source_ts_ns"].is_monotonic_increasing
    assert set(health["file"]) == {"date=2027-01-15/hour=08/part-1.parquet", "date=2027-01-15/hour=08/part-2.parquet"}


def test_load_health_of_an_empty_folder(tmp_path):
    assert load_health(tmp_path).empty


def test_latency_stages_add_up_and_summarise():
    stages = latency_stages(_health(n=10), EPOCH)
    assert list(stages["stage"].cat.categories) == list(STAGE_NAMES)
    by_stage = stages.groupby("stage", observed=True)["latency_ms"].median()
    assert by_stage["generator → processor"] == pytest.approx(10.0)
    assert by_stage["processor → sink"] == pytest.approx(20.0)
    assert by_stage["sink buffer → durable write"] == pytest.approx(500.0)
    assert by_stage["end to end (send → durable)"] == pytest.approx(530.0)
    summary = latency_summary(stages).set_index("stage")
    assert list(summary.columns) == ["records", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"]
    assert summary.loc["end to end (send → durable)", "records"] == 20
    assert summary.loc["processor → sink", "max_ms"] == pytest.approx(20.0)
    assert stages["t_s"].max() == pytest.approx(0.9)


def test_latency_summary_after_warm_up_and_percentiles_are_exact():
    health = _health(machines=("M000",), n=100)
    health.loc[:9, "sink_ts_ns"] += 5 * NS  # a slow start: the first second waited 5 s more
    stages = latency_stages(health, EPOCH)
    everything = latency_summary(stages).set_index("stage")
    steady = latency_summary(stages, after_s=1.0).set_index("stage")
    e2e = "end to end (send → durable)"
    assert everything.loc[e2e, "max_ms"] == pytest.approx(5530.0)
    assert steady.loc[e2e, "max_ms"] == pytest.approx(530.0) and steady.loc[e2e, "records"] == 90
    curve = latency_percentile_curve(stages, percentiles=(50, 100))
    assert set(curve["stage"]) == set(STAGE_NAMES) and len(curve) == 8


def test_latency_over_time_bins_by_send_time():
    stages = latency_stages(_health(machines=("M000",), n=30), EPOCH)
    over = latency_over_time(stages, bin_s=1.0, stage_names=["end to end (send → durable)"])
    assert list(over.columns) == ["t_s", "stage", "statistic", "latency_ms"]
    assert sorted(over["t_s"].unique()) == [0.0, 1.0, 2.0]
    assert set(over["statistic"]) == {"p50", "p99"}
    assert over["latency_ms"].to_numpy() == pytest.approx(530.0)
    with pytest.raises(ValueError):
        latency_over_time(stages, bin_s=0)


# --------------------------------------------------------------------------- exactly once


def test_exactly_once_finds_gaps_duplicates_and_strays():
    records = pd.DataFrame({
        "machine_id": ["A"] * 4 + ["B"] * 4 + ["C"] * 1,
        "seq": [0, 1, 2, 3] + [0, 1, 1, 3] + [0],
    })  # fmt: skip
    table = exactly_once(records, {"A": 4, "B": 4, "D": 2}).set_index("machine_id")
    assert table.loc["A", "exactly_once"]
    assert (table.loc["B", ["duplicates", "missing", "unexpected"]] == [1, 1, 0]).all()
    assert not table.loc["B", "exactly_once"]
    assert table.loc["C", "unexpected"] == 1 and not table.loc["C", "exactly_once"]    # nobody expected C
    assert table.loc["D", "missing"] == 2 and table.loc["D", "rows"] == 0               # D's records all lost


def test_expected_per_machine_splits_ticks():
    assert expected_per_machine(600, ["M0", "M1", "M2"]) == {"M0": 200, "M1": 200, "M2": 200}
    with pytest.raises(ValueError, match="cut short"):
        expected_per_machine(601, ["M0", "M1", "M2"])


# --------------------------------------------------------------------------- detection scoring


def _truth():
    return ground_truth_from_dict({
        "epoch_ns": EPOCH,
        "machines": ["M000", "M001", "M002", "M003"],
        "faults": [
            {"machine_id": "M000", "mode": "overheating", "start_s": 10.0, "ramp_s": 5.0, "failure_s": 30.0},
            {"machine_id": "M001", "mode": "imbalance", "start_s": 12.0, "ramp_s": 4.0, "failure_s": 25.0},
        ],
    })  # fmt: skip


def _alert(machine, t_s, previous, state, seq=0):
    return {"machine_id": machine, "seq": seq, "source_ts_ns": EPOCH + int(t_s * NS),
            "previous_state": previous, "state": state, "reason": "", "health_score": 0.5}


def test_detections_are_scored_against_the_fault_schedule():
    alerts = pd.DataFrame([
        _alert("M000", 1.0, "unknown", "warning", 0),   # warm-up false alarm on a faulty machine
        _alert("M000", 1.5, "warning", "ok", 1),
        _alert("M000", 11.0, "ok", "warning", 2),       # detection 1 s after onset
        _alert("M000", 14.0, "warning", "critical", 3),
        _alert("M002", 5.0, "ok", "warning", 0),        # healthy machine: false alarm
        _alert("M002", 6.0, "warning", "ok", 1),
    ])  # M001 faulty but never detected; M003 healthy and quiet
    table = score_detections(alerts, _truth()).set_index("machine_id")
    assert list(table["outcome"]) == ["TP", "FN", "FP", "TN"]
    assert table.loc["M000", "delay_s"] == pytest.approx(1.0)
    assert table.loc["M000", "lead_s"] == pytest.approx(19.0)
    assert table.loc["M000", "detected_state"] == "warning"
    assert table.loc["M000", "false_alarms"] == 1 and table.loc["M002", "false_alarms"] == 1
    assert math.isnan(table.loc["M001", "detected_s"])
    scores = fleet_scores(table.reset_index())
    assert scores["precision"] == pytest.approx(0.5) and scores["recall"] == pytest.approx(0.5)
    assert scores["faulty"] == 2 and scores["healthy"] == 2 and scores["false_alarms"] == 2
    assert scores["median_lead_s"] == pytest.approx(19.0)


def test_a_machine_already_alerting_at_onset_counts_as_detected_at_onset():
    alerts = pd.DataFrame([_alert("M001", 11.0, "ok", "warning")])
    table = score_detections(alerts, _truth()).set_index("machine_id")
    assert table.loc["M001", "outcome"] == "TP"
    assert table.loc["M001", "detected_s"] == pytest.approx(12.0)
    assert table.loc["M001", "detected_state"] == "(already alerting)"
    assert table.loc["M001", "false_alarms"] == 1


def test_reading_level_precision_and_recall_per_machine():
    truth = _truth()
    t = np.arange(0, 30, 0.5)
    rows = []
    for machine in truth.machines:
        for k, t_s in enumerate(t):
            bad = (machine == "M000" and t_s >= 12) or (machine == "M002" and t_s in (3.0, 3.5))
            rows.append({"machine_id": machine, "seq": k, "source_ts_ns": EPOCH + int(t_s * NS),
                         "state": "warning" if bad else "ok"})
    health = pd.DataFrame(rows)
    table = score_detections(pd.DataFrame([_alert("M000", 12.0, "ok", "warning")]), truth, health,
                                end_s=30).set_index("machine_id")
    assert table.loc["M000", "precision"] == 1.0 and table.loc["M000", "recall"] == 1.0
    assert table.loc["M001", "recall"] == 0.0 and math.isnan(table.loc["M001", "precision"])
    assert table.loc["M002", "precision"] == 0.0 and math.isnan(table.loc["M002", "recall"])


def test_alert_timeline_marks_alerts_during_faults():
    alerts = pd.DataFrame([_alert("M000", 9.0, "ok", "warning"), _alert("M000", 11.0, "ok", "warning"),
                           _alert("M002", 11.0, "ok", "warning")])
    timeline = alert_timeline(alerts, _truth())
    assert list(timeline["during_fault"]) == [False, True, False]
    assert list(timeline["t_s"]) == pytest.approx([9.0, 11.0, 11.0])


def test_ground_truth_file(tmp_path):
    path = tmp_path / "ground_truth.json"
    path.write_text(json.dumps({"epoch_ns": 5, "machines": ["M0"], "faults": []}))
    truth = load_ground_truth(path)
    assert truth.epoch_ns == 5 and truth.faults.empty and "developed_s" in truth.faults.columns


# --------------------------------------------------------------------------- files


def test_sink_files_lists_sizes_and_rows(tmp_path):
    folder = tmp_path / "health" / "date=2027-01-15" / "hour=08"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"seq": [1, 2, 3]}), folder / "part-1.parquet")
    (folder / ".part-2.parquet.abcd.tmp").write_bytes(b"half")
    (tmp_path / "alerts").mkdir()
    (tmp_path / "alerts" / "alerts.csv").write_text("machine_id,seq\nM0,0\nM0,1\n")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "x.log").write_text("not a sink file")
    files = sink_files(tmp_path).set_index("path")
    assert files.loc["health/date=2027-01-15/hour=08/part-1.parquet", "rows"] == 3
    assert files.loc["alerts/alerts.csv", "rows"] == 2
    assert files.loc["health/date=2027-01-15/hour=08/.part-2.parquet.abcd.tmp", "kind"] == "temp"
    assert not any(p.startswith("logs/") for p in files.index)
    summary = files_summary(files.reset_index()).set_index(["folder", "kind"])
    assert summary.loc[("health", "parquet"), "rows"] == 3 and summary.loc[("alerts", "csv"), "files"] == 1


# --------------------------------------------------------------------------- dead letters and sampling


def test_malformed_payloads_are_published_round_robin_over_keys():
    from streamlab.codecs import DecodeError, get_codec
    from streamlab.domain import TelemetryReading
    from streamlab.transport.memory import MemoryPublisher

    publisher = MemoryPublisher()
    assert publish_malformed(publisher, "ns.telemetry", 7, ["M000", "M001"]) == 0
    assert len(publisher.sent) == 7 and {s[1] for s in publisher.sent} == {"M000", "M001"}
    for _, _, value, _ in publisher.sent:  # none of them decodes: each must end in the dead-letter topic
        with pytest.raises(DecodeError):
            get_codec("orjson").decode(value, TelemetryReading)


class _Letter:
    def __init__(self, offset, key, value, headers):
        self.offset, self.key, self.value, self.headers = offset, key, value, headers


def test_dead_letter_table_decodes_the_headers():
    table = dead_letter_table([_Letter(3, b"M000", b"\xff\xfe junk", {
        "error": b"orjson codec could not decode", "source_topic": b"ns.telemetry", "source_partition": b"2",
        "source_offset": b"41", "failed_by": b"health-processor"}), _Letter(4, None, b"", {})])
    assert table.loc[0, "source"] == "ns.telemetry[2]@41" and table.loc[0, "failed_by"] == "health-processor"
    assert table.loc[0, "payload"].startswith("\\xff\\xfe") and table.loc[1, "payload"] == "(empty)"


def test_run_sampler_measures_cpu_memory_and_lag_of_live_processes():
    calls = []

    def lag():
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("broker slow")
        return {"g1": 5, "g2": None}

    sampler = RunSampler({"me": os.getpid(), "gone": 2**22 + 12345}, lag, interval_s=0.05)
    with sampler:
        deadline = time.monotonic() + 1.0   # long enough for several samples on a loaded machine
        while time.monotonic() < deadline:  # burn some CPU so the percentage is > 0
            sum(i * i for i in range(10_000))
    lag_frame, resources = sampler.frames()
    mine = resources[resources["service"] == "me"]
    assert set(resources["service"]) == {"me", RunSampler.MACHINE} and len(mine) >= 2
    assert mine["cpu_pct"].max() > 1 and mine["rss_mib"].min() > 10
    machine = resources[resources["service"] == RunSampler.MACHINE]
    assert (machine["cpu_pct"] >= 0).all() and (machine["cpu_pct"] <= 100 * (os.cpu_count() or 1) + 1).all()
    assert set(lag_frame["group"]) == {"g1", "g2"} and sampler.errors == ["RuntimeError: broker slow"]
    assert lag_frame["t_s"].min() >= 0
    summary = resource_summary(resources)
    assert set(summary.index) == {"me", RunSampler.MACHINE} and summary.loc["me", "samples"] == len(mine)


def test_order_violations_count_seq_going_backwards():
    records = pd.DataFrame({"machine_id": ["A"] * 4 + ["B"] * 3,
                            "seq": [0, 1, 2, 3, 0, 1, 2],
                            "ts_ns": [10, 20, 30, 40, 10, 30, 20]})
    table = order_violations(records, "ts_ns").set_index("machine_id")
    assert table.loc["A", "inversions"] == 0 and table.loc["B", "inversions"] == 1
    ties = pd.DataFrame({"machine_id": ["A", "A"], "seq": [1, 0], "ts_ns": [5, 5]})
    assert order_violations(ties, "ts_ns").loc[0, "inversions"] == 0   # a tie is not a reordering


def test_run_sampler_closes_its_lag_probe_on_its_own_thread():
    class Probe:
        def __init__(self):
            self.threads: list[str] = []
            self.closed_on: list[str] = []

        def __call__(self):
            self.threads.append(threading.current_thread().name)
            return {"g": 0}

        def close(self):
            self.closed_on.append(threading.current_thread().name)

    probe = Probe()
    with RunSampler({}, probe, interval_s=0.01):
        time.sleep(0.2)
    assert set(probe.threads) == {"run-sampler"} and probe.closed_on == ["run-sampler"]


def test_kafka_lag_probe_belongs_to_the_thread_that_first_calls_it():
    """Rules 1 and 2 of streamlab.transport.kafka_admin: one owner thread, closed once by it, unusable after."""
    probe = KafkaLagProbe("127.0.0.1:1", {"g": ["t"]}, timeout_s=0.2)  # nobody listens: calls fail fast
    failures: list[BaseException] = []

    def in_owner_thread(call) -> None:
        thread = threading.Thread(target=lambda: _record_failure(call, failures))
        thread.start()
        thread.join(10)

    in_owner_thread(probe)   # the first call makes this thread the owner (and fails: no broker)
    assert len(failures) == 1 and not isinstance(failures[0], RuntimeError)
    with pytest.raises(RuntimeError, match="thread that first called it"):
        probe()
    with pytest.raises(RuntimeError, match="closed by the thread that used it"):
        probe.close()

    unused = KafkaLagProbe("127.0.0.1:1", {"g": ["t"]})
    unused.close()
    unused.close()           # once: the second close does nothing
    with pytest.raises(RuntimeError, match="closed"):
        unused()


def _record_failure(call, failures: list[BaseException]) -> None:
    try:
        call()
    except BaseException as exc:  # noqa: BLE001 - the test asserts on it
        failures.append(exc)


def test_the_scaling_shortfalls_follow_the_counts():
    from streamlab.experiments.application.verdicts import scaling_shortfalls

    good = {"duplicates in Parquet": 0, "readings missing in Parquet": 0, "records missing a stream": 0,
            "records with telemetry features": 900, "scored by the killed instance before the kill": 120}
    assert scaling_shortfalls(good) == []
    broken = {**good, "records missing a stream": 40, "duplicates in Parquet": 3}
    assert scaling_shortfalls(broken) == ["exactly once", "join"]
    idle = {**good, "scored by the killed instance before the kill": 0}
    assert scaling_shortfalls(idle) == ["a kill of a working instance"]
