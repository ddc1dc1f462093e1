"""The application of chapter 01, unchanged, on Kafka and on RabbitMQ: one run each, the same figures.

`run_app` starts the pipeline with `streamlab.pipeline.runner.AppRun` on the
named back end (the services take `--broker`; nothing else changes), slips a
few undecodable messages into `telemetry`, stops it cleanly, reads the
topology the back end declared back from the broker, and deletes it.
`summarize` turns the run's files into the figures chapter 01 shows, with the
same functions (`experiments.application`), as one tidy frame per run.

MQTT is not run here: its back end cannot tell the runner who is subscribed or
how much is queued (`group_members`/`group_backlog` are unknown over MQTT), and
the runner needs both to start generators only once every consumer listens and
to stop each stage only once it has drained. ZeroMQ has no broker to hold a
backlog at all. Both appear in the pattern experiments instead.
"""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ...transport.rabbitmq.management import mgmt_api
from ...transport.spec import Endpoints
from ..application import dead_letters, delivery, detections, ground_truth, kafka_probes, sink_output
from ..application import latency as stage_latency
from ..application import metrics as run_metrics

BACKEND_LABEL = {"kafka": "Kafka", "rabbitmq": "RabbitMQ"}


@dataclass
class AppResult:
    broker: str
    namespace: str
    data_dir: Path
    exit_codes: dict[str, int | None]
    malformed: int
    malformed_unacked: int
    topology: dict[str, pd.DataFrame] = field(default_factory=dict)
    wall_s: float = 0.0


def run_app(broker: str, brokers: Endpoints, data_dir: Path, duration_s: float = 15.0, machines: int = 20,
            rate_hz: float = 10.0, malformed: int = 10, seed: int = 7, keep: bool = False) -> AppResult:
    """One bounded run of the whole application on `broker` (kafka | rabbitmq); topology read, then deleted."""
    from ...pipeline import wiring
    from ...pipeline.runner import AppConfig, AppRun
    from ...pipeline.topics import ALL_TOPICS

    namespace = f"ch03-{broker[:6]}-{uuid.uuid4().hex[:6]}"
    shutil.rmtree(data_dir, ignore_errors=True)
    config = AppConfig(broker=broker, machines=machines, rate_hz=rate_hz, duration_s=duration_s, seed=seed,
                       data_dir=data_dir, namespace=namespace, drain_timeout_s=60.0,
                       archive_rotate_s=1.0)   # the side-by-side compares send → durable on disk: files at once
    started = time.monotonic()
    run = AppRun(config)
    try:
        run.start()
        time.sleep(duration_s / 3)
        intruder = run.transport.publisher("ch03-malformed")
        unacked = dead_letters.publish_malformed(intruder, f"{namespace}.telemetry", malformed,
                                       [f"M{i:03d}" for i in range(machines)])
        intruder.close()
        run.wait_for_generators()
        codes = run.stop()
    except BaseException:
        run.kill_all()
        raise
    topics = [f"{namespace}.{spec.name}" for spec in ALL_TOPICS]
    try:
        if broker == "kafka":
            topology = kafka_topology(brokers.kafka_bootstrap, namespace)
        else:
            topology = rabbit_topology(brokers, namespace)
    finally:
        if not keep:
            if broker == "kafka":
                kafka_probes.delete_namespace(brokers.kafka_bootstrap, topics, list(wiring.consumer_groups(namespace)))
            else:
                run.transport.delete_topics(topics)
                run.transport.close()
    return AppResult(broker, namespace, data_dir, codes, malformed, unacked, topology,
                     time.monotonic() - started)


# --------------------------------------------------------------------------- figures of a run


