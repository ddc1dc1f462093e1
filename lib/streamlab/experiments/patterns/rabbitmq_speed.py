"""RabbitMQ at the speed of RabbitMQ: our Python path beside RabbitMQ's own PerfTest, one node, one session.

Four experiments, each a tidy frame in the bench's result schema (one row per
run × role × metric, `experiment` says which), then one table of the figures
that matter, with their ratios and the targets of issue 17:

1. `throughput`: max publish (with confirms) and consume records/s at 100 B and
   1 KB: pika, aio-pika and PerfTest, producers and consumers at once (as
   PerfTest runs; a consumer's rate is then capped by its producer, said in the
   table's note).
2. `latency_sweep`: end-to-end p50/p99 with every driver at the *same* fixed
   rates — 1k, 2k, 5k msg/s and 50 % of the slower one's max from (1). Ours
   stamp each record with its intended send time and record it in HdrHistogram
   (coordinated omission stays visible, as in the Kafka drivers); PerfTest
   stamps the actual send time and prints its own percentiles (up to p99).
3. `queue_types`: classic vs quorum vs stream (the log inside RabbitMQ, read
   through AMQP with `x-stream-offset`) at one fixed rate and at max, with the
   node's memory sampled from the management API during each run.
4. `app_hops`: the application on RabbitMQ at its nominal rate, per-hop
   p50/p99 from the health Parquet rows, beside the raw pika e2e figure at the
   same msg/s and message size.

Beside them, in the same session: pika with 16 KB consumer socket reads at max,
100 B (`large_reads`, beside plain pika's 4 KB reads: one cheap consumer-side
change, kept as the default only if it helps), and one more max-rate pika run
with py-spy on its producer and consumer (`profile_run`, see `rabbit_profile`):
the CPU share by component that says why a missed target is missed.

Every run is bounded (warm-up + duration per driver); the queues are deleted
after each run. The application's transport uses the same kind of settings by
default (quorum queues, a window of unconfirmed publishes, prefetch of at least
1,000, one multiple=true ack per committed batch) and the same coalesced writes
(`transport.rabbitmq.coalesce_socket_writes`).
"""

from __future__ import annotations

import json
import math
import threading
import urllib.parse
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from ...bench.run import run_bench
from ...bench.workload import Workload, workload_from_dict
from ...measure import rules
from ...measure.results import bundle_dir, write_json, write_table
from ...transport.rabbitmq.management import mgmt_get

REFERENCE = "rabbitmq-perftest"
OURS = "pika"
TARGETS = {"publish": 0.8, "consume": 0.8, "p50": 2.0, "p99": 3.0, "hop": 2.0}


@dataclass(frozen=True)
class SpeedConfig:
    """What one session measures; the quick book profile shrinks durations and rates."""

    drivers: tuple[str, ...] = ("pika", "aio-pika", "rabbitmq-perftest")
    queue_type: str = "quorum"
    confirms: int = 1000           # PerfTest -c
    prefetch: int = 1000           # -q
    ack_every: int = 100           # -A
    sizes: tuple[int, ...] = (100, 1000)
    rates: tuple[float, ...] = (1000.0, 2000.0, 5000.0)
    half_max: bool = True          # add 50 % of the slower driver's max to `rates`
    queue_types: tuple[str, ...] = ("classic", "quorum", "stream")
    queue_type_rate: float = 1000.0
    warmup_s: float = 2.0
    duration_s: float = 8.0
    app_machines: int = 20
    app_rate_hz: float = 10.0
    app_duration_s: float = 20.0
    app_message_size: int = 200    # an orjson telemetry reading
    app: bool = True               # run the application for its hops (about a minute with the raw run)
    profile: bool = True           # one more max-rate pika run, py-spy on its producer and consumer (~10 s)
    profile_seconds: float = 4.0   # measured time of that run (after a 1 s warm-up)
    large_reads: bool = True       # pika with 16 KB socket reads beside pika's 4 KB, at max, 100 B (~7 s)
    repeat: int = 1

    def workload(self, name: str, **changes: Any) -> Workload:
        base = {"name": name, "message_size": 100, "rate": "max", "producers": 1, "consumers": 1, "queues": 1,
                "confirms": self.confirms, "prefetch": self.prefetch, "ack_every": self.ack_every,
                "queue_type": self.queue_type, "phases": "concurrent", "warmup": f"{self.warmup_s:g}s",
                "duration": f"{self.duration_s:g}s", "replication": 1, "partitions": 1}
        base.update(changes)
        return workload_from_dict(base)


