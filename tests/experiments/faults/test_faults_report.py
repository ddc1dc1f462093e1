"""Chapter 06's plan, table, verdicts and figure from hand-made results (no broker)."""

from __future__ import annotations

import pandas as pd

from streamlab.experiments.faults import ledger, report, scenarios
from streamlab.plots import faults as fp


def _result(name: str, broker: str, lost: int = 0, dup: int = 0, temp: int = 0) -> scenarios.ScenarioResult:
    scenario = scenarios.SCENARIOS[name]
    rows = []
    for sink in ("Parquet", "CSV"):
        count = ledger.StageCount(sent=100, on_broker=100, on_disk=100 - lost + dup, lost=lost, lost_by_broker=0,
                                  duplicated=dup, reordered=0, recovery_s=1.5)
        rows.append(
            {
                "scenario": scenario.label,
                "scenario_id": name,
                "broker": broker,
                "sink": sink,
                "faults": 1,
                **count.as_dict(),
                "topic_duplicated": dup,
                "fault_on_path": True,
                "temp_files_left": temp if sink == "Parquet" else 0,
                "promise": scenario.promise,
            }
        )
    timeline = pd.DataFrame({"sent_s": [0.0, 0.5], "rows": [10, 10], "max_delay_s": [0.2, 3.0],
                             "median_delay_s": [0.1, 2.0]})
    events = pd.DataFrame([{"t_s": 0.0, "event": "generators started", "detail": ""},
                           {"t_s": 0.4, "event": "health-parquet-sink failed",
                            "detail": "exit 1: OSError: [Errno 28] No space left on device"},
                           {"t_s": 0.3, "event": "health-processor killed", "detail": "SIGKILL at after_publish"}])
    return scenarios.ScenarioResult(scenario, broker, pd.DataFrame(rows), timeline, events)


def test_plan_runs_each_scenario_on_its_brokers_and_says_what_it_left_out():
    runs, skipped = scenarios.plan(["services-after-write", "parquet-disk-full@rabbitmq", "kafka-broker-kill",
                                    "rabbit-leader-kill"], kafka_nodes=3, rabbit_nodes=1,
                                   compare_default_session=["processor-after-publish"])
    got = [(r.scenario.name, r.broker, r.session_timeout_ms) for r in runs]
    assert got[:2] == [("services-after-write", "kafka", 6000), ("services-after-write", "rabbitmq", 6000)]
    assert ("kafka-broker-kill", "kafka", 6000) in got
    assert ("processor-after-publish-default-session", "kafka", None) in got
    assert not any(name == "parquet-disk-full" and broker == "kafka" for name, broker, _ in got)
    assert any("needs 3 RabbitMQ nodes, the stack has 1" in reason for reason in skipped)


def test_the_crash_env_names_each_point_once():
    env = scenarios.SCENARIOS["services-after-write"].crash_env("/tmp/x/crash")
    assert env["STREAMLAB_CRASH_AT"] == ("health-processor.after_publish:5,health-parquet-sink.after_write:2,"
                                         "alert-csv-sink.after_write:1")
    assert env["STREAMLAB_CRASH_STAMP"] == "/tmp/x/crash"


def test_table_and_verdicts_read_the_rows():
    clean = [_result("services-after-write", "kafka"), _result("services-after-write", "rabbitmq")]
    rows = report.tidy(clean)
    table = report.scenario_table(rows)
    assert table.index.names == ["scenario", "broker", "sink"] and len(table) == 4
    assert {"lost", "dup.", "recov. (s)", "faults"} <= set(table.columns)
    assert report.promise_verdict(rows).startswith("The promise held in every one of the 2 runs")
    broken = report.tidy([*clean, _result("parquet-after-write", "kafka", dup=3)])
    assert "broke" in report.promise_verdict(broken) and "Kafka" in report.promise_verdict(broken)
    assert report.totals(rows)["sent"] == 400


def test_disk_full_verdict_quotes_the_error_and_the_partial_files():
    results = [_result("parquet-disk-full", "rabbitmq", temp=1)]
    _lines, events = report.timelines(results)
    verdict = report.disk_full_verdict(report.tidy(results), events)
    assert "No space left on device" in verdict and "1 partial temp file" in verdict


