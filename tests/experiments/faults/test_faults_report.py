"""Chapter 06's plan, table, facts and figure from hand-made results (no broker)."""

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
    assert report.promise_facts(rows) == {"runs": 2, "broken": 0, "broken_runs": "none"}
    broken = report.tidy([*clean, _result("parquet-after-write", "kafka", dup=3)])
    assert report.promise_facts(broken) == {"runs": 3, "broken": 1, "broken_runs": "parquet-after-write (Kafka)"}
    assert report.totals(rows)["sent"] == 400


def test_disk_full_facts_give_the_error_and_the_partial_files_per_broker():
    results = [_result("parquet-disk-full", "rabbitmq", temp=1)]
    _lines, events = report.timelines(results)
    facts = report.disk_full_facts(report.tidy(results), events)
    assert facts["rabbitmq"] == {"error": "[Errno 28] No space left on device", "lost": 0,
                                 "duplicated": 0, "reordered": 0, "temp_files": 1}
    assert set(facts["kafka"].values()) == {"–"}                     # not run there: every key still present
    logged = ("exit 3: 03:03:14.211 ERROR streamlab.health-parquet-sink health-parquet-sink: [Errno 28] No space "
              "left on device; free space on the data disk: the service resumes from its last commit")
    assert report.os_error(logged) == "[Errno 28] No space left on device"
    assert report.os_error("exit 1: killed") == "exit 1: killed"


def test_outage_figure_is_a_valid_faceted_chart():
    lines, events = report.timelines([_result("services-after-write", "kafka")])
    spec = fp.outage_timeline(lines, events, "t").to_dict()
    assert spec["facet"]["row"]["field"] == "scenario"
    assert report.listed([]) == "none" and report.listed(["a: why", "b: why"]) == "a: why; b: why"


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
    facts = report.partition_facts(report.tidy([result]), events)
    assert facts["node"] == "2" and facts["moved_after_s"] == 7.5 and facts["majority_view"] == "leader 1, ISR [1, 3]"
    assert facts["failed"] == "alert-csv-sink failed (exit 1: commit failed)"
    assert (facts["sent"], facts["lost"], facts["duplicated"], facts["recovery_s"]) == (100, 0, 0, 1.5)
    missing = report.partition_facts(report.tidy([_result("baseline", "kafka")]), events)
    assert set(missing) == set(report.PARTITION_FACTS) and set(missing.values()) == {"–"}


def test_broker_facts_sum_the_broker_fault_runs_and_name_those_that_lost():
    rows = report.tidy([_result("kafka-broker-kill", "kafka"), _result("kafka-disk-lost-rf1", "kafka", lost=5),
                        _result("services-after-write", "kafka", lost=7)])
    facts = report.broker_facts(rows)
    assert (facts["runs"], facts["lost"], facts["losing_runs"]) == (2, 5, "kafka-disk-lost-rf1 (Kafka)")
    assert facts["worst_recovery_s"] == 1.5
    assert report.broker_facts(report.tidy([_result("baseline", "kafka")]))["losing_runs"] == "none"


def test_exactly_once_facts_contrast_the_modes():
    from streamlab.experiments.faults import exactly_once

    rows = report.tidy(
        [_result("processor-after-publish", "kafka", dup=0), _result("processor-after-publish-eos", "kafka")]
    )
    rows.loc[rows["scenario_id"] == "processor-after-publish", "topic_duplicated"] = 4
    facts = exactly_once.duplicate_facts(rows)
    assert facts["at-least-once"] == {"topic_duplicated": 8, "duplicated": 0, "lost": 0}
    assert facts["exactly-once"] == {"topic_duplicated": 0, "duplicated": 0, "lost": 0}
    assert set(exactly_once.duplicate_facts(rows.iloc[:0])["exactly-once"].values()) == {"–"}


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
