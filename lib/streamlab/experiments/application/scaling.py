"""Several processor instances, the busiest SIGKILLed mid-run: does the join hold, is every reading scored once?

The processor joins each machine's telemetry with its vibration windows and keeps per-machine state, so
its group is co-partitioned: Kafka's range assignor gives partition p of both inputs to one instance;
RabbitMQ hashes both inputs by machine into single-active-consumer shards. `kill_run` runs the
application with `processors` instances; after `kill_after_s` the instance that has scored the most is
killed with SIGKILL (no flush, no commit, no goodbye to the group) and not restarted, so its machines move
to the survivors (Kafka: after the session timeout, `session_timeout_ms`; RabbitMQ: at once, its channel
is gone). `kill_counts` then reads what the run left:

* every reading the broker acknowledged should be in Parquet exactly once (per machine, seqs 0..n-1);
* no health record should carry telemetry features without vibration features: an instance holding a
  machine's telemetry but not its vibration (the broken join) writes such records for as long as the run
  lasts (a record with neither, while a machine's window fills, is fine).

The live test (tests/pipeline/test_processor_scaling.py) asserts on these counts; chapter 01 shows them.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ...domain.health import TELEMETRY_FEATURE_NAMES, VIBRATION_FEATURE_NAMES
from ...pipeline.progress import final_metrics, latest_metrics
from ...pipeline.runner import AppConfig, AppRun


@dataclass
class KillRun:
    """What `kill_run` did: the run, who was killed when it had scored how much, the exit codes."""

    broker: str
    data_dir: Path
    processors: int
    victim: str                                   # the killed instance's key (`health_processor-2`)
    scored_before_kill: dict[str, float]          # per instance key, its `processed` at the kill
    codes: dict[str, int | None] = field(default_factory=dict)
    killed_at_s: float = 0.0
    started_at: float = 0.0                       # wall clock (s): lines and rows before it are another run's


def kill_run(broker: str, data_dir: Path, namespace: str, machines: int = 12, duration_s: float = 30.0,
             kill_after_s: float = 12.0, processors: int = 3, seed: int = 5, session_timeout_ms: int = 6000,
             env: dict[str, str] | None = None) -> KillRun:
    """Run the app with `processors` instances and SIGKILL the busiest after `kill_after_s` (topics declared
    by the caller in `namespace`; `env`: the services' environment, e.g. the stack's endpoints)."""
    extra = {**(env or {}), "STREAMLAB_METRICS_INTERVAL": "1"}
    if broker == "kafka":
        extra["STREAMLAB_KAFKA_SESSION_TIMEOUT_MS"] = str(session_timeout_ms)
    config = AppConfig(broker=broker, machines=machines, duration_s=duration_s, data_dir=data_dir,
                       namespace=namespace, seed=seed, processors=processors, extra_env=extra)
    run = AppRun(config)
    run.start()
    try:
        time.sleep(kill_after_s)
        latest = latest_metrics(data_dir / "metrics")
        scored = {key: float(latest.get(key.replace("_", "-"), {}).get("processed", 0))
                  for key in run.processor_keys}
        victim = max(scored, key=lambda key: scored[key])
        run.signal_service(victim, signal.SIGKILL)
        killed_at = time.time() - run.started_at
        run.wait_for_generators()
        codes = run.stop()
    except BaseException:
        run.kill_all()
        raise
    return KillRun(broker, data_dir, processors, victim, scored, codes, killed_at, run.started_at)


def kill_counts(result: KillRun) -> dict[str, int]:
    """The run's counts from its files: readings sent and acknowledged, health records and distinct readings
    scored, duplicates and gaps in Parquet, duplicates the sink dropped, and records missing a stream."""
    health = pd.read_parquet(result.data_dir / "health")
    final = final_metrics(result.data_dir / "metrics", result.started_at)
    generator = final.get("telemetry-generator", {})
    sink = final.get("health-parquet-sink", {})
    distinct = int(health[["machine_id", "seq"]].drop_duplicates().shape[0]) if len(health) else 0
    telemetry = health[[f"f_{n}" for n in TELEMETRY_FEATURE_NAMES]].notna().any(axis=1)
    vibration = health[[f"f_{n}" for n in VIBRATION_FEATURE_NAMES]].notna().all(axis=1)
    victim = result.victim.replace("_", "-")
    return {
        "processors": result.processors,
        "readings sent": int(generator.get("sent", 0)),
        "readings acknowledged": int(generator.get("acked", 0)),
        "send failures": int(generator.get("failed", 0)),
        "scored by the killed instance before the kill": int(result.scored_before_kill[result.victim]),
        "scored by the killed instance in all": int(final.get(victim, {}).get("processed", 0)),
        "health records": len(health),
        "readings scored (distinct)": distinct,
        "duplicates in Parquet": len(health) - distinct,
        "readings missing in Parquet": int(generator.get("acked", 0)) - distinct,
        "machines": int(health["machine_id"].nunique()) if len(health) else 0,
        "re-scored duplicates the sink dropped": int(sink.get("duplicates_skipped", 0)),
        "records with telemetry features": int(telemetry.sum()),
        "records missing a stream": int((telemetry & ~vibration).sum()),
    }


def counts_table(counts: dict[str, int]) -> pd.DataFrame:
    """The counts as a two-column table (what the chapter shows)."""
    return pd.DataFrame({"count": counts})