def summarize(result: AppResult, warmup_s: float = 3.0) -> pd.DataFrame:
    """Chapter 01's figures of one run, tidy: ``backend``, ``group``, ``metric``, ``value``."""
    data_dir = result.data_dir
    truth = ground_truth.load_ground_truth(data_dir / "ground_truth.json")
    metrics = run_metrics.load_metrics(data_dir / "metrics", truth.epoch_ns)
    counters = run_metrics.final_counters(metrics)
    health = sink_output.load_health(data_dir / "health")
    alerts = pd.read_csv(data_dir / "alerts" / "alerts.csv")
    duration = float(metrics[metrics["service"] == "telemetry-generator"]["t_s"].max())
    rates = run_metrics.steady_rate(run_metrics.service_rates(metrics), warmup_s, max(warmup_s + 1, duration - 1))
    sent = int(counters.loc["telemetry-generator", "sent"])
    once = delivery.exactly_once(health, delivery.expected_per_machine(sent, truth.machines))
    order = delivery.order_violations(health, "ts_ns")
    latency = stage_latency.latency_summary(
        stage_latency.latency_stages(health, truth.epoch_ns), after_s=warmup_s
    ).set_index("stage")
    scores = detections.fleet_scores(detections.score_detections(alerts, truth, health, end_s=duration))
    backend = BACKEND_LABEL[result.broker]

    def get(service: str, counter: str) -> float:
        return float(counters.loc[service].get(counter, 0)) if service in counters.index else 0.0

    rows: list[tuple[str, str, float]] = [
        ("rates", "telemetry sent", sent),
        ("rates", "telemetry acknowledged", get("telemetry-generator", "acked")),
        ("rates", "vibration sent", get("vibration-generator", "sent")),
        ("rates", "telemetry msg/s (steady)", float(rates.get("telemetry generator: sent", float("nan")))),
        ("rates", "health records msg/s (steady)", float(rates.get("processor: health records out", float("nan")))),
        ("exactly once", "machines with every seq once", int(once["exactly_once"].sum())),
        ("exactly once", "machines", len(once)),
        ("exactly once", "rows in Parquet", len(health)),
        ("exactly once", "duplicate rows", int(once["duplicates"].sum())),
        ("exactly once", "missing seqs", int(once["missing"].sum())),
        ("exactly once", "redeliveries skipped by the sink", get("health-parquet-sink", "duplicates_skipped")),
        ("exactly once", "per-machine order inversions", int(order["inversions"].sum())),
        ("dead letters", "malformed injected", result.malformed),
        ("dead letters", "dead-lettered by the processor", get("health-processor", "dead_lettered")),
        ("detections", "faulty machines found (TP)", scores["TP"]),
        ("detections", "faulty machines", scores["faulty"]),
        ("detections", "healthy machines alerted (FP)", scores["FP"]),
        ("detections", "median delay (s)", scores["median_delay_s"]),
    ]
    for stage in stage_latency.STAGE_NAMES:
        rows.append(("latency", f"{stage} p50 (ms)", float(latency.loc[stage, "p50_ms"])))
        rows.append(("latency", f"{stage} p99 (ms)", float(latency.loc[stage, "p99_ms"])))
    rows.append(("run", "wall time incl. start and drain (s)", result.wall_s))
    rows.append(("run", "services exiting 0", sum(1 for c in result.exit_codes.values() if c == 0)))
    rows.append(("run", "services", len(result.exit_codes)))
    return pd.DataFrame([{"backend": backend, "group": g, "metric": m, "value": float(v)} for g, m, v in rows])


def side_by_side(*summaries: pd.DataFrame) -> pd.DataFrame:
    """One row per figure, one column per back end, in the order the figures were listed."""
    table = pd.concat(summaries, ignore_index=True)
    order = list(dict.fromkeys(zip(table["group"], table["metric"])))
    wide = table.pivot_table(index=["group", "metric"], columns="backend", values="value", sort=False)
    return wide.reindex(pd.MultiIndex.from_tuples(order, names=["group", "metric"]))


