"""Three processor instances, one SIGKILLed mid-run: the join holds and every reading is scored once.

The run and its counts are `streamlab.experiments.application.scaling` (chapter 01 shows the same counts
from its own run): 12 machines for ~30 s with `processors=3`; after 12 s the instance that has scored the
most is killed with SIGKILL and not restarted, so its machines move to the survivors (Kafka: after the
session timeout, shortened to 6 s here; RabbitMQ: at once). Then, from the Parquet files and the metrics:

* every reading acknowledged by the broker is in Parquet exactly once (per machine, seqs 0..n-1);
* no health record has telemetry features without vibration features (the broken join's signature);
* the killed instance had scored readings, and after the kill the survivors scored all its machines.
"""

from __future__ import annotations

import uuid

import pandas as pd
import pytest

from streamlab.experiments.application.scaling import kill_counts, kill_run
from streamlab.pipeline.declare import app_transport, declare_app
from streamlab.pipeline.topics import ALL_TOPICS

MACHINES = 12
DURATION_S = 30.0
KILL_AFTER_S = 12.0

pytestmark = pytest.mark.xdist_group("pipeline-run")

BROKERS = [pytest.param("kafka", marks=pytest.mark.kafka, id="kafka"),
           pytest.param("rabbitmq", marks=pytest.mark.rabbitmq, id="rabbitmq")]


@pytest.fixture(scope="module", params=BROKERS)
def scaled_run(request, tmp_path_factory):
    broker = request.param
    stack = request.getfixturevalue("kafka_stack" if broker == "kafka" else "rabbit_stack")
    env = stack.service_env(broker)
    transport = app_transport(broker, ep=stack.endpoints)
    namespace = f"scale-{uuid.uuid4().hex[:6]}"
    data_dir = tmp_path_factory.mktemp(f"scale-{broker}")
    declare_app(transport, namespace)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        result = kill_run(broker, data_dir, namespace, machines=MACHINES, duration_s=DURATION_S,
                          kill_after_s=KILL_AFTER_S, processors=3, seed=5, env=env)
    yield result, kill_counts(result)
    transport.delete_topics([f"{namespace}.{spec.name}" for spec in ALL_TOPICS])


def test_survivors_exit_cleanly(scaled_run):
    result, counts = scaled_run
    codes = {key: code for key, code in result.codes.items() if key != result.victim}
    assert all(code == 0 for code in codes.values()), codes
    assert counts["scored by the killed instance before the kill"] > 0, result.scored_before_kill


def test_every_reading_scored_exactly_once(scaled_run):
    result, counts = scaled_run
    assert counts["readings sent"] == counts["readings acknowledged"] > 0 and counts["send failures"] == 0
    assert counts["health records"] == counts["readings acknowledged"]
    assert counts["duplicates in Parquet"] == 0 and counts["readings missing in Parquet"] == 0
    health = pd.read_parquet(result.data_dir / "health")
    for machine, seqs in health.groupby("machine_id")["seq"]:
        assert sorted(seqs) == list(range(len(seqs))), f"{machine}: gap or duplicate"
    assert counts["machines"] == MACHINES
    print(f"\n{result.broker}: {counts}")


def test_every_health_record_joins_both_streams(scaled_run):
    _result, counts = scaled_run
    # the windows filled: the check below has records to check
    assert counts["records with telemetry features"] > 0.5 * counts["health records"]
    assert counts["records missing a stream"] == 0, counts