@dataclass
class SpeedResult:
    results: pd.DataFrame                          # tidy, bench schema + `experiment`, `node_*` memory rows
    app: pd.DataFrame = field(default_factory=pd.DataFrame)   # hop percentiles of the app run
    config: SpeedConfig = field(default_factory=SpeedConfig)
    profile: pd.DataFrame = field(default_factory=pd.DataFrame)   # CPU share by component (rabbit_profile)

    @property
    def table(self) -> pd.DataFrame:
        return speed_table(self.results, self.app)

    def save(self, out_dir: Path | str) -> Path:
        """results.parquet/.csv (tidy), app_hops.csv, speed_table.csv, queue_types.csv, profile.csv, config.json."""
        out = bundle_dir(out_dir)
        write_table(self.results, out, "results", ("parquet", "csv"))
        write_table(self.app, out, "app_hops")
        write_table(self.table, out, "speed_table")
        write_table(queue_type_table(self.results), out, "queue_types")
        write_table(self.profile, out, "profile")
        write_json(asdict(self.config), out, "config.json")
        return out

    @classmethod
    def load(cls, out_dir: Path | str) -> SpeedResult:
        out = Path(out_dir)
        app = pd.read_csv(out / "app_hops.csv") if (out / "app_hops.csv").stat().st_size > 1 else pd.DataFrame()
        config = json.loads((out / "config.json").read_text())
        config = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
        profile = out / "profile.csv"
        profile = pd.read_csv(profile) if profile.exists() and profile.stat().st_size > 1 else pd.DataFrame()
        return cls(pd.read_parquet(out / "results.parquet"), app, SpeedConfig(**config), profile)


# -- the runs ----------------------------------------------------------------------------------------

def _bench(cfg: SpeedConfig, wl: Workload, drivers: tuple[str, ...], experiment: str, endpoints: Any,
           progress: bool, memory: bool = False) -> pd.DataFrame:
    frames = []
    for driver in drivers:          # one driver at a time, so the memory samples belong to one run
        sampler = NodeMemory(endpoints) if memory else None
        if sampler:
            sampler.start()
        try:
            bench = run_bench(wl, driver, endpoints=endpoints, save=False, progress=progress, repeat=cfg.repeat)
        finally:
            mem = sampler.stop() if sampler else {}
        frame = bench.results.assign(experiment=experiment)
        if mem:
            base = frame.iloc[0].to_dict()
            frame = pd.concat([frame, pd.DataFrame([{**base, "role": "node", "metric": k, "value": v}
                                                    for k, v in mem.items()])], ignore_index=True)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def throughput(cfg: SpeedConfig, endpoints: Any, progress: bool = True) -> pd.DataFrame:
    """Max publish/consume records/s per driver and message size."""
    return pd.concat([_bench(cfg, cfg.workload(f"rabbit-max-{size}b", message_size=size), cfg.drivers, "throughput",
                             endpoints, progress) for size in cfg.sizes], ignore_index=True)


def large_reads(cfg: SpeedConfig, endpoints: Any) -> pd.DataFrame:
    """pika with 16 KB consumer socket reads at max, 100 B: rows beside the plain pika run of `throughput`."""
    import time

    from ...bench.drivers.pika_driver import PikaLargeReadsDriver
    from ...bench.run import machine_description

    driver = PikaLargeReadsDriver()
    wl = cfg.workload("rabbit-max-100b", message_size=100)
    machine = machine_description(endpoints, ("rabbitmq",))
    bench_id = time.strftime("%Y%m%d-%H%M%S")
    rows = []
    for round_ in range(1, cfg.repeat + 1):     # as many rounds as the plain driver had (the table takes medians)
        run = driver.run(wl, endpoints)
        if run.error:
            raise RuntimeError(f"{driver.name}: {run.error}")
        rows += run.rows(bench_id, f"{bench_id}-{driver.name}-r{round_}", machine, round_)
    return pd.DataFrame(rows).assign(experiment="throughput")


def profile_run(cfg: SpeedConfig, endpoints: Any) -> pd.DataFrame:
    """One extra max-rate pika run at 100 B with py-spy on its producer and consumer: CPU share by component."""
    from .pika_profile import profile_max_run

    wl = cfg.workload("rabbit-profile", message_size=100, warmup="1s", duration=f"{cfg.profile_seconds:g}s")
    return profile_max_run(wl, endpoints)