def test_outage_figure_is_a_valid_faceted_chart():
    lines, events = report.timelines([_result("services-after-write", "kafka")])
    spec = fp.outage_timeline(lines, events, "t").to_dict()
    assert spec["facet"]["row"]["field"] == "scenario"
    assert report.not_measured("disk full", []) == ("Disk full was not measured in this build: not selected in this "
                                                    "profile (see book/profiles.yaml).")


def test_partition_verdict_reads_the_majoritys_view_and_the_row():
    result = _result("kafka-broker-partitioned", "kafka")
    label = result.scenario.label
    events = pd.DataFrame(
        [
            {"t_s": 5.0, "event": "broker 2 cut off from its peers", "detail": ""},
            {"t_s": 5.2, "event": "telemetry/0 as the majority sees it", "detail": "leader 2, ISR [1, 2, 3]"},
            {"t_s": 12.5, "event": "telemetry/0 as the majority sees it", "detail": "leader 1, ISR [1, 3]"},
            {"t_s": 13.0, "event": "alert-csv-sink failed", "detail": "exit 1: commit failed"},
        ]
    ).assign(scenario=label, broker="Kafka")
    verdict = report.partition_verdict(report.tidy([result]), events)
    assert "7.5 s after the cut the majority showed leader 1, ISR [1, 3]" in verdict
    assert "alert-csv-sink failed (exit 1: commit failed), each restarted" in verdict
    assert "0 of 100 readings lost and 0 duplicated" in verdict
    assert report.partition_verdict(report.tidy([_result("baseline", "kafka")]), events).startswith("The partition")


def test_exactly_once_verdict_contrasts_the_modes():
    from streamlab.experiments.faults import exactly_once

    rows = report.tidy(
        [_result("processor-after-publish", "kafka", dup=0), _result("processor-after-publish-eos", "kafka")]
    )
    rows.loc[rows["scenario_id"] == "processor-after-publish", "topic_duplicated"] = 4
    verdict = exactly_once.exactly_once_verdict(rows)
    assert "`processor-after-publish` (at least once): 8 duplicate(s) on the output topics, 0 on disk" in verdict
    assert "`processor-after-publish-eos` (in transactions): 0 duplicate(s) on the output topics" in verdict


def test_the_moves_table_counts_each_service_once_and_sums_both_streams():
    kafka = _result("kafka-coordinator-moves", "kafka", lost=2)
    kafka.services = scenarios.ServiceCounts(exits=1, commit_retries=7, commits_refused=2)
    kafka.rows["faults"] = 14
    table = report.moves_table([kafka])
    row = table.loc["Kafka"]
    assert (row["moves"], row["service exits"], row["commits retried"], row["commits refused"]) == (14, 1, 7, 2)
    assert (row["sent"], row["lost"], row["on disk"]) == (200, 4, 196)
    facts = report.move_facts([kafka])
    assert facts["kafka"] == {"moves": 14, "exits": 1, "retried": 7, "lost": 4, "duplicated": 0}
    assert facts["rabbitmq"] == dict.fromkeys(("moves", "exits", "retried", "lost", "duplicated"), "–")


def test_service_exits_and_commit_retries_are_read_from_the_run(tmp_path):
    rows = [{"event": "health-processor failed"}, {"event": "health-processor restarted"},
            {"event": "alert-csv-sink killed"}, {"event": "broker 2 stopped and started"}]
    assert scenarios._exits(rows) == 2
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "health_processor.log").write_text(
        "12:00:00.000 WARNING streamlab.transport.retry commit offsets failed (Broker: Coordinator load in "
        "progress); retrying in 0.10 s\nINFO scored\n")
    (logs / "alert_csv_sink.log").write_text(
        "WARNING streamlab.transport.retry commit refused by a rebalancing group (x): the offsets stay pending\n")
    assert scenarios._log_lines(tmp_path, scenarios.RETRIED) == 1
    assert scenarios._log_lines(tmp_path, scenarios.REFUSED) == 1
