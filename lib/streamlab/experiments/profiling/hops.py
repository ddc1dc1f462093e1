"""Latency per hop of the running application, beside Kafka's own EndToEndLatency tool in the same run.

The Parquet rows carry every stage's clock (one machine, one clock):
``source_ts_ns`` (the generator made the reading), ``ts_ns`` (the processor
scored it), ``sink_received_ns`` (the sink polled it) and ``sink_ts_ns`` (it
was durably on disk). A hop is the difference of two neighbours. The reference
is ``org.apache.kafka.tools.EndToEndLatency`` on the same cluster right after:
one record in flight, acks=all, sent and polled back by the JVM client — what
one hop through Kafka costs at best here.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ...measure.latency import LatencyRecorder

HOPS = {
    "generator → processor": ("source_ts_ns", "ts_ns"),
    "processor → sink": ("ts_ns", "sink_received_ns"),
    "sink → on disk": ("sink_received_ns", "sink_ts_ns"),
}
# The settings that decide where a record waits: before = the application as it was (the processor flushing and
# committing after every poll batch and vectorising every run, processor and generators lingering 5 ms, the
# consumers' fetch wait at the clients' 500 ms, no warm-up of producers and Parquet writer before the first
# record, the generators sending a tick's readings of the whole fleet at once), after = the defaults now.
LATENCY_SETTINGS = {
    "before": {"STREAMLAB_PROCESSOR_COMMIT_INTERVAL": "0", "STREAMLAB_PROCESSOR_LINGER_MS": "5",
               "STREAMLAB_PROCESSOR_SCORING": "batch", "STREAMLAB_GENERATOR_LINGER_MS": "5",
               "STREAMLAB_KAFKA_FETCH_WAIT_MS": "500", "STREAMLAB_WARM_UP": "0",
               "STREAMLAB_GENERATOR_PACING": "burst"},
    "after": {},
}


def hop_latencies(health: pd.DataFrame, label: str = "") -> pd.DataFrame:
    """p50/p99/p99.9/max per hop (ms) from the Parquet rows, plus every row's hop times for plotting."""
    rows = []
    for hop, (start, end) in HOPS.items():
        recorder = LatencyRecorder()
        recorder.record_many_ns((health[end] - health[start]).clip(lower=0).astype(np.int64).tolist())
        summary = recorder.summary()
        if summary is None:
            continue
        for metric, value in summary.metrics().items():
            rows.append({"setting": label, "hop": hop, "metric": metric, "value": value, "records": summary.count})
    return pd.DataFrame(rows)


def hop_samples(health: pd.DataFrame, label: str = "") -> pd.DataFrame:
    """Each record's time per hop (ms), long form, for the distributions."""
    frames = [pd.DataFrame({"setting": label, "hop": hop, "ms": (health[end] - health[start]).clip(lower=0) / 1e6})
              for hop, (start, end) in HOPS.items()]
    return pd.concat(frames, ignore_index=True)


#: How soon after a file's write began an arrival counts as having waited for it (a write and fsync of a
#: second's rows takes tens of ms on the loaded machine; the window is wider so none is missed).
SHADOW_WINDOW_MS = 150.0


def flush_shadow(health: pd.DataFrame, window_ms: float = SHADOW_WINDOW_MS) -> pd.DataFrame:
    """How much of the processor → sink tail falls right after the sink began writing a file.

    The sink does not poll while it writes and fsyncs a Parquet file: a record
    that arrives then waits in the socket until the write is done. Every row of
    one file carries the same ``sink_ts_ns`` (when its write began), so each
    record's time since the last write began at its arrival says whether it
    arrived in that shadow (within ``window_ms``). Per group of records (all,
    the slowest 5 % and the slowest 1 % of the hop): their share in the shadow
    and their median hop. If the tail is the write's shadow, its share there is
    far above the share of all records.
    """
    starts = np.unique(health["sink_ts_ns"].to_numpy())
    received = health["sink_received_ns"].to_numpy()
    last = np.searchsorted(starts, received, side="right") - 1
    since_ms = np.where(last >= 0, (received - starts[last.clip(min=0)]) / 1e6, np.inf)
    hop_ms = ((health["sink_received_ns"] - health["ts_ns"]).clip(lower=0) / 1e6).to_numpy()
    rows = []
    for label, share in (("all records", 0.0), ("slowest 5 %", 0.95), ("slowest 1 %", 0.99)):
        picked = hop_ms >= np.quantile(hop_ms, share) if share else np.ones(len(hop_ms), dtype=bool)
        rows.append({"records": label, "count": int(picked.sum()),
                     "in write shadow %": 100.0 * float((since_ms[picked] < window_ms).mean()),
                     "median hop ms": float(np.median(hop_ms[picked]))})
    return pd.DataFrame(rows).assign(window_ms=window_ms, files=len(starts))


