"""Tables chapter 01 derives from the code and the repository's files: settings, fault modes, messages,
service options, the compose files and the Dockerfile."""

from __future__ import annotations

import importlib
import pkgutil

import pandas as pd
import pytest

from streamlab import services
from streamlab.domain import MESSAGE_TYPES
from streamlab.experiments.application import architecture, docker_setup, metrics, sampler
from streamlab.paths import HOME as REPO_ROOT
from streamlab.pipeline.declare import declare_app
from streamlab.services.generator_loop import build_fleet


def test_design_settings_follow_the_cluster_size_and_the_code():
    """Compared with what the app does, not with the constants design_settings reads: the topic the app
    declares, the settings a one-node broker accepts (RF and min ISR at most 1), the service modules that exist."""
    one, three = architecture.design_settings(1), architecture.design_settings(3)
    assert (one["rf"], one["min_isr"]) == (1, 1)
    assert (three["rf"], three["min_isr"]) == (3, 2)          # one broker may be down and writes go on
    declared = _Recorder()
    declare_app(declared, "ns")
    assert three["p_telemetry"] == declared.specs["ns.telemetry"].partitions
    assert three["p_alerts"] == declared.specs["ns.alerts"].partitions
    runnable = {info.name for info in pkgutil.iter_modules(services.__path__)
                if hasattr(importlib.import_module(f"streamlab.services.{info.name}"), "main")}
    assert three["n_services"] == len(runnable), runnable
    assert isinstance(three["ret_raw"], str) and three["window"] >= three["min_readings"]


class _Recorder:
    """A transport that records what the app declares on it."""

    def __init__(self) -> None:
        self.specs = {}

    def ensure_topics(self, specs):
        self.specs.update({spec.name: spec for spec in specs})
        return list(self.specs)

    def ensure_groups(self, group_topics):
        return []

    def ensure_held(self, topics):
        return []


def test_fault_tables():
    assert list(architecture.fault_modes_table().index) == ["bearing_wear", "overheating", "imbalance"]
    fleet = build_fleet(20, 7, 30.0)
    schedule = architecture.fault_schedule_table(fleet)
    assert len(schedule) == len(fleet.schedule.faults)
    assert (schedule["onset (s)"] <= schedule["failure (s)"]).all()


def test_message_fields_spell_out_nested_fields():
    fields = architecture.message_fields()
    assert set(fields["message"]) == {cls.__name__ for cls in MESSAGE_TYPES.values()}
    vibration = fields[fields["message"] == "VibrationWindow"]["field"]
    assert {"axes.x", "axes.y", "axes.z"} <= set(vibration) and "axes" not in set(vibration)


def test_service_options_name_every_service_or_all():
    options = architecture.service_options(REPO_ROOT)
    assert options.loc["--broker", "services"] == "all"
    assert options.loc["--broker", "environment"] == "STREAMLAB_BROKER"
    assert not options["default"].str.contains(str(REPO_ROOT), regex=False).any()
    assert "None" not in set(options["default"])  # no default is missing, shown as "–" by the book


def test_client_settings_are_the_transports_own_dicts():
    text = architecture.client_settings()
    assert text.startswith("# producer (ConfluentPublisher)") and '"acks": "all"' in text
    assert "# consumer (ConfluentConsumer)" in text and "enable.auto.commit" in text


def test_reported_topics_strip_the_namespace_and_word_the_retention():
    view = pd.DataFrame([{"topic": "ns.telemetry", "partitions": 6, "replication": 3, "min ISR size seen": 3,
                          "leaders on brokers": "1, 2, 3", "messages": 10, "min.insync.replicas": "2",
                          "retention.ms": "86400000", "cleanup.policy": "delete"}])
    table = architecture.reported_topics(view, "ns")
    assert list(table.index) == ["telemetry"]
    assert table.loc["telemetry", "retention"] == "1 d"
    assert architecture.namespaced_topics("ns")[0].startswith("ns.")


def test_compose_tables_read_the_repository_files():
    files = docker_setup.DockerFiles.under(REPO_ROOT)
    assert files.present()
    app = docker_setup.compose_services(files.app_compose).set_index("service")
    assert "streamlab.services.health_processor" in app.loc[docker_setup.PROCESSOR, "command"]
    assert "topics-init (completed)" in app.loc[docker_setup.PROCESSOR, "depends on"]
    settings = docker_setup.processor_settings(files.app_compose)
    assert settings["bootstrap"].startswith("kafka-1:") and settings["replicas"] >= 1
    kafka = docker_setup.compose_services(files.kafka_compose)
    assert kafka["ports"].str.contains("127.0.0.1:").any()
    instructions = docker_setup.dockerfile_instructions(files.dockerfile)
    lines = instructions.splitlines()
    assert lines[0].split()[0] in ("ARG", "FROM") and not any(line.lstrip().startswith("#") for line in lines)
    assert any(line.startswith("FROM ") for line in lines)


