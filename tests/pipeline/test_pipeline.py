"""The whole application on a real broker: one bounded run with failures injected, then its outputs checked.

The run (module fixture, once per broker: Kafka, then RabbitMQ): 6 machines at
10 Hz for ~24 s in a fresh namespace. While it runs we publish 1,000 malformed
messages into `telemetry`, SIGTERM the Parquet sink and restart it, and SIGKILL
the alert sink and restart it. The tests then read what reached the files and
the dead-letter stream. Everything goes through the transport interface, so the
same checks hold on both brokers; the one broker-specific step is that an audit
group subscribes to the dead letters before the run (RabbitMQ keeps messages
only for queues that exist when they are published).
"""

from __future__ import annotations

import json
import signal
import time
import uuid

import pandas as pd
import pytest

from streamlab.pipeline.declare import app_transport, declare_app
from streamlab.pipeline.runner import AppConfig, AppRun
from streamlab.pipeline.topics import ALL_TOPICS
from streamlab.polling import wait_until

MACHINES = 6
DURATION_S = 24.0
MALFORMED = 1000


# Every test of the module on one xdist worker: otherwise each worker that gets one of them repeats the
# module's runs (about a minute on Kafka, half a minute on RabbitMQ).
pytestmark = pytest.mark.xdist_group("pipeline-run")

BROKERS = [pytest.param("kafka", marks=pytest.mark.kafka, id="kafka"),
           pytest.param("rabbitmq", marks=pytest.mark.rabbitmq, id="rabbitmq")]


def _broker_env(broker: str, stack) -> dict[str, str]:
    """What the runner and its services need to find the test stack (not the developer's)."""
    return stack.service_env(broker)


@pytest.fixture(scope="module", params=BROKERS)
def pipeline_run(request, tmp_path_factory):
    broker = request.param
    stack = request.getfixturevalue("kafka_stack" if broker == "kafka" else "rabbit_stack")
    env = _broker_env(broker, stack)
    transport = app_transport(broker, ep=stack.endpoints)
    namespace = f"pipe-{uuid.uuid4().hex[:6]}"
    data_dir = tmp_path_factory.mktemp(f"app-{broker}")
    audit = f"{namespace}.audit"
    declare_app(transport, namespace)
    transport.consumer([f"{namespace}.dead-letter"], audit, "audit").close()   # subscribed, read after the run
    config = AppConfig(broker=broker, machines=MACHINES, duration_s=DURATION_S, data_dir=data_dir,
                       namespace=namespace, seed=3, extra_env=env)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        run = AppRun(config)
        run.start()
        try:
            _inject_failures(run, transport, namespace, data_dir)
            run.wait_for_generators()
            codes = run.stop()
        except BaseException:
            run.kill_all()
            raise
    yield {"broker": broker, "run": run, "codes": codes, "data_dir": data_dir, "namespace": namespace,
           "transport": transport, "audit_group": audit}
    transport.delete_topics([f"{namespace}.{spec.name}" for spec in ALL_TOPICS])


#: One malformed message per path through the processor's dead-letter boundary: (payload, headers, reason).
_VALID = {"machine_id": "M000", "seq": 10**6, "ts_ns": 1_790_000_000_000_000_000, "temperature_c": 55.0,
          "rpm": 1500.0, "load_pct": 60.0, "power_kw": 12.0}
MALFORMED_KINDS = [
    (b"", None, "JSONDecodeError"),                                               # not JSON at all
    (b"\xff\xfe garbage", None, "JSONDecodeError"),
    (b'{"machine_id": 7}', None, "fields do not match"),                           # JSON, wrong shape
    (b"[1,2,3]", None, "must be a mapping"),
    (json.dumps({**_VALID, "ts_ns": 2**63 + 1}).encode(), None, "ts_ns must be <="),  # well-formed, out of range
    (json.dumps({**_VALID, "temperature_c": 1e308}).encode(), None, "temperature_c must be within"),
    (json.dumps({**_VALID, "rpm": "fast"}).encode(), None, "rpm must be a number"),    # wrong type
    (json.dumps(_VALID).encode(), {"codec": b"yaml"}, "refusing codec 'yaml'"),     # bad headers
]


def _metric(data_dir, instance: str, name: str) -> int:
    """A counter from the last metrics line a service wrote (0 before its first)."""
    path = data_dir / "metrics" / f"{instance}.jsonl"
    lines = path.read_text().strip().splitlines() if path.exists() else []
    return int(json.loads(lines[-1]).get(name, 0)) if lines else 0


def _until(condition, what: str, timeout: float = 120.0) -> None:
    """Each step waits for what it needs, not for a number of seconds; a generous deadline that fails loudly."""
    wait_until(condition, timeout, what, interval=0.2, error=AssertionError)