#: How long the start of a run lasts for `start_tail`: the clients' start-up waits measured were ~0.5 s each.
START_S = 2.0


def start_tail(health: pd.DataFrame, start_s: float = START_S) -> pd.DataFrame:
    """How much of each hop's slowest 1 % is the start of the run, and the hop's p99 without it.

    A record is "at the start" when its reading was made within ``start_s`` of
    the run's first. If the slowest 1 % are mostly there, the tail is start-up
    (connections, producer ids, first fetches, lazy imports), not the steady
    state; the p99 of the records after it says what the steady state costs.
    """
    source = health["source_ts_ns"]
    at_start = ((source - source.min()) / 1e9 < start_s).to_numpy()
    rows = []
    for hop, (begin, end) in HOPS.items():
        if hop == "sink → on disk":
            continue
        ms = ((health[end] - health[begin]).clip(lower=0) / 1e6).to_numpy()
        slowest = ms >= np.quantile(ms, 0.99)
        rows.append({"hop": hop, "start_s": start_s, "at start % of all": 100.0 * float(at_start.mean()),
                     "at start % of slowest 1 %": 100.0 * float(at_start[slowest].mean()),
                     "p99_ms": float(np.quantile(ms, 0.99)),
                     "p99_ms after the start": float(np.quantile(ms[~at_start], 0.99)) if (~at_start).any()
                     else float("nan")})
    return pd.DataFrame(rows)


def tail_in_write(shadow: pd.DataFrame) -> bool:
    """Whether `flush_shadow` puts the hop's tail in the sink's file write: at least half of the slowest 1 %
    arrived in a write's shadow, and at least twice the share of all records (the base rate)."""
    by_group = shadow.set_index("records")
    everyone = float(by_group.loc["all records", "in write shadow %"])
    tail = float(by_group.loc["slowest 1 %", "in write shadow %"])
    return tail >= 2 * everyone and tail >= 50


def nominal_health(duration_s: float, machines: int = 20, rate_hz: float = 10.0, client: str = "confluent",
                   env: dict[str, str] | None = None, alongside: Callable[[], pd.DataFrame] | None = None,
                   alongside_after_s: float = 3.0, archive_rotate_s: float = 1.0) -> pd.DataFrame:
    """Run the whole application at the nominal rate with ``env`` for its services; the health rows on disk.

    ``frame.attrs["files"]`` lists the Parquet files the sink wrote (bytes each).
    ``alongside`` (a measurement) is called ``alongside_after_s`` into the run,
    while the generators send; its frame is ``frame.attrs["alongside"]``, with
    ``under_load`` saying whether the generators were still sending when it
    ended (if not, part of it ran on an idle machine). ``archive_rotate_s`` is the
    Parquet sink's rotate interval: short by default, as the hops measured here
    end at the durable write (the sink's default rolls every few minutes).
    """
    from ...pipeline.runner import AppConfig, AppRun

    with tempfile.TemporaryDirectory(prefix="streamlab-hops-") as tmp:
        data_dir = Path(tmp)
        run = AppRun(AppConfig(client=client, machines=machines, rate_hz=rate_hz, duration_s=duration_s,
                               data_dir=data_dir, namespace=f"hops-{uuid.uuid4().hex[:6]}", extra_env=env or {},
                               archive_rotate_s=archive_rotate_s))
        run.start()
        beside = None
        try:
            if alongside is not None:
                time.sleep(alongside_after_s)
                beside = alongside()
                beside["under_load"] = run.generators_running()
            run.wait_for_generators()
        finally:
            run.stop()
        health = pd.read_parquet(data_dir / "health")
        if beside is not None:
            health.attrs["alongside"] = beside
        health.attrs["files"] = [path.stat().st_size for path in (data_dir / "health").rglob("*.parquet")]
        health.attrs["duration_s"] = duration_s
        run.transport.delete_topics([f"{run.config.namespace}.{t}" for t in
                                     ("telemetry", "vibration", "machine-health", "machine-health-latest",
                                      "alerts", "dead-letter")])
    return health