def test_compose_services_of_a_small_file(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("services:\n  a:\n    image: x\n    command: [run, it]\n    depends_on: [b]\n"
                    "    ports: ['127.0.0.1:1:2']\n  b:\n    image: y\n    deploy: {replicas: 2}\n", encoding="utf-8")
    table = docker_setup.compose_services(path).set_index("service")
    assert table.loc["a", "command"] == "run it" and table.loc["a", "depends on"] == "b"
    assert table.loc["b", "replicas"] == 2 and table.loc["a", "ports"] == "127.0.0.1:1:2"


def test_stage_flow_and_generator_table():
    rates = pd.DataFrame({"t_s": [1.0, 1.0, 1.0], "rate": [200.0, 199.0, 20.0],
                          "series": ["telemetry generator: sent", "processor: health records out",
                                     "CSV sink: alerts written"]})
    flow = metrics.stage_flow(rates)
    assert list(flow["stage"]) == ["generator (sent)", "processor (out)"]
    assert set(flow["stream"]) == {"telemetry → health records"}
    counters = pd.DataFrame({"sent": [600, 60], "acked": [600, 60]},
                            index=["telemetry-generator", "vibration-generator"])
    steady = pd.Series({"telemetry generator: sent": 200.0, "vibration generator: sent": 20.0})
    table = metrics.generator_table(counters, steady, machines=20)
    assert table.loc["telemetry generator", "per machine (Hz)"] == pytest.approx(10.0)
    assert table.loc["vibration generator", "acknowledged by Kafka"] == 60


def test_per_machine_rate_from_send_timestamps():
    health = pd.DataFrame({"machine_id": ["a"] * 11, "source_ts_ns": [i * 100_000_000 for i in range(11)]})
    assert metrics.per_machine_rate_hz(health)["a"] == pytest.approx(10.0)


def test_lag_and_usage_helpers():
    lag = pd.DataFrame({"t_s": [1.0, 6.0, 7.0], "group": ["ns.health-processor"] * 3, "lag": [900, 40, 60]})
    stats = sampler.steady_lag(lag, 5.0, 10.0)
    assert stats.loc["health-processor", "median"] == 50 and stats.loc["health-processor", "max"] == 60
    resources = pd.DataFrame({"t_s": [1.0, 2.0, 50.0], "service": [sampler.RunSampler.MACHINE] * 3,
                              "cpu_pct": [100.0, 140.0, 200.0], "rss_mib": [1.0, 1.0, 1.0]})
    assert sampler.machine_busy_pct(resources, 0, 30, cores=2) == pytest.approx(60.0)
    usage = pd.DataFrame({"mean CPU (% of a core)": [1.0, 2.0, 3.0]},
                         index=["health-processor", "kafka broker 1", sampler.RunSampler.MACHINE])
    services, brokers = sampler.split_usage(usage)
    assert list(services.index) == ["health-processor"] and list(brokers.index) == ["kafka broker 1"]


def test_detections_table_leaves_missing_values_missing():
    from streamlab.experiments.application import detections

    scores = pd.DataFrame([
        {"machine_id": "M1", "fault": "bearing", "start_s": 10.0, "detected_s": 14.0, "delay_s": 4.0, "lead_s": 20.0,
         "false_alarms": 0, "outcome": "TP", "precision": 1.0, "recall": 1.0},
        {"machine_id": "M2", "fault": None, "start_s": None, "detected_s": None, "delay_s": None, "lead_s": None,
         "false_alarms": 2, "outcome": "FP", "precision": 0.0, "recall": None},
        {"machine_id": "M3", "fault": None, "start_s": None, "detected_s": None, "delay_s": None, "lead_s": None,
         "false_alarms": 0, "outcome": "TN", "precision": None, "recall": None},
    ])
    table = detections.detections_table(scores)
    assert list(table.index) == ["M1", "M2"]
    assert pd.isna(table.loc["M2", "detected (s)"])  # missing, not a dash string: the book's display says why
