"""How fast is the application itself? Processor throughput and end-to-end latency at nominal load.

Two measurements, each on the running stack, reported side by side per Kafka client:

* **throughput**: the telemetry topic is preloaded with N readings (the
  generator is not the bottleneck under test), then the real processor service
  starts and drains them: decode → score → publish health (+ latest) → flush →
  commit. Sustained rate = records processed between the first and last metric
  sample / time between them.
* **latency at nominal load**: the whole pipeline at 20 machines × 10 Hz; the
  Parquet rows carry every stage's timestamp, so latency is split into
  generator → processor, → sink arrival, → durable write (the last includes the
  sink's flush interval by design: files are written in batches).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from ..codecs import get_codec
from ..domain import Fleet
from ..measure.latency import LatencyRecorder
from ..pipeline.topics import TELEMETRY
from ..stack import endpoints
from ..transport.kafka_admin import client_logger
from ..transport.kafka_confluent import JAVA_PARTITIONER


def preload_telemetry(bootstrap: str, topic: str, n_messages: int, machines: int, codec_name: str) -> int:
    """Write n telemetry readings as fast as possible (confluent producer); returns how many were acked."""
    from confluent_kafka import Producer

    codec = get_codec(codec_name)
    fleet = Fleet(machines, seed=1)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.size": 262144,
                         "acks": "all", "partitioner": JAVA_PARTITIONER, "logger": client_logger()})
    headers = [("codec", codec.name.encode()), ("type", b"telemetry")]
    acked = [0]

    def on_delivery(err, _msg):
        if err is None:
            acked[0] += 1

    for i in range(n_messages):
        machine = fleet.machine_ids[i % machines]
        value = codec.encode(fleet.telemetry(machine, i / (10.0 * machines)))
        while True:
            try:
                producer.produce(topic, value, machine.encode(), headers=headers, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 1000 == 0:
            producer.poll(0)
    producer.flush(120)
    return acked[0]


def _metrics(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame()
    return pd.DataFrame([json.loads(line) for line in path.read_text().splitlines() if line.strip()])


def processor_throughput(client: str, n_messages: int = 200_000, machines: int = 20, codec: str = "orjson",
                         timeout_s: float = 300.0) -> dict:
    """Preload, then time the processor draining the topic; one dict of results."""
    from ..pipeline.declare import app_transport, declare_app

    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    bootstrap = endpoints().kafka_bootstrap
    transport = app_transport("kafka", "confluent")
    declare_app(transport, namespace)
    topic = f"{namespace}.{TELEMETRY.name}"
    loaded = preload_telemetry(bootstrap, topic, n_messages, machines, codec)
    with tempfile.TemporaryDirectory(prefix="streamlab-bench-") as tmp:
        data_dir = Path(tmp)
        cmd = [sys.executable, "-m", "streamlab.services.health_processor", "--client", client, "--codec", codec,
               "--namespace", namespace, "--data-dir", str(data_dir), "--max-batch", "2000"]
        env = {**os.environ, "STREAMLAB_METRICS_INTERVAL": "0.5"}
        log = open(data_dir / "processor.log", "wb")
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        metrics_file = data_dir / "metrics" / "health-processor.jsonl"
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                frame = _metrics(metrics_file)
                if not frame.empty and frame.get("processed", pd.Series([0])).max() >= loaded:
                    break
                if process.poll() is not None:
                    raise RuntimeError(f"processor exited early: {(data_dir / 'processor.log').read_text()[-500:]}")
                time.sleep(0.5)
        finally:
            process.terminate()
            process.wait(30)
            log.close()
        frame = _metrics(metrics_file)
    transport.delete_topics([f"{namespace}.{t}" for t in ("telemetry", "vibration", "machine-health",
                                                          "machine-health-latest", "alerts", "dead-letter")])
    busy = frame[frame["processed"] > 0] if "processed" in frame else frame
    first, last = busy.iloc[0], busy.iloc[-1]
    elapsed = last["uptime_s"] - first["uptime_s"]
    processed = last["processed"] - first["processed"]
    return {"client": client, "codec": codec, "messages": int(loaded), "processed": int(last["processed"]),
            "records_per_s": processed / elapsed if elapsed > 0 else float("nan"), "seconds": elapsed}


def nominal_latency(client: str, duration_s: float = 60.0, machines: int = 20, rate_hz: float = 10.0,
                    flush_interval_s: float = 1.0, data_dir: Path | None = None) -> pd.DataFrame:
    """Run the whole app at nominal load; latency percentiles per stage from the Parquet timestamps.

    ``flush_interval_s`` is the Parquet sink's rotate interval (default 1 s: the last stage ends at the
    durable write, which the sink's own default makes minutes long)."""
    from ..pipeline.runner import AppConfig, AppRun

    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="streamlab-nominal-"))
    run = AppRun(AppConfig(client=client, machines=machines, rate_hz=rate_hz, duration_s=duration_s,
                           data_dir=data_dir, namespace=f"nominal-{uuid.uuid4().hex[:6]}",
                           archive_rotate_s=flush_interval_s))
    run.start()
    try:
        run.wait_for_generators()
    finally:
        run.stop()
    return latency_stages(pd.read_parquet(data_dir / "health"), client)


def latency_stages(health: pd.DataFrame, client: str = "") -> pd.DataFrame:
    """p50/p99/p99.9/max per pipeline stage, measured from the generator's send stamp (ms).

    "→ on disk" includes the sink's flush interval: rows wait in a batch until the next durable write.
    """
    stages = {"→ processor": "ts_ns", "→ sink arrival": "sink_received_ns", "→ on disk": "sink_ts_ns"}
    rows = []
    for stage, column in stages.items():
        recorder = LatencyRecorder()
        recorder.record_many_ns((health[column] - health["source_ts_ns"]).clip(lower=0).astype(np.int64).tolist())
        summary = recorder.summary()
        for metric, value in summary.metrics().items():
            rows.append({"client": client, "stage": stage, "metric": metric, "value": value,
                         "records": summary.count})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    for c in sys.argv[1:] or ["confluent", "kafka-python"]:
        print(processor_throughput(c, n_messages=int(os.environ.get("N", "100000"))))