REFERENCE = "Kafka EndToEndLatency"
LOADED_REFERENCE = "Kafka EndToEndLatency under the app's load"


def kafka_reference(records: int = 1000, timeout_s: float = 300.0, label: str = REFERENCE) -> pd.DataFrame:
    """Kafka's EndToEndLatency tool on the running cluster (acks=all, replication 3): p50/p99/p99.9 in ms.

    Called directly rather than through the benchmark driver, whose 60-s probe
    run does not finish on a heavily shared machine; the JVM's warm-up is in
    the first of the ``records`` round trips, which the tool counts too.
    """
    from ...bench.drivers.base import bench_name, create_topic
    from ...bench.drivers.kafka_java_tools import KafkaEndToEndLatencyDriver
    from ...stack import endpoints
    from ...transport.kafka_admin import delete_topics

    bootstrap = endpoints().kafka_bootstrap
    topic = bench_name("e2e-reference")
    create_topic(bootstrap, topic, 1, 3)
    try:
        out = KafkaEndToEndLatencyDriver._run_tool(bootstrap, topic, records, "all", 100, timeout_s)
    finally:
        delete_topics(bootstrap, [topic])
    return pd.DataFrame([{"setting": label, "hop": "one hop (Java tool)", "metric": metric,
                          "value": out[key], "records": records}
                         for metric, key in (("p50_ms", "p50_ms"), ("p99_ms", "p99_ms"), ("p999_ms", "p999_ms"),
                                             ("mean_ms", "mean_ms"))])


@dataclass
class LatencyResult:
    """What `latency_experiment` measured, one frame per question, every frame with a ``setting`` column."""

    summary: pd.DataFrame   # percentiles per setting and hop, and Kafka's tool's
    samples: pd.DataFrame   # every record's time per hop, for the distributions
    shadow: pd.DataFrame    # the processor → sink tail against the sink's writes (`flush_shadow`)
    start: pd.DataFrame     # each hop's slowest 1 % against the start of the run (`start_tail`)


def latency_experiment(duration_s: float, machines: int = 20, client: str = "confluent",
                       settings: dict[str, dict[str, str]] | None = None) -> LatencyResult:
    """Each setting's nominal run, then Kafka's tool on the idle stack."""
    settings = settings or LATENCY_SETTINGS
    summaries, samples, shadows, starts = [], [], [], []
    for label, env in settings.items():
        health = nominal_health(duration_s, machines, client=client, env=env)
        summaries.append(hop_latencies(health, label))
        samples.append(hop_samples(health, label))
        shadows.append(flush_shadow(health).assign(setting=label))
        starts.append(start_tail(health).assign(setting=label))
    summaries.append(kafka_reference())
    return LatencyResult(*(pd.concat(frames, ignore_index=True) for frames in (summaries, samples, shadows, starts)))