def _inject_failures(run: AppRun, transport, namespace: str, data_dir) -> None:
    _until(lambda: _metric(data_dir, "health-processor", "processed") > 0, "the processor's first scored readings")
    bad = transport.publisher("malformed")
    for i in range(MALFORMED):
        payload, headers, _reason = MALFORMED_KINDS[i % len(MALFORMED_KINDS)]
        # the first claims to be a pickle: the processor must refuse to unpickle what a header asks for
        headers = {"codec": b"cloudpickle"} if i == 0 else headers
        bad.publish(f"{namespace}.telemetry", b"M000", payload, headers)
    assert bad.flush(30) == 0
    bad.close()
    _until(lambda: _metric(data_dir, "health-processor", "dead_lettered") >= MALFORMED,
           "the processor to dead-letter every malformed message")
    assert run.signal_service("health_parquet_sink", signal.SIGTERM) == 0
    sent_at_stop = _metric(data_dir, "telemetry-generator", "sent")
    _until(lambda: _metric(data_dir, "telemetry-generator", "sent") > sent_at_stop,
           "readings sent while the Parquet sink is down (its backlog)")
    written_before = len(list((data_dir / "health").rglob("*.parquet")))
    run.restart_service("health_parquet_sink")
    _until(lambda: len(list((data_dir / "health").rglob("*.parquet"))) > written_before,
           "a Parquet file written by the restarted sink")
    run.signal_service("alert_csv_sink", signal.SIGKILL)
    run.restart_service("alert_csv_sink")


def _generator_metrics(data_dir, service: str = "telemetry-generator") -> dict:
    lines = (data_dir / "metrics" / f"{service}.jsonl").read_text().strip().splitlines()
    return json.loads(lines[-1])


def test_every_service_exits_cleanly(pipeline_run):
    assert all(code == 0 for code in pipeline_run["codes"].values()), pipeline_run["codes"]
    print(f"\n{pipeline_run['broker']}: stages restarted to finish a backlog: {pipeline_run['run'].drain_restarts}")


def test_every_telemetry_reading_reaches_parquet_exactly_once(pipeline_run):
    health = pd.read_parquet(pipeline_run["data_dir"] / "health")
    metrics = _generator_metrics(pipeline_run["data_dir"])
    sent = metrics["acked"]                            # confirmed by the broker (the malformed ones are not counted)
    assert metrics["sent"] == sent and metrics.get("unacked") == 0 and not metrics.get("failed")
    assert sent > 0                                    # how many is the generator's pace: chapter 04 measures it
    assert len(health) == sent
    for machine, seqs in health.groupby("machine_id")["seq"]:
        assert sorted(seqs) == list(range(len(seqs))), f"{machine}: gap or duplicate"
    assert health["machine_id"].nunique() == MACHINES


def test_malformed_input_is_dead_lettered_with_reason(pipeline_run):
    topic = f"{pipeline_run['namespace']}.dead-letter"
    consumer = pipeline_run["transport"].consumer([topic], pipeline_run["audit_group"], "audit")
    letters, idle = [], time.monotonic()
    while time.monotonic() - idle < 6:
        records = consumer.poll(timeout=0.5)
        if records:
            letters += records
            idle = time.monotonic()
    consumer.commit()
    consumer.close()
    assert len(letters) == MALFORMED
    headers = [r.headers for r in letters]
    assert all(h["error"] and h["source_topic"] == f"{pipeline_run['namespace']}.telemetry".encode() for h in headers)
    assert {r.value[:4] for r in letters} >= {b"\xff\xfe g", b'{"ma'}   # the original bytes, untouched
    for payload, _headers, reason in MALFORMED_KINDS:                     # every path of the boundary was taken
        assert any(reason.encode() in r.headers["error"] for r in letters if r.value == payload), reason
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


def test_the_latest_stream_holds_every_machines_health_with_its_publish_time(pipeline_run):
    """machine-health-latest is the fresh view (the archive rolls in minutes): every machine is on it, and each
    record was published after the reading it scores was sent (freshness >= 0, one clock)."""
    from streamlab.experiments.application import freshness

    records = freshness.read_latest(pipeline_run["transport"], pipeline_run["broker"], pipeline_run["namespace"])
    fresh = freshness.rows_of(records, "orjson")
    assert set(fresh["machine_id"]) == {f"M{i:03d}" for i in range(MACHINES)}
    assert (fresh["freshness_ms"] >= 0).all(), fresh.sort_values("freshness_ms").head()
    stats = freshness.summary(fresh, int(fresh["source_ts_ns"].min()), after_s=0.0)
    print(f"\n{pipeline_run['broker']}: machine-health-latest, {stats['records']} records, freshness p50 "
          f"{stats['p50_ms']:.0f} ms, p99 {stats['p99_ms']:.0f} ms")