def half_of_slower_max(throughput_results: pd.DataFrame, size: int = 100) -> float | None:
    """50 % of the smaller max publish rate at `size` among the drivers that reach the reference's league
    (ours and PerfTest; aio-pika is left out, or its max would set everyone's rate)."""
    if "experiment" in throughput_results:
        throughput_results = throughput_results[throughput_results["experiment"] == "throughput"]
    frame = throughput_results[(throughput_results["role"] == "producer")
                               & (throughput_results["metric"] == "records_per_s")
                               & (throughput_results["message_size"] == size)
                               & (throughput_results["driver"].isin([OURS, REFERENCE]))]
    if frame.empty:
        return None
    slower = frame.groupby("driver")["value"].median().min()
    return round(float(slower) / 2, -1) if slower and not math.isnan(slower) else None


def latency_sweep(cfg: SpeedConfig, endpoints: Any, rates: list[float], progress: bool = True) -> pd.DataFrame:
    """Every driver at each of the same fixed rates, 100 B."""
    frames = []
    for rate in rates:
        wl = cfg.workload(f"rabbit-latency-{rate:g}", rate=rate)
        frames.append(_bench(cfg, wl, cfg.drivers, "latency", endpoints, progress))
    return pd.concat(frames, ignore_index=True)


def queue_types(cfg: SpeedConfig, endpoints: Any, progress: bool = True) -> pd.DataFrame:
    """pika and PerfTest on classic, quorum and stream queues: at a fixed rate and at max, node memory sampled."""
    drivers = tuple(d for d in cfg.drivers if d in (OURS, REFERENCE))
    frames = []
    for queue_type in cfg.queue_types:
        for rate in (cfg.queue_type_rate, "max"):
            wl = cfg.workload(f"rabbit-{queue_type}-{rate if rate == 'max' else f'{rate:g}'}",
                              queue_type=queue_type, rate=rate)
            frames.append(_bench(cfg, wl, drivers, "queue_types", endpoints, progress, memory=True))
    return pd.concat(frames, ignore_index=True)


class NodeMemory:
    """Samples the RabbitMQ node's memory (management API, live breakdown) every `every` s during a run."""

    QUEUE_KEYS = ("queue_procs", "quorum_queue_procs", "quorum_ets", "stream_queue_procs",
                  "stream_queue_replica_reader_procs", "msg_index", "binary")

    def __init__(self, endpoints: Any, every: float = 0.5) -> None:
        self.url = endpoints.rabbit_mgmt_url.rstrip("/")
        self.amqp = endpoints.amqp_url
        self.every = every
        self.samples: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rabbit-memory", daemon=True)
        self._path = ""

    def _read(self) -> dict | None:
        try:
            if not self._path:
                node = mgmt_get(f"{self.url}/api/overview", self.amqp)["node"]
                self._path = f"{self.url}/api/nodes/{urllib.parse.quote(node)}/memory"
            return mgmt_get(self._path, self.amqp)["memory"]
        except (OSError, ValueError, KeyError):
            return None

    def _loop(self) -> None:
        while not self._stop.is_set():
            sample = self._read()
            if sample:
                self.samples.append(sample)
            self._stop.wait(self.every)

    def start(self) -> None:
        first = self._read()
        if first:
            self.samples.append(first)
        self._thread.start()

    def stop(self) -> dict[str, float]:
        """{node_rss_mb_peak, node_rss_mb_delta, queue_mem_mb_delta}; empty without a management API.

        The deltas are the peak minus the first sample: what the run added (queue processes, their
        indexes and the message bodies they hold, which live in the node's binary heap)."""
        self._stop.set()
        self._thread.join(5)
        if len(self.samples) < 2:
            return {}
        rss = [s["total"]["rss"] / 2**20 for s in self.samples]
        queue = [sum(s.get(k, 0) for k in self.QUEUE_KEYS) / 2**20 for s in self.samples]
        return {"node_rss_mb_peak": max(rss), "node_rss_mb_delta": max(rss) - rss[0],
                "queue_mem_mb_delta": max(queue) - queue[0]}