def _ratios(summary: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Per setting and hop (the on-disk hop left out): p50 and p99 (ms) and as multiples of ``reference``."""
    ref = summary[summary["setting"] == reference].set_index("metric")["value"]
    # the tool prints whole milliseconds, floored: a 0 would make every ratio infinite
    ref_p50, ref_p99 = max(ref.get("p50_ms", np.nan), 1.0), max(ref.get("p99_ms", np.nan), 1.0)
    wide = summary[summary["setting"] != reference].pivot_table(
        index=["setting", "hop"], columns="metric", values="value", sort=False)
    wide = wide[wide.index.get_level_values("hop") != "sink → on disk"]
    return pd.DataFrame({"p50_ms": wide["p50_ms"], "p99_ms": wide["p99_ms"],
                         "p50_vs_kafka": wide["p50_ms"] / ref_p50, "p99_vs_kafka": wide["p99_ms"] / ref_p99})


def against_reference(summary: pd.DataFrame) -> pd.DataFrame:
    """Per setting and hop: p50 and p99 as multiples of Kafka's tool, and whether the targets (2×, 3×) hold."""
    out = _ratios(summary, REFERENCE)
    out["target_met"] = (out["p50_vs_kafka"] <= 2.0) & (out["p99_vs_kafka"] <= 3.0)
    return out.reset_index()


def loaded_reference(duration_s: float, machines: int = 20, client: str = "confluent",
                     records: int = 500) -> pd.DataFrame:
    """One more nominal run with the defaults, Kafka's tool run beside it: the app's hops and the tool's.

    The idle-stack reference says what a hop through Kafka costs at best; the
    application's hops run on two cores shared with three brokers and six
    Python services. Kafka's own client measured under that same load says how
    much of a hop's gap to the idle tool is the machine and how much is ours.
    The tool's rows carry ``under_load``: False if the run ended before it did.
    """
    health = nominal_health(duration_s, machines, client=client,
                            alongside=lambda: kafka_reference(records, label=LOADED_REFERENCE))
    return pd.concat([hop_latencies(health, "defaults, tool alongside").assign(under_load=True),
                      health.attrs["alongside"]], ignore_index=True)


def against_loaded(loaded: pd.DataFrame) -> pd.DataFrame:
    """Each hop's p50 and p99 beside Kafka's tool in the same loaded run, as multiples of it."""
    out = _ratios(loaded, LOADED_REFERENCE).rename(columns={"p50_vs_kafka": "p50_vs_tool_loaded",
                                                            "p99_vs_kafka": "p99_vs_tool_loaded"})
    tool = loaded[loaded["setting"] == LOADED_REFERENCE].set_index("metric")["value"]
    out.insert(2, "tool_p50_ms", tool.get("p50_ms", np.nan))
    out.insert(3, "tool_p99_ms", tool.get("p99_ms", np.nan))
    return out.reset_index().drop(columns="setting")


def tool_under_load(loaded: pd.DataFrame) -> bool:
    """Whether the loaded tool finished while the application was still sending (if not, part of it ran
    unloaded and it understates the load)."""
    return bool(loaded.loc[loaded["setting"] == LOADED_REFERENCE, "under_load"].all())


def rolling_experiment(intervals_s: list[float], duration_s: float, machines: int = 20,
                       flush_size: int = 1_000_000, client: str = "confluent") -> pd.DataFrame:
    """The sink's rolling policy, both sides of the trade: one nominal run per rotate interval.

    Per interval: Parquet files per minute and their mean size (what a reader
    of the dataset pays), and the time a record waits in the sink before it is
    durably on disk, p50/p99 (what freshness pays). ``flush_size`` is set high
    so that the time limit decides.
    """
    rows = []
    for interval in intervals_s:
        env = {"STREAMLAB_SINK_FLUSH_SIZE": str(flush_size)}
        health = nominal_health(duration_s, machines, client=client, env=env, archive_rotate_s=interval)
        files = health.attrs["files"]
        wait = LatencyRecorder()
        wait.record_many_ns((health["sink_ts_ns"] - health["sink_received_ns"]).clip(lower=0)
                            .astype(np.int64).tolist())
        summary = wait.summary()
        rows.append({"rotate_interval_s": interval, "flush_size": flush_size, "records": len(health),
                     "files": len(files), "files_per_min": 60.0 * len(files) / duration_s,
                     "mean_file_kib": np.mean(files) / 1024 if files else float("nan"),
                     "rows_per_file": len(health) / max(len(files), 1),
                     "wait_p50_ms": summary.p50_ms, "wait_p99_ms": summary.p99_ms})
    return pd.DataFrame(rows)
