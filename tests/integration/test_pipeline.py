"""The whole application on a real Kafka: one bounded run with failures injected, then its outputs checked.

The run (module fixture): 6 machines at 10 Hz for ~24 s in a fresh namespace.
While it runs we publish 1,000 malformed messages into `telemetry`, SIGTERM the
Parquet sink and restart it, and SIGKILL the alert sink and restart it. The
tests then read what reached the files and the topics.
"""

from __future__ import annotations

import json
import signal
import time
import uuid

import pandas as pd
import pytest

from streamlab.app import AppConfig, AppRun
from streamlab.explorer import describe_topics

pytestmark = [pytest.mark.kafka]

MACHINES = 6
DURATION_S = 24.0
MALFORMED = 1000


@pytest.fixture(scope="module")
def pipeline_run(kafka_stack, tmp_path_factory, monkeypatch_module):
    from confluent_kafka import Producer

    bootstrap = kafka_stack.endpoints.kafka_bootstrap
    monkeypatch_module.setenv("KAFKA_BOOTSTRAP", bootstrap)
    namespace = f"pipe-{uuid.uuid4().hex[:6]}"
    data_dir = tmp_path_factory.mktemp("app")
    config = AppConfig(machines=MACHINES, duration_s=DURATION_S, data_dir=data_dir, namespace=namespace,
                       seed=3, extra_env={"KAFKA_BOOTSTRAP": bootstrap})
    run = AppRun(config)
    run.start()
    try:
        time.sleep(4)
        bad = Producer({"bootstrap.servers": bootstrap})
        for i in range(MALFORMED):
            payload = [b"", b"\xff\xfe garbage", b'{"machine_id": 7}', b"[1,2,3]", b'{"seq": "x"}'][i % 5]
            # the first claims to be a pickle: the processor must refuse to unpickle what a header asks for
            headers = [("codec", b"cloudpickle")] if i == 0 else None
            bad.produce(f"{namespace}.telemetry", payload + str(i).encode() * (i % 5 > 0), key=b"M000",
                        headers=headers)
        assert bad.flush(30) == 0
        time.sleep(2)
        assert run.signal_service("health_parquet_sink", signal.SIGTERM) == 0
        time.sleep(2)
        run.restart_service("health_parquet_sink")
        time.sleep(3)
        run.signal_service("alert_csv_sink", signal.SIGKILL)
        run.restart_service("alert_csv_sink")
        while run.generators_running():
            time.sleep(0.5)
        codes = run.stop()
    except BaseException:
        run.kill_all()
        raise
    return {"run": run, "codes": codes, "data_dir": data_dir, "namespace": namespace, "bootstrap": bootstrap}


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _topic_count(bootstrap: str, topic: str) -> int:
    frame = describe_topics(bootstrap)
    return int(frame[frame["topic"] == topic]["messages"].sum())


def test_every_service_exits_cleanly(pipeline_run):
    assert all(code == 0 for code in pipeline_run["codes"].values()), pipeline_run["codes"]


def test_every_telemetry_reading_reaches_parquet_exactly_once(pipeline_run):
    health = pd.read_parquet(pipeline_run["data_dir"] / "health")
    sent = _topic_count(pipeline_run["bootstrap"], f"{pipeline_run['namespace']}.telemetry") - MALFORMED
    assert sent >= MACHINES * 10 * (DURATION_S - 5)   # the generator really ran at ~10 Hz per machine
    assert len(health) == sent
    for machine, seqs in health.groupby("machine_id")["seq"]:
        assert sorted(seqs) == list(range(len(seqs))), f"{machine}: gap or duplicate"
    assert health["machine_id"].nunique() == MACHINES


def test_malformed_input_is_dead_lettered_with_reason(pipeline_run):
    from confluent_kafka import Consumer

    topic = f"{pipeline_run['namespace']}.dead-letter"
    consumer = Consumer({"bootstrap.servers": pipeline_run["bootstrap"], "group.id": f"v-{uuid.uuid4().hex[:6]}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    letters, idle = [], time.monotonic()
    while time.monotonic() - idle < 6:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            letters.append(msg)
            idle = time.monotonic()
    consumer.close()
    assert len(letters) == MALFORMED
    headers = [dict(m.headers()) for m in letters]
    assert all(h["error"] and h["source_topic"] == f"{pipeline_run['namespace']}.telemetry".encode() for h in headers)
    assert {m.value()[:4] for m in letters} >= {b"\xff\xfe g", b'{"ma'}   # the original bytes, untouched
    assert sum(b"refusing codec 'cloudpickle'" in h["error"] for h in headers) == 1


def test_alerts_are_written_once_and_match_injected_faults(pipeline_run):
    data_dir = pipeline_run["data_dir"]
    alerts = pd.read_csv(data_dir / "alerts" / "alerts.csv")
    assert not alerts.duplicated(["machine_id", "seq"]).any()
    truth = json.loads((data_dir / "ground_truth.json").read_text())
    faulty = {f["machine_id"] for f in truth["faults"]}
    flagged = set(alerts[alerts["state"] != "ok"]["machine_id"])
    true_pos = len(flagged & faulty)
    precision = true_pos / len(flagged) if flagged else 1.0
    recall = true_pos / len(faulty) if faulty else 1.0
    print(f"\nalerts: {len(alerts)} rows; faulty machines {sorted(faulty)}; flagged {sorted(flagged)}; "
          f"precision {precision:.2f} recall {recall:.2f}")
    assert faulty, "the schedule injected no fault: the test would prove nothing"
    assert recall >= 0.5 and precision >= 0.5
