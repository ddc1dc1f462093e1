"""The one result schema every driver fills: a `RunResult` of `RoleResult`s, and its tidy rows.

A driver runs one workload against one broker and returns a `RunResult`: per role
(`producer`, `consumer`, `e2e`) the records and bytes counted in the measurement
window, the window's length, a per-second series, and a latency summary. Every
driver fills the same object, whether it runs Python clients in child processes
or parses what a Java perf tool printed, so `RunResult.rows()` gives the same tidy
rows (one per run × role × metric) for all of them.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from ...measure.latency import LatencySummary
from ..workload import Workload

MB = 1024 * 1024          # MB/s as the Kafka and RabbitMQ tools print it (2^20 bytes)
ROLES = ("producer", "consumer", "e2e")
THROUGHPUT_METRICS = ("records_per_s", "mb_per_s", "records", "errors")

# one row per run × role × metric; the columns after `value` say what it was measured under
RESULT_COLUMNS = [
    "bench_id", "run_id", "round", "timestamp", "driver", "broker", "native", "workload", "role", "metric", "value",
    "message_size", "rate", "target_rate", "producers", "consumers", "partitions", "queues", "replication",
    "brokers", "acks", "compression", "batch_size", "linger_ms", "confirms", "prefetch", "persistent",
    "queue_type", "phases", "warmup_s", "duration_s", "client_version", "cores", "memory_gb", "settings",
    "notes", "error", "machine_busy", "others_cpu_pct", "steal_pct", "load1",
]


# -- results ------------------------------------------------------------------------------------

@dataclass
class RoleResult:
    """What one role did in the measurement window (records, bytes, seconds) and over the whole run."""

    role: str
    records: int = 0                 # counted inside the measurement window
    bytes: int = 0
    seconds: float = 0.0             # the window's length
    total_records: int = 0           # the whole run, warm-up and drain included
    errors: int = 0
    latency: LatencySummary | None = None
    per_second: list[int] = field(default_factory=list)

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else math.nan

    @property
    def mb_per_s(self) -> float:
        return self.bytes / self.seconds / MB if self.seconds > 0 else math.nan

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.role != "e2e":
            out.update(records_per_s=self.records_per_s, mb_per_s=self.mb_per_s,
                       records=float(self.total_records), errors=float(self.errors))
        else:
            out["records"] = float(self.latency.count if self.latency else self.total_records)
        if self.latency is not None:
            out.update(self.latency.metrics())
        return out


@dataclass
class RunResult:
    """One driver × one workload: the roles it measured and everything needed to interpret them."""

    driver: str
    broker: str
    native: bool
    workload: Workload
    client_version: str = ""
    brokers: int = 0                 # Kafka brokers in the cluster / RabbitMQ nodes
    replication: int = 0             # the replication the topic really got (capped at the broker count)
    target_rate: float | None = None
    phases: str = ""
    roles: dict[str, RoleResult] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)   # the client/tool configuration actually used
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    started_at: float = field(default_factory=time.time)
    calibrated_max: float | None = None
    rate_label: str | None = None    # how the tool loaded the broker when it ignores the workload's rate
    #: how busy the machine was with other work during the run (`measure.noise.MachineState.row()`)
    machine_state: dict[str, Any] = field(default_factory=dict)

    def role(self, name: str) -> RoleResult | None:
        return self.roles.get(name)

    @property
    def sent(self) -> int:
        producer = self.roles.get("producer")
        return producer.total_records if producer else 0

    @property
    def received(self) -> int:
        consumer = self.roles.get("consumer")
        return consumer.total_records if consumer else 0

    def rows(self, bench_id: str = "", run_id: str = "", machine: dict | None = None,
             round_: int = 0) -> list[dict]:
        wl = self.workload
        machine = machine or {}
        base = {
            "bench_id": bench_id, "run_id": run_id, "round": round_,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.started_at)),
            "driver": self.driver, "broker": self.broker, "native": self.native, "workload": wl.name,
            "message_size": wl.message_size, "rate": self.rate_label or wl.rate_label,
            "target_rate": float(self.target_rate) if self.target_rate is not None else math.nan,
            "producers": wl.producers, "consumers": wl.consumers, "partitions": wl.partitions, "queues": wl.queues,
            "replication": self.replication, "brokers": self.brokers, "acks": wl.acks,
            "compression": wl.compression, "batch_size": wl.batch_size, "linger_ms": wl.linger_ms,
            "confirms": wl.confirms, "prefetch": wl.prefetch, "persistent": wl.persistent,
            "queue_type": wl.queue_type, "phases": self.phases or wl.phases, "warmup_s": wl.warmup_s,
            "duration_s": wl.duration_s, "client_version": self.client_version,
            "cores": machine.get("cores", os.cpu_count()), "memory_gb": machine.get("memory_gb", math.nan),
            "settings": json.dumps(self.settings, sort_keys=True, default=str), "notes": "; ".join(self.notes),
            "error": self.error or "",
            "machine_busy": self.machine_state.get("machine_busy"),
            "others_cpu_pct": self.machine_state.get("others_cpu_pct", math.nan),
            "steal_pct": self.machine_state.get("steal_pct", math.nan),
            "load1": self.machine_state.get("load1", math.nan),
        }
        rows = []
        if self.calibrated_max is not None:
            rows.append({**base, "role": "producer", "metric": "calibrated_max_records_per_s",
                         "value": float(self.calibrated_max)})
        if self.error:
            rows.append({**base, "role": "run", "metric": "failed", "value": 1.0})
        for role in ROLES:
            result = self.roles.get(role)
            if result is None:
                continue
            for metric, value in result.metrics().items():
                rows.append({**base, "role": role, "metric": metric, "value": float(value)})
        return [{col: row.get(col) for col in RESULT_COLUMNS} for row in rows]

    def timeseries_rows(self, bench_id: str = "", run_id: str = "") -> list[dict]:
        rows = []
        for role in ("producer", "consumer"):
            result = self.roles.get(role)
            if result is None:
                continue
            for second, records in enumerate(result.per_second):
                rows.append({"bench_id": bench_id, "run_id": run_id, "driver": self.driver, "broker": self.broker,
                             "workload": self.workload.name, "role": role, "second": second, "records": records,
                             "mb": records * self.workload.message_size / MB})
        return rows


# -- drivers ------------------------------------------------------------------------------------


# -- broker plumbing shared by the Kafka drivers ------------------------------------------------


# -- payloads and pacing (used inside the child processes) ---------------------------------------


# -- process orchestration --------------------------------------------------------------------------


def python_version() -> str:
    return sys.version.split()[0]


__all__ = ["MB", "RESULT_COLUMNS", "ROLES", "THROUGHPUT_METRICS", "RoleResult", "RunResult", "python_version"]