def app_hops(cfg: SpeedConfig, endpoints: Any, progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The app on RabbitMQ at machines × rate_hz readings/s, and raw pika at that rate and message size.

    Returns (hop percentiles of the app, the raw pika bench rows)."""
    from ..profiling.hops import flush_shadow, hop_latencies

    health = app_health(cfg)
    hops = pd.concat([hop_latencies(health, "app on RabbitMQ"), shadow_rows(flush_shadow(health))],
                     ignore_index=True)
    rate = cfg.app_machines * cfg.app_rate_hz
    wl = cfg.workload(f"rabbit-raw-{rate:g}", rate=rate, message_size=cfg.app_message_size, queue_type="quorum")
    raw = _bench(cfg, wl, (OURS,), "app_raw", endpoints, progress)
    return hops.assign(rate=rate, records_on_disk=len(health)), raw


#: The app-hop metrics that place the processor → sink tail against the sink's writes (`hops.flush_shadow`).
SHADOW_METRICS = {"all records": "in_write_shadow_pct_all", "slowest 1 %": "in_write_shadow_pct_slowest_1pct"}


def shadow_rows(shadow: pd.DataFrame) -> pd.DataFrame:
    """`flush_shadow`'s shares as rows of the app-hop table (hop processor → sink)."""
    by_group = shadow.set_index("records")
    return pd.DataFrame([{"setting": "app on RabbitMQ", "hop": "processor → sink", "metric": metric,
                          "value": float(by_group.loc[group, "in write shadow %"]),
                          "records": int(by_group.loc[group, "count"])}
                         for group, metric in SHADOW_METRICS.items()])


def app_health(cfg: SpeedConfig) -> pd.DataFrame:
    """One bounded run of the whole application on RabbitMQ; its health rows (every stage's clock)."""
    import tempfile
    import uuid

    from ...pipeline.runner import AppConfig, AppRun
    from ...pipeline.topics import ALL_TOPICS

    with tempfile.TemporaryDirectory(prefix="streamlab-rabbit-hops-") as tmp:
        namespace = f"hops-rmq-{uuid.uuid4().hex[:6]}"
        run = AppRun(AppConfig(broker="rabbitmq", machines=cfg.app_machines, rate_hz=cfg.app_rate_hz,
                               duration_s=cfg.app_duration_s, data_dir=Path(tmp), namespace=namespace,
                               archive_rotate_s=1.0))   # its hops end at the durable write: files at once
        try:
            run.start()
            run.wait_for_generators()
            run.stop()
        except BaseException:
            run.kill_all()
            raise
        finally:
            try:
                run.transport.delete_topics([f"{namespace}.{spec.name}" for spec in ALL_TOPICS])
            except Exception:  # noqa: BLE001 - cleanup must not hide the result; group queues expire
                pass
        return pd.read_parquet(Path(tmp) / "health")


def run_all(cfg: SpeedConfig | None = None, endpoints: Any = None, progress: bool = True) -> SpeedResult:
    """All four experiments in one session on the running stack (see the module doc)."""
    from ...stack import endpoints as stack_endpoints

    cfg = cfg or SpeedConfig()
    ep = endpoints or stack_endpoints()
    frames = [throughput(cfg, ep, progress)]
    if cfg.large_reads and 100 in cfg.sizes:
        frames.append(large_reads(cfg, ep))
    profile = profile_run(cfg, ep) if cfg.profile else pd.DataFrame()
    rates = list(cfg.rates)
    half = half_of_slower_max(frames[0]) if cfg.half_max else None
    if half and half not in rates:
        rates.append(half)
    frames.append(latency_sweep(cfg, ep, sorted(rates), progress))
    if cfg.queue_types:
        frames.append(queue_types(cfg, ep, progress))
    hops = pd.DataFrame()
    if cfg.app:
        hops, raw = app_hops(cfg, ep, progress)
        frames.append(raw)
    results = pd.concat(frames, ignore_index=True)
    if half:
        results.loc[(results["experiment"] == "latency") & (results["target_rate"] == half), "notes"] = (
            "50 % of the slower max publish rate at 100 B")
    return SpeedResult(results, hops, cfg, profile)


# -- the table ------------------------------------------------------------------------------------------

def _value(results: pd.DataFrame, experiment: str, driver: str, role: str, metric: str, **where: Any) -> float:
    frame = results[(results["experiment"] == experiment) & (results["driver"] == driver)
                    & (results["role"] == role) & (results["metric"] == metric)]
    for column, value in where.items():
        frame = frame[frame[column] == value]
    return float(frame["value"].median()) if not frame.empty else math.nan


SPEED_COLUMNS = ["figure", "setting", "pika", "aio_pika", "perftest", "ratio", "target", "met"]


def speed_table(results: pd.DataFrame, app: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per acceptance figure: pika, aio-pika, PerfTest, pika ÷ PerfTest, the target and whether it holds.

    Throughput ratios must reach the target (≥); latency ratios must stay under it (≤). A hop row compares
    the app's hop with raw pika at the same rate (its `perftest` column holds that raw pika figure)."""
    rows = []

    def add(figure: str, setting: str, metric_of, higher_is_better: bool, target: float) -> None:
        ours, aio, ref = (metric_of(d) for d in (OURS, "aio-pika", REFERENCE))
        ratio = ours / ref if ref and not math.isnan(ref) and not math.isnan(ours) else math.nan
        met = (ratio >= target) if higher_is_better else (ratio <= target)
        rows.append({"figure": figure, "setting": setting, "pika": ours, "aio_pika": aio, "perftest": ref,
                     "ratio": ratio, "target": f"≥ {target:g}×" if higher_is_better else f"≤ {target:g}×",
                     "met": bool(met) if not math.isnan(ratio) else None})

    if results is None or results.empty:
        return pd.DataFrame(columns=SPEED_COLUMNS)
    tp = results[results["experiment"] == "throughput"]
    qt = tp["queue_type"].iloc[0] if not tp.empty else ""
    for size in sorted(results.loc[results["experiment"] == "throughput", "message_size"].unique()):
        label = f"{size} B" if size < 1000 else f"{size / 1000:g} KB"
        add(f"max publish rec/s, {label}", f"{qt}, confirms", lambda d, s=size: _value(
            results, "throughput", d, "producer", "records_per_s", message_size=s), True, TARGETS["publish"])
        add(f"max consume rec/s, {label}", f"{qt}, concurrent", lambda d, s=size: _value(
            results, "throughput", d, "consumer", "records_per_s", message_size=s), True, TARGETS["consume"])
    latency = results[results["experiment"] == "latency"]
    for rate in sorted(latency["target_rate"].dropna().unique()):
        for metric, target in (("p50_ms", TARGETS["p50"]), ("p99_ms", TARGETS["p99"])):
            add(f"e2e {metric[:3]} ms", f"{rate:,.0f} msg/s", lambda d, r=rate, m=metric: _value(
                results, "latency", d, "e2e", m, target_rate=r), False, target)
    if app is not None and not app.empty:
        raw = results[results["experiment"] == "app_raw"]
        rate = float(app["rate"].iloc[0])
        for hop in [h for h in app["hop"].unique() if h != "sink → on disk"]:
            for metric in ("p50_ms", "p99_ms"):
                mine = app[(app["hop"] == hop) & (app["metric"] == metric)]["value"]
                ref = _value(raw, "app_raw", OURS, "e2e", metric)
                value = float(mine.iloc[0]) if not mine.empty else math.nan
                ratio = value / ref if ref and not math.isnan(ref) else math.nan
                rows.append({"figure": f"app hop {hop}, {metric[:3]} ms",
                             "setting": f"{rate:,.0f} msg/s; vs raw pika", "pika": value, "aio_pika": math.nan,
                             "perftest": ref, "ratio": ratio, "target": f"≤ {TARGETS['hop']:g}×",
                             "met": bool(ratio <= TARGETS["hop"]) if not math.isnan(ratio) else None})
    return pd.DataFrame(rows, columns=SPEED_COLUMNS)


QUEUE_TYPE_COLUMNS = ["queue_type", "driver", "max_publish_rec_s", "max_consume_rec_s", "fixed_rate", "e2e_p50_ms",
                      "e2e_p99_ms", "node_rss_mb_peak", "node_rss_mb_delta", "queue_mem_mb_delta"]


def queue_type_table(results: pd.DataFrame) -> pd.DataFrame:
    """Classic vs quorum vs stream: per queue type and driver, max publish/consume rec/s, e2e p50/p99 at the fixed
    rate, and the node's memory at max (peak RSS, its rise during the run, the rise of queue memory)."""
    frame = results[results["experiment"] == "queue_types"]
    if frame.empty:                          # not measured (the quick profile): the columns, no rows
        return pd.DataFrame(columns=QUEUE_TYPE_COLUMNS)
    rows = []
    for (queue_type, driver), group in frame.groupby(["queue_type", "driver"], sort=False):
        fixed = group[group["rate"] != "max"]
        peak = group[group["rate"] == "max"]

        def get(g: pd.DataFrame, role: str, metric: str) -> float:
            v = g[(g["role"] == role) & (g["metric"] == metric)]["value"]
            return float(v.median()) if not v.empty else math.nan

        rows.append({"queue_type": queue_type, "driver": driver,
                     "max_publish_rec_s": get(peak, "producer", "records_per_s"),
                     "max_consume_rec_s": get(peak, "consumer", "records_per_s"),
                     "fixed_rate": float(fixed["target_rate"].dropna().iloc[0]) if not fixed.empty else math.nan,
                     "e2e_p50_ms": get(fixed, "e2e", "p50_ms"), "e2e_p99_ms": get(fixed, "e2e", "p99_ms"),
                     "node_rss_mb_peak": get(peak, "node", "node_rss_mb_peak"),
                     "node_rss_mb_delta": get(peak, "node", "node_rss_mb_delta"),
                     "queue_mem_mb_delta": get(peak, "node", "queue_mem_mb_delta")})
    order = {"classic": 0, "quorum": 1, "stream": 2}
    out = pd.DataFrame(rows, columns=QUEUE_TYPE_COLUMNS)
    return out.sort_values(["queue_type", "driver"], key=lambda s: s.map(order) if s.name == "queue_type" else s,
                           ignore_index=True)


LARGE_READS_COLUMNS = ["driver", "consumer_recv_bytes", "max_publish_rec_s", "max_consume_rec_s", "consume_vs_pika"]
LARGE_READS = "pika-recv16k"


def large_reads_table(results: pd.DataFrame) -> pd.DataFrame:
    """pika's consumer with its 4 KB socket reads beside 16 KB reads, same session, max rate, 100 B."""
    rows = []
    for driver, recv in ((OURS, 4096), (LARGE_READS, 16384)):
        rows.append({"driver": driver, "consumer_recv_bytes": recv,
                     "max_publish_rec_s": _value(results, "throughput", driver, "producer", "records_per_s",
                                                 message_size=100),
                     "max_consume_rec_s": _value(results, "throughput", driver, "consumer", "records_per_s",
                                                 message_size=100)})
    out = pd.DataFrame(rows, columns=LARGE_READS_COLUMNS)
    if out["max_consume_rec_s"].isna().any():
        return pd.DataFrame(columns=LARGE_READS_COLUMNS)
    out["consume_vs_pika"] = out["max_consume_rec_s"] / out["max_consume_rec_s"].iloc[0]
    return out


#: The profile's components by the short key their figures are quoted under (`profile_<process>_<key>`).
PROFILE_KEYS = {"codec": "pika frame codec", "dispatch": "pika channel dispatch", "io": "pika I/O loop",
                "socket": "socket send/recv", "ours": "our code"}
#: The components inside pika (the I/O loop and the socket calls included).
PIKA_PARTS = ("pika frame codec", "pika channel dispatch", "pika I/O loop", "socket send/recv")


def profile_facts(profile: pd.DataFrame) -> dict[str, Any]:
    """The profile's figures: its method ("py-spy" or "cProfile"; "none" when no profile was taken), per
    process its samples, each component's share (%), the share inside pika, and Amdahl's bound on what
    taking the consumer's frame codec and channel dispatch out of Python could gain (×)."""
    from .pika_profile import share

    if profile is None or profile.empty:
        return {"profile_method": "none"}
    out: dict[str, Any] = {"profile_method": str(profile["method"].iloc[0])}
    for process in ("consumer", "producer"):
        rows = profile[profile["process"] == process]
        out[f"profile_{process}_samples"] = int(rows["samples"].sum())
        for key, component in PROFILE_KEYS.items():
            out[f"profile_{process}_{key}"] = share(profile, process, component)
        out[f"profile_{process}"] = sum(share(profile, process, c) for c in PIKA_PARTS)
    per_frame = out["profile_consumer_codec"] + out["profile_consumer_dispatch"]
    out["profile_per_frame"] = per_frame
    out["profile_bound"] = 100 / max(100 - per_frame, 1)
    return out


def large_reads_facts(results: pd.DataFrame) -> dict[str, Any]:
    """The consumer's max rate with 16 KB socket reads and with pika's 4 KB ones in the same session, and
    their ratio (`large_reads`); empty when the profile did not run them."""
    table = large_reads_table(results)
    if table.empty:
        return {}
    plain, large = table.iloc[0], table.iloc[1]
    return {"large_reads": float(large["consume_vs_pika"]), "large_reads_rate": float(large["max_consume_rec_s"]),
            "plain_reads_rate": float(plain["max_consume_rec_s"])}


#: What a pika ÷ PerfTest session must meet before its ratios are judged against their targets: each run
#: measured ≥ 5 s (10 of its 0.5-s ticks), and ≥ 3 interleaved rounds (issue 30: the ratio moved
#: 0.72× … 1.32× between single-round sessions on one machine).
RUN_RULES = rules.RunRules(min_seconds=5.0, min_records=1000, tick_s=0.5)


def validity(config: SpeedConfig, run_rules: rules.RunRules = RUN_RULES) -> rules.Validity:
    """The rules a session of ``config`` breaks before it runs: its measured seconds and its rounds."""
    checked = rules.Validity().extend(run_rules.failures(config.duration_s, run_rules.min_records))
    rounds = [1.0] * config.repeat
    return checked.add(rules.Comparison.of(rounds, rounds).failure())


def verdict(table: pd.DataFrame, config: SpeedConfig | None = None) -> str:
    """How many of the figures meet their target; "no conclusion: <rule>" for a session that does not qualify."""
    if config is not None and not (checked := validity(config)).ok:
        return checked.verdict("")
    judged = table[table["met"].notna()]
    met = int(judged["met"].astype(bool).sum())
    return f"{met} of {len(judged)} figures meet their target"


def facts(result: SpeedResult) -> dict[str, Any]:
    """The figures chapter 03 quotes: the verdict (how many figures meet their target, or "no conclusion"),
    how many figures were judged and how many missed, the app hops measured and within their target (0 and
    0 when the profile runs no app), how many queue types were compared, the profile's shares and the
    large-reads ratio."""
    table = result.table
    judged = table[table["met"].notna()]
    hops = table[table["figure"].str.startswith("app hop") & table["ratio"].notna()]
    out: dict[str, Any] = {"verdict": verdict(table, result.config), "judged": len(judged),
                           "missed": int((~judged["met"].astype(bool)).sum()),
                           "app": int(hops["met"].astype(bool).sum()), "app_hops": len(hops),
                           "queue_types": len(result.config.queue_types)}
    app = result.app
    if app is not None and not app.empty and "metric" in app:
        shadow = app[app["metric"].isin(list(SHADOW_METRICS.values()))].set_index("metric")["value"]
        if len(shadow) == len(SHADOW_METRICS):     # processor → sink records in a Parquet write's shadow (%)
            out["app_shadow_all"] = float(shadow[SHADOW_METRICS["all records"]])
            out["app_shadow_tail"] = float(shadow[SHADOW_METRICS["slowest 1 %"]])
    out.update(profile_facts(result.profile))
    out.update(large_reads_facts(result.results))
    return out


def quick_config(**changes: Any) -> SpeedConfig:
    """The book's quick profile (about 30 s): pika and PerfTest only, 100 B, one fixed rate, no queue types,
    no app run."""
    return replace(SpeedConfig(drivers=(OURS, REFERENCE), sizes=(100,), rates=(1000.0,), half_max=False,
                               warmup_s=1.0, duration_s=2.0, queue_types=(), app=False), **changes)


def config_for(profile: str) -> SpeedConfig:
    """`quick` (CI: one short round, so its verdict is "no conclusion") or `full` (the published book: everything,
    three interleaved rounds of 5-s runs, the least `validity` accepts)."""
    return quick_config() if profile == "quick" else SpeedConfig(warmup_s=1.0, duration_s=5.0, repeat=3)


__all__ = ["SpeedConfig", "SpeedResult", "run_all", "throughput", "latency_sweep", "queue_types", "app_hops",
    "speed_table", "queue_type_table", "large_reads_table", "large_reads", "profile_run", "half_of_slower_max",
    "NodeMemory", "verdict", "validity", "RUN_RULES", "quick_config", "config_for", "facts", "profile_facts",
    "large_reads_facts", "SPEED_COLUMNS",
    "TARGETS"]
