"""RabbitMQ PerfTest (Java) behind the driver interface: the reference for pika.

PerfTest runs producers and consumers at once for `-z` seconds and prints one
line per second (sent, confirmed, received msg/s, consumer and confirm latency
percentiles), then a summary. The driver maps the workload onto its flags
(`-x/-y` processes, `-s` size, `-c` confirms window, `-q` prefetch, `-A` multi-ack,
`-f persistent`, `-qq` quorum, `-r` per-producer rate) and measures the
per-second lines after the warm-up. Its latency percentiles come from the
summary: they cover the whole run (warm-up included) and stop at p99; PerfTest
prints no p99.9 or max, so those rows are absent rather than invented.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

from ...measure.latency import LatencySummary
from ...stack.config import StackConfig
from ...transport.rabbitmq import delete_queues
from ..workload import Workload
from .base import Driver, DriverError, Progress, bench_name
from .kafka_java_tools import ToolProcess, jar_version, java_command, require_jars, wait_all
from .processes import share
from .results import RoleResult, RunResult

_TIME = re.compile(r"time:? ([\d.]+) ?s,")
_RATE = re.compile(r"(\w+): (\d+(?:\.\d+)?) msg/s")
_SUMMARY = re.compile(r"(consumer|confirm) latency min/median/75th/95th/99th ([\d./]+) (\S+)")
_UNIT_MS = {"µs": 0.001, "us": 0.001, "ms": 1.0, "s": 1000.0, "ns": 1e-6}


def parse_perftest_output(lines: list[str]) -> tuple[list[dict], dict[str, LatencySummary]]:
    """Per-second samples ({"time": s, "sent": msg/s, "confirmed": ..., "received": ...}) and summary latencies."""
    samples, summaries = [], {}
    for line in lines:
        summary = _SUMMARY.search(line)
        if summary:
            kind, values, unit = summary.groups()
            scale = _UNIT_MS.get(unit, 0.001)
            mn, p50, _p75, p95, p99 = (float(v) * scale for v in values.split("/"))
            summaries[kind] = LatencySummary(count=0, p50_ms=p50, p95_ms=p95, p99_ms=p99, min_ms=mn)
            continue
        match = _TIME.search(line)
        if match:
            sample = {"time": float(match.group(1))}
            sample.update({k: float(v) for k, v in _RATE.findall(line)})
            samples.append(sample)
    return samples, summaries


class RabbitPerfTestDriver(Driver):
    name = "rabbitmq-perftest"
    broker = "rabbitmq"
    native = True
    description = "RabbitMQ PerfTest (Java), producers and consumers at once"

    def client_version(self) -> str:
        return f"perf-test {jar_version('perftest', 'perf-test')} (Java)"

    def check(self, endpoints: Any) -> None:
        require_jars("perftest", "perf-test")
        super().check(endpoints)

    def estimate_s(self, workload: Workload) -> float:
        return math.ceil(workload.warmup_s + workload.duration_s) + 5.0

    @staticmethod
    def arguments(wl: Workload, url: str, queue: str) -> list[str]:
        seconds = math.ceil(wl.warmup_s + wl.duration_s)
        args = ["-h", url, "-x", wl.producers, "-y", wl.consumers, "-s", max(wl.message_size, 12), "-z", seconds,
                "-i", 1, "-ad", "false"]
        if wl.queues == 1:
            args += ["-u", queue]
        else:
            args += ["-qp", f"{queue}-%d", "-qpf", 1, "-qpt", wl.queues]
        if wl.confirms:
            args += ["-c", wl.confirms]
        if wl.prefetch:
            args += ["-q", wl.prefetch]
        if wl.ack_every > 1:
            args += ["-A", wl.ack_every]
        if wl.persistent:
            args += ["-f", "persistent"]
        if wl.queue_type == "quorum":
            args += ["-qq"]
        elif wl.queue_type == "stream":
            args += ["-sq", "-sco", "first"]
        if wl.rate is not None:
            args += ["-r", f"{wl.per_producer_rate:g}"]
        if wl.max_records is not None:
            args += ["-C", share(wl.max_records, wl.producers, 0)]
        return [str(a) for a in args]

    def run(self, workload: Workload, endpoints: Any, progress: Progress | None = None) -> RunResult:
        progress = progress or Progress(enabled=False)
        wl = workload
        url = endpoints.amqp_url
        nodes = StackConfig.from_env().rabbit_nodes
        result = RunResult(self.name, self.broker, True, wl, client_version=self.client_version(),
                           target_rate=wl.rate, phases="concurrent", brokers=nodes,
                           replication=min(wl.replication, nodes) if wl.queue_type != "classic" else 1)
        queue = bench_name(self.name)
        args = self.arguments(wl, url, queue)
        result.settings = {"producer": {"confirms": wl.confirms, "persistent": wl.persistent},
                           "consumer": {"prefetch": wl.prefetch, "ack_every": wl.ack_every},
                           "perftest_args": " ".join(a for a in args if not a.startswith("amqp"))}
        names = [queue] if wl.queues == 1 else [f"{queue}-{i}" for i in range(1, wl.queues + 1)]
        tool = ToolProcess(java_command("perftest", "com.rabbitmq.perf.PerfTest", args), "perftest")
        started = time.time()
        try:
            deadline = time.monotonic() + wl.warmup_s + wl.duration_s + 60
            wait_all([tool], lambda: not tool.running(), deadline, progress,
                     f"{self.name}: running ({time.time() - started:.0f}s)")
        finally:                                   # also on Ctrl-C: no JVM outlives the run
            tool.stop()
            delete_queues(url, names)
        samples, summaries = parse_perftest_output(tool.text())
        if not samples:
            raise DriverError(f"PerfTest printed no results: {tool.tail()}")
        self._fill(wl, result, samples, summaries)
        if wl.queues > 1:
            result.notes.append("PerfTest spreads producers and consumers over its queues itself (-qp)")
        return result

    @staticmethod
    def _fill(wl: Workload, result: RunResult, samples: list[dict], summaries: dict) -> None:
        lo, hi = wl.warmup_s, wl.warmup_s + wl.duration_s + 0.5   # samples are stamped at the end of their second
        acked_key = "confirmed" if wl.confirms else "sent"
        previous = 0.0
        totals = {"producer": [0.0, 0.0, 0.0], "consumer": [0.0, 0.0, 0.0]}    # measured records, seconds, all
        series: dict[str, list[int]] = {"producer": [], "consumer": []}
        for sample in samples:
            span = sample["time"] - previous
            previous = sample["time"]
            for role, key in (("producer", acked_key), ("consumer", "received")):
                rate = sample.get(key, 0.0)
                series[role].append(int(rate))
                totals[role][2] += rate * span
                if sample["time"] - span >= lo - 0.1 and sample["time"] <= hi:     # the second lies in the window
                    totals[role][0] += rate * span
                    totals[role][1] += span
        for role in ("producer", "consumer"):
            if role == "consumer" and not wl.consumers:
                continue
            records, seconds, everything = totals[role]
            latency = summaries.get("confirm" if role == "producer" else "consumer")
            result.roles[role] = RoleResult(role, records=int(records), bytes=int(records * wl.message_size),
                                            seconds=seconds, total_records=int(everything),
                                            latency=latency if role == "producer" else None,
                                            per_second=series[role])
        if "consumer" in summaries and wl.consumers:
            s = summaries["consumer"]
            result.roles["e2e"] = RoleResult("e2e", records=int(totals["consumer"][2]),
                                             total_records=int(totals["consumer"][2]),
                                             latency=LatencySummary(count=int(totals["consumer"][2]),
                                                                    p50_ms=s.p50_ms, p95_ms=s.p95_ms,
                                                                    p99_ms=s.p99_ms, min_ms=s.min_ms))
        result.notes.append("PerfTest latency percentiles cover the whole run (warm-up included), up to p99; "
                            "record counts are per-second rates × seconds")
