"""Three processor instances, one SIGKILLed mid-run: the join holds and every reading is scored once.

The processor joins each machine's telemetry with its vibration windows and keeps per-machine state, so
its group is co-partitioned: Kafka's range assignor gives partition p of both inputs to one instance;
RabbitMQ hashes both inputs by machine into single-active-consumer shards. The run (per broker): 12
machines for ~30 s with `processors=3`; after 12 s the instance that has scored the most is killed with
SIGKILL (no flush, no commit, no goodbye to the group) and not restarted, so its machines move to the
survivors (Kafka: after the session timeout, shortened to 6 s here; RabbitMQ: at once, its channel is
gone). Then, from the Parquet files and the metrics:

* every reading acknowledged by the broker is in Parquet exactly once (per machine, seqs 0..n-1);
* no health record has telemetry features without vibration features: an instance holding a machine's
  telemetry but not its vibration (the broken join) would write such records for as long as the run
  lasts (a record without either, the first 50 readings of a machine's window, is fine);
* the killed instance had scored readings, and after the kill the survivors scored all its machines.
"""

from __future__ import annotations

import json
import signal
import time
import uuid

import pandas as pd
import pytest

from streamlab.domain.health import TELEMETRY_FEATURE_NAMES, VIBRATION_FEATURE_NAMES
from streamlab.pipeline.declare import app_transport, declare_app
from streamlab.pipeline.runner import AppConfig, AppRun
from streamlab.pipeline.topics import ALL_TOPICS

MACHINES = 12
DURATION_S = 30.0
KILL_AFTER_S = 12.0

pytestmark = pytest.mark.xdist_group("pipeline-run")

BROKERS = [pytest.param("kafka", marks=pytest.mark.kafka, id="kafka"),
           pytest.param("rabbitmq", marks=pytest.mark.rabbitmq, id="rabbitmq")]


def _env(broker: str, stack) -> dict[str, str]:
    session = {"STREAMLAB_KAFKA_SESSION_TIMEOUT_MS": "6000"} if broker == "kafka" else {}
    return {**stack.service_env(broker), **session}


def _last_metrics(data_dir, instance: str) -> dict:
    path = data_dir / "metrics" / f"{instance}.jsonl"
    lines = path.read_text().strip().splitlines() if path.exists() else []
    return json.loads(lines[-1]) if lines else {}


@pytest.fixture(scope="module", params=BROKERS)
def scaled_run(request, tmp_path_factory):
    broker = request.param
    stack = request.getfixturevalue("kafka_stack" if broker == "kafka" else "rabbit_stack")
    env = _env(broker, stack)
    transport = app_transport(broker, ep=stack.endpoints)
    namespace = f"scale-{uuid.uuid4().hex[:6]}"
    data_dir = tmp_path_factory.mktemp(f"scale-{broker}")
    declare_app(transport, namespace)
    config = AppConfig(broker=broker, machines=MACHINES, duration_s=DURATION_S, data_dir=data_dir,
                       namespace=namespace, seed=5, processors=3, extra_env=env)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        patch.setenv("STREAMLAB_METRICS_INTERVAL", "1")
        run = AppRun(config)
        run.start()
        try:
            time.sleep(KILL_AFTER_S)
            scored = {key: _last_metrics(data_dir, key.replace("_", "-")).get("processed", 0)
                      for key in run.processor_keys}
            victim = max(scored, key=scored.get)
            run.signal_service(victim, signal.SIGKILL)
            run.wait_for_generators()
            codes = run.stop()
        except BaseException:
            run.kill_all()
            raise
    yield {"broker": broker, "run": run, "codes": codes, "data_dir": data_dir, "victim": victim,
           "scored_before_kill": scored}
    transport.delete_topics([f"{namespace}.{spec.name}" for spec in ALL_TOPICS])


def test_survivors_exit_cleanly(scaled_run):
    codes = {key: code for key, code in scaled_run["codes"].items() if key != scaled_run["victim"]}
    assert all(code == 0 for code in codes.values()), codes
    assert scaled_run["scored_before_kill"][scaled_run["victim"]] > 0, scaled_run["scored_before_kill"]


def test_every_reading_scored_exactly_once(scaled_run):
    data_dir = scaled_run["data_dir"]
    health = pd.read_parquet(data_dir / "health")
    generator = _last_metrics(data_dir, "telemetry-generator")
    assert generator["sent"] == generator["acked"] and not generator.get("failed")
    assert len(health) == generator["acked"]
    for machine, seqs in health.groupby("machine_id")["seq"]:
        assert sorted(seqs) == list(range(len(seqs))), f"{machine}: gap or duplicate"
    assert health["machine_id"].nunique() == MACHINES
    sink = _last_metrics(data_dir, "health-parquet-sink")
    print(f"\n{scaled_run['broker']}: killed {scaled_run['victim']} after it scored "
          f"{scaled_run['scored_before_kill'][scaled_run['victim']]:.0f} readings; {len(health)} readings, "
          f"{sink.get('duplicates_skipped', 0):.0f} re-scored duplicates dropped by the sink")


def test_every_health_record_joins_both_streams(scaled_run):
    health = pd.read_parquet(scaled_run["data_dir"] / "health")
    telemetry = health[[f"f_{n}" for n in TELEMETRY_FEATURE_NAMES]].notna().any(axis=1)
    vibration = health[[f"f_{n}" for n in VIBRATION_FEATURE_NAMES]].notna().all(axis=1)
    assert telemetry.sum() > 0.5 * len(health)      # the windows filled: the check below has records to check
    broken = health[telemetry & ~vibration]
    per_machine = broken.groupby("machine_id").size().to_dict()
    assert broken.empty, f"{len(broken)} records with telemetry but no vibration features: {per_machine}"
