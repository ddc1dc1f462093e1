"""deploy/k8s validates offline; a broken manifest does not; the app's manifests are what the code generates."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from streamlab.experiments.patterns import k8s
from streamlab.pipeline.topics import ALL_TOPICS


@pytest.fixture(scope="module")
def docs():
    return k8s.load()


def test_every_manifest_validates(docs):
    kinds = {doc["kind"] for _f, doc in docs}
    assert {"Kafka", "KafkaNodePool", "KafkaTopic", "RabbitmqCluster", "ScaledObject", "Deployment",
            "StatefulSet", "PodDisruptionBudget"} <= kinds
    assert k8s.validate(docs) == []


def _broken(docs, kind, mutate):
    file, doc = next((f, copy.deepcopy(d)) for f, d in docs if d["kind"] == kind)
    mutate(doc)
    return [(file, doc)]


@pytest.mark.parametrize("kind, mutate, says", [
    ("Deployment", lambda d: d["spec"]["template"]["spec"]["containers"][0].update(args="streamlab.services.x"),
     "args"),
    ("Deployment", lambda d: d["spec"].update(replica=3), "replica"),                      # typo: unknown field
    ("KafkaTopic", lambda d: d["spec"].update(partitions="six"), "partitions"),
    ("KafkaNodePool", lambda d: d["spec"].update(roles=["leader"]), "roles"),
    ("RabbitmqCluster", lambda d: d["spec"].update(replicas="three"), "replicas"),
    ("RabbitmqCluster", lambda d: d["spec"].update(replica=3), "replica"),
    ("ScaledObject", lambda d: d["spec"].pop("scaleTargetRef"), "scaleTargetRef"),
])
def test_a_broken_manifest_fails(docs, kind, mutate, says):
    problems = k8s.validate(_broken(docs, kind, mutate))
    assert problems and any(says in p.error for p in problems), problems


def test_an_unknown_kind_fails():
    problems = k8s.validate([("x.yaml", {"apiVersion": "example.com/v1", "kind": "Gadget",
                                         "metadata": {"name": "g"}})])
    assert problems and "no schema" in problems[0].error


def test_the_app_manifests_are_generated_from_the_wiring():
    for broker, file in k8s.APP_FILES.items():
        assert (k8s.K8S_DIR / file).read_text() == k8s.render_app(broker), \
            f"run: python -m streamlab.experiments.patterns.k8s ({file} is stale)"


def test_kafka_topics_agree_with_the_code(docs):
    topics = {d["metadata"]["name"]: d["spec"] for _f, d in docs if d["kind"] == "KafkaTopic"}
    assert set(topics) == {t.name for t in ALL_TOPICS}
    for t in ALL_TOPICS:
        assert topics[t.name]["partitions"] == t.partitions
        assert topics[t.name]["config"] == t.config


def test_keda_replicas_follow_the_backlog_up_to_the_partitions():
    assert k8s.keda_replicas(0) == 1
    assert k8s.keda_replicas(1201, target=600) == 3
    assert k8s.keda_replicas(100_000, target=600, partitions=6) == 6
    assert k8s.keda_replicas(100_000, target=600) == k8s.MAX_PROCESSORS
    scale = pd.DataFrame({"backend": ["Kafka", "Kafka"], "consumers": [1, 2], "msgs_per_s": [100.0, 180.0]})
    table = k8s.lag_to_replicas(scale, partitions=6, backlogs=(600, 1200, 2400), target=600)
    assert table["replicas (KEDA)"].tolist() == [1, 2, 4]
    assert table["rate basis"].tolist() == ["measured", "measured", "extrapolated from 2"]
    assert table["drain time (s)"].iloc[1] == pytest.approx(1200 / 180)


def test_the_diagram_shows_what_runs_where(docs):
    from streamlab.plots import patterns as pp

    source = pp.k8s_graph(k8s.inventory(docs)).source
    for name in ("health-processor", "dual-role", "rabbitmq", "alert-csv-sink-rabbitmq"):
        assert name in source


def test_keda_never_asks_for_more_processors_than_partitions(docs):
    from streamlab.pipeline.topics import TELEMETRY, VIBRATION

    scaled = [doc for _file, doc in docs if doc.get("kind") == "ScaledObject"]
    assert scaled and all(doc["spec"]["maxReplicaCount"] <= min(TELEMETRY.partitions, VIBRATION.partitions)
                          for doc in scaled)
