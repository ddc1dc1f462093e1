"""The component diagram is generated from the code.

Every topic and service appears and the wiring matches the services. No network;
rendering needs Debian's `dot` and is skipped without it.
"""

from __future__ import annotations

import html
import importlib
import shutil

import pytest
from plugins.capabilities import IN_CI, importable

from streamlab.pipeline import diagram, wiring
from streamlab.services import health_processor, sink_loop
from streamlab.pipeline.topics import ALL_TOPICS, DEAD_LETTER
from streamlab.transport.spec import TopicSpec

graphviz = importable("graphviz")

APP_SERVICES = (*wiring.GENERATORS, wiring.PROCESSOR, *wiring.SINKS)

# Modules whose TopicSpec constants a service uses: its own, plus the shared loop it runs.
HELPERS = {"health_parquet_sink": [sink_loop], "alert_csv_sink": [sink_loop]}


def _topics_referenced(module) -> set[str]:
    return {value.name for value in vars(module).values() if isinstance(value, TopicSpec)}


def test_every_service_of_the_app_is_wired_in_data_flow_order():
    names = [svc.name for svc in diagram.services()]
    assert sorted(names) == sorted(APP_SERVICES)
    roles = [svc.role for svc in diagram.services()]
    assert roles == sorted(roles, key=["generator", "processor", "sink"].index)


@pytest.mark.parametrize("service", APP_SERVICES)
def test_wiring_matches_the_topics_the_service_module_uses(service):
    """Drift guard: a service that starts using another topic must be added to the diagram's wiring."""
    module = importlib.import_module(f"streamlab.services.{service}")
    used = _topics_referenced(module)
    for helper in HELPERS.get(service, []):
        used |= _topics_referenced(helper)
    wired = next(svc for svc in diagram.services() if svc.name == service)
    declared = set(wired.reads) | set(wired.writes) | ({DEAD_LETTER.name} if wired.dead_letters else set())
    assert used == declared, f"{service}: module uses {sorted(used)}, diagram says {sorted(declared)}"


def test_consumers_have_a_group_and_writers_only_none():
    for svc in diagram.services():
        assert (svc.group is not None) == bool(svc.reads), svc.name
    # the group names the services really join
    assert '"health-processor"' in open(health_processor.__file__, encoding="utf-8").read()


def test_consumer_groups_apply_the_namespace():
    groups = wiring.consumer_groups("ns1")
    assert groups["ns1.health-processor"] == ["ns1.telemetry", "ns1.vibration"]
    assert set(groups) == {f"ns1.{svc.group}" for svc in diagram.services() if svc.group}


def test_every_topic_is_read_or_written():
    for spec in ALL_TOPICS:
        assert diagram.producers_of(spec.name), f"nobody writes {spec.name}"
    assert [s.name for s in diagram.producers_of(DEAD_LETTER.name)][0] == wiring.PROCESSOR


def test_graph_source_names_every_topic_service_and_file():
    source = diagram.component_graph(namespace="ns1").source
    for spec in ALL_TOPICS:
        assert f"topic_{spec.name}" in source
        assert f"ns1.{spec.name}" in source
    for name in APP_SERVICES:
        assert f"svc_{name}" in source
    for svc in diagram.services():
        for path in svc.files:
            assert diagram._file_id(path) in source
    assert source.count("style=dashed") == len([s for s in diagram.services() if s.dead_letters])


def test_topic_settings_are_sized_to_the_cluster():
    one = diagram.component_graph(brokers=1).source
    three = diagram.component_graph(brokers=3).source
    assert "RF 1 · min ISR 1" in one and "RF 3 · min ISR 2" in three


def test_topic_table_reads_the_declared_settings():
    table = diagram.topic_table()
    assert list(table["topic"]) == [spec.name for spec in ALL_TOPICS]
    latest = table.set_index("topic").loc["machine-health-latest"]
    assert latest["cleanup.policy"] == "compact" and latest["retention"].startswith("compacted")
    assert table.set_index("topic").loc["telemetry", "retention"] == "1 d"
    assert (table["partitions"] == [spec.partitions for spec in ALL_TOPICS]).all()


def test_retention_text():
    assert diagram.retention_text(TopicSpec("t", "raw", config={"retention.ms": "7200000"})) == "2 h"
    assert diagram.retention_text(TopicSpec("t", "raw", config={"retention.ms": "-1"})) == "forever"
    assert diagram.retention_text(TopicSpec("t", "raw", config={"retention.ms": "1500"})) == "1500 ms"
    assert diagram.retention_text(TopicSpec("t", "raw")) == "broker default"


def test_dict_literal_shows_the_producer_config_from_the_code():
    from streamlab.transport.kafka_confluent import ConfluentPublisher

    text = diagram.dict_literal(ConfluentPublisher.__init__)
    assert text.startswith("config = {") and text.endswith("}")
    assert '"acks": "all"' in text and '"enable.idempotence": True' in text
    with pytest.raises(LookupError):
        diagram.dict_literal(ConfluentPublisher.__init__, name="nothing_here")


@pytest.mark.skipif(shutil.which("dot") is None and not IN_CI, reason="needs graphviz's dot (make setup)")
def test_renders_to_svg():
    svg = diagram.component_graph(brokers=3).pipe(format="svg").decode()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    text = html.unescape(svg)  # dot writes "-" as &#45;
    for spec in ALL_TOPICS:
        assert f">{spec.name}<" in text