def readable(table: pd.DataFrame) -> pd.DataFrame:
    """The side-by-side table for reading: counts as whole numbers (2020, not 2020.0), the rest to 0.1."""
    out = table.astype(object)
    for index, values in table.iterrows():
        known = values.dropna()
        whole = len(known) and (known == known.round()).all()
        out.loc[index] = [("" if pd.isna(v) else int(round(v)) if whole else round(float(v), 1)) for v in values]
    return out


# --------------------------------------------------------------------------- topology read back


def kafka_topology(bootstrap: str, namespace: str) -> dict[str, pd.DataFrame]:
    """The run's topics as the cluster reports them, and which group reads which topic (from the wiring)."""
    from ...pipeline import wiring
    from ...pipeline.topics import ALL_TOPICS

    names = [f"{namespace}.{spec.name}" for spec in ALL_TOPICS]
    topics = kafka_probes.cluster_topics(bootstrap, names)
    topics["topic"] = topics["topic"].str.removeprefix(f"{namespace}.")
    reads = pd.DataFrame([{"group": group, "topic": topic} for group, ts in wiring.GROUP_TOPICS.items()
                          for topic in ts])
    return {"topics": topics, "reads": reads}


def _mgmt(brokers: Endpoints, path: str) -> Any:
    return mgmt_api(brokers.rabbit_mgmt_url, brokers.amqp_url, path, timeout=10)


def rabbit_topology(brokers: Endpoints, namespace: str) -> dict[str, pd.DataFrame]:
    """Exchanges, queues (with their arguments) and bindings of the run's namespace, from the management API."""
    prefix = f"{namespace}."
    strip = lambda name: name.replace(prefix, "")    # noqa: E731 - a label, not logic
    exchanges = pd.DataFrame([{"exchange": strip(e["name"]), "type": e["type"], "durable": e["durable"]}
                              for e in _mgmt(brokers, "/api/exchanges/%2F") if e["name"].startswith(prefix)])
    queues = pd.DataFrame([{
        "queue": strip(q["name"]), "type": q.get("type", q["arguments"].get("x-queue-type", "classic")),
        "dead-letter exchange": strip(q["arguments"].get("x-dead-letter-exchange", "")),
        "delivery limit": q["arguments"].get("x-delivery-limit", ""),
        "message TTL (ms)": q["arguments"].get("x-message-ttl", ""),
        "replicas": q["arguments"].get("x-quorum-initial-group-size", ""),
        "single active consumer": bool(q["arguments"].get("x-single-active-consumer", False)),
    } for q in _mgmt(brokers, "/api/queues/%2F") if q["name"].startswith(prefix)])
    # exchange → exchange too: both inputs reach the processor's consistent-hash exchange that way
    bindings = pd.DataFrame([{"exchange": strip(b["source"]), "destination": strip(b["destination"]),
                              "destination type": b["destination_type"], "routing key": b["routing_key"]}
                             for b in _mgmt(brokers, "/api/bindings/%2F") if b["source"].startswith(prefix)])
    return {"exchanges": exchanges, "queues": queues, "bindings": bindings}


def kept_promises(table: pd.DataFrame) -> list[str]:
    """The back ends whose run kept chapter 01's promises (every reading exactly once on disk, every service
    exiting 0), read from `side_by_side`; the chapter names them."""
    figures = table.droplevel("group")
    return [backend for backend in figures.columns
            if figures.loc["machines with every seq once", backend] == figures.loc["machines", backend]
            and figures.loc["duplicate rows", backend] == 0 and figures.loc["missing seqs", backend] == 0
            and figures.loc["services exiting 0", backend] == figures.loc["services", backend]]


def detections_agree(table: pd.DataFrame) -> bool:
    """Whether every back end found the same faulty machines and alerted the same healthy ones (counts)."""
    detections = table.droplevel("group").loc[["faulty machines found (TP)", "healthy machines alerted (FP)"]]
    return bool((detections.nunique(axis=1) == 1).all())
