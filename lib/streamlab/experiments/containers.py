"""A live tour of the containerised stack (STACK=podman), as tidy DataFrames for the book.

What chapters 01 ("Describe the Docker setup of your application") and 03 ("Pack your rewritten
application into containers") show: the containers and their images and sizes, the project's
network and how a service finds a broker by name, per-container CPU and memory, a broker container
killed and restarted with the cluster's reaction, and the application's figures from a run in
containers beside a run as local processes.

The parsing and summarising functions are pure (text or files in, frames out) and unit-tested;
the functions that ask podman or the brokers are marked "live". Where podman is absent,
:func:`podman_available` says so and :func:`static_check` shows what is still checked without it.

`python -m streamlab.experiments.containers run-app` is `make app STACK=podman`.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..stack import StackConfig
from ..stack.podman import PROJECT_LABEL, container_states, project_name, project_objects
from ..stack.podman_images import APP_IMAGE, BASE_IMAGE, KAFKA_IMAGE, LABEL, RABBITMQ_IMAGE, podman
from .application import delivery, ground_truth, sink_output
from .application import latency as stage_latency
from .application import metrics as run_metrics

IMAGES = (BASE_IMAGE, KAFKA_IMAGE, RABBITMQ_IMAGE, APP_IMAGE)


# ---- pure parts ---------------------------------------------------------------------------------

def parse_size(text: str) -> float:
    """'12.5MB' / '1.2GiB' / '512kB' / '0B' -> megabytes (10^6 bytes)."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([kKMGT]?i?B)?\s*", text or "")
    if not match:
        return float("nan")
    number, unit = float(match.group(1)), (match.group(2) or "B")
    factor = {"B": 1, "kB": 1e3, "KB": 1e3, "KiB": 1024, "MB": 1e6, "MiB": 1024**2, "GB": 1e9, "GiB": 1024**3,
              "TB": 1e12, "TiB": 1024**4}.get(unit, 1)
    return number * factor / 1e6


def parse_stats(text: str) -> pd.DataFrame:
    """`podman stats --no-stream --format json` -> container, cpu_percent, mem_mb, mem_limit_mb, mem_percent."""
    entries = json.loads(text or "[]")
    rows = []
    for entry in entries:
        usage = str(entry.get("mem_usage", "")).split("/")
        rows.append({
            "container": entry.get("name", ""),
            "cpu_percent": float(str(entry.get("cpu_percent", "nan")).rstrip("%") or "nan"),
            "mem_mb": parse_size(usage[0]) if usage else float("nan"),
            "mem_limit_mb": parse_size(usage[1]) if len(usage) > 1 else float("nan"),
            "mem_percent": float(str(entry.get("mem_percent", "nan")).rstrip("%") or "nan"),
            "pids": int(entry.get("pids") or 0),
        })
    frame = pd.DataFrame(rows, columns=["container", "cpu_percent", "mem_mb", "mem_limit_mb", "mem_percent", "pids"])
    return frame.sort_values("container", ignore_index=True)


def parse_containers(text: str) -> pd.DataFrame:
    """`podman ps -a --format json` -> container, service, image, state, ports (host -> container)."""
    rows = []
    for entry in json.loads(text or "[]"):
        names = entry.get("Names") or [""]
        ports = ", ".join(f"{p.get('host_ip') or '0.0.0.0'}:{p.get('host_port')}->{p.get('container_port')}"
                          for p in entry.get("Ports") or [])
        labels = entry.get("Labels") or {}
        rows.append({"container": names[0] if isinstance(names, list) else names,
                     "service": labels.get("io.streamlab.service", ""), "image": entry.get("Image", ""),
                     "state": str(entry.get("State", "")).lower(), "ports": ports or "-",
                     "networks": ", ".join(entry.get("Networks") or [])})
    frame = pd.DataFrame(rows, columns=["container", "service", "image", "state", "ports", "networks"])
    return frame.sort_values("container", ignore_index=True)


def run_summary(data_dir: str | Path, label: str = "") -> dict[str, Any]:
    """The figures of one bounded app run from its files: rate, exactly-once, end-to-end latency."""
    data_dir = Path(data_dir)
    truth = ground_truth.load_ground_truth(data_dir / "ground_truth.json")
    metrics = run_metrics.load_metrics(data_dir / "metrics", truth.epoch_ns)
    counters = run_metrics.final_counters(metrics)
    sent = int(counters.loc["telemetry-generator", "sent"])
    health = sink_output.load_health(data_dir / "health")
    once = delivery.exactly_once(health, delivery.expected_per_machine(sent, truth.machines))
    generator = metrics[(metrics["service"] == "telemetry-generator") & (metrics["metric"] == "sent")]
    span = float(generator["t_s"].max() - generator["t_s"].min()) if len(generator) > 1 else float("nan")
    first_sent = float(generator["value"].min()) if len(generator) else 0.0
    end_to_end = (
        stage_latency.latency_summary(stage_latency.latency_stages(health, truth.epoch_ns))
        .set_index("stage")
        .loc[stage_latency.STAGE_NAMES[-1]]
    )
    return {
        "run": label or data_dir.name,
        "machines": len(truth.machines),
        "readings sent": sent,
        "rows in Parquet": len(health),
        "telemetry rate (readings/s)": (sent - first_sent) / span if span and span > 0 else float("nan"),
        "machines exactly once": f"{int(once['exactly_once'].sum())} of {len(once)}",
        "exactly once": bool(once["exactly_once"].all()) and len(once) > 0,
        "duplicates": int(once["duplicates"].sum()),
        "missing": int(once["missing"].sum()),
        "p50 end to end (ms)": float(end_to_end["p50_ms"]),
        "p99 end to end (ms)": float(end_to_end["p99_ms"]),
    }


def compare_runs(summaries: list[dict[str, Any]]) -> pd.DataFrame:
    """Runs side by side: one column per run, one row per figure."""
    frame = pd.DataFrame(summaries).set_index("run").T
    frame.index.name = "figure"
    return frame


def reaction_verdict(timeline: pd.DataFrame, nodes: int) -> dict[str, Any]:
    """What the kill/restart timeline showed: seconds until the cluster noticed, until it was whole again, and
    whether at least ``nodes - 1`` brokers served throughout (facts; the chapter words them)."""
    killed = timeline.loc[timeline["event"] == "killed", "t_s"]
    restarted = timeline.loc[timeline["event"] == "restarted", "t_s"]
    t_kill = float(killed.iloc[0]) if len(killed) else float("nan")
    t_restart = float(restarted.iloc[0]) if len(restarted) else float("nan")
    after_kill = timeline[(timeline["t_s"] > t_kill) & (timeline["t_s"] < t_restart)]
    fenced = after_kill[after_kill["unfenced"] < nodes]
    whole = timeline[(timeline["t_s"] > t_restart) & (timeline["unfenced"] >= nodes)]
    served = after_kill["unfenced"].dropna()
    noticed_s = float(fenced["t_s"].iloc[0] - t_kill) if len(fenced) else float("nan")
    whole_s = float(whole["t_s"].iloc[0] - t_restart) if len(whole) else float("nan")
    return {
        "noticed_s": noticed_s,  # nan: no broker was seen fenced before the restart
        "whole_again_s": whole_s,  # nan: the timeline ended before every broker was registered again
        "served_throughout": bool(len(served)) and bool((served >= nodes - 1).all()),
    }


def parse_duration(text: str) -> float:
    """'20s' / '2m' / '45' -> seconds (the workloads' parser); a bad value is a UserError (one line)."""
    from ..bench.workload import WorkloadError
    from ..bench.workload import parse_duration as seconds_of
    from ..errors import UserError

    try:
        return seconds_of(text or "", "DURATION")
    except WorkloadError:
        raise UserError(f"DURATION={text!r} is not a duration: use e.g. 20s or 2m") from None


# ---- live parts -----------------------------------------------------------------------------------

def podman_available() -> bool:
    """podman installed and the project's images built: the live tour can run."""
    if shutil.which("podman") is None:
        return False
    return all(podman("image", "exists", tag, check=False).returncode == 0 for tag in IMAGES)


def static_check() -> pd.DataFrame:
    """What is checked without podman: the compose files against the schema and the code."""
    from ..stack import compose_check as cc

    rows = [{"file": Path(path).name, "problems": len(problems), "first problem": (problems or ["-"])[0]}
            for path, problems in cc.check_all().items()]
    return pd.DataFrame(rows, columns=["file", "problems", "first problem"])


def images_table() -> pd.DataFrame:
    """live: each project image, its size and inputs label, and what it is built from."""
    built_from = {BASE_IMAGE: "debootstrap --variant=minbase bookworm, podman import",
                  KAFKA_IMAGE: "base + Debian openjdk-17-jre-headless + Kafka jars (Maven Central)",
                  RABBITMQ_IMAGE: "base + Debian rabbitmq-server (management plugin)",
                  APP_IMAGE: "base + Debian python3 + streamlab wheelhouse built on the host"}
    rows = []
    for tag in IMAGES:
        out = podman("image", "inspect", tag, check=False)
        if out.returncode != 0:
            rows.append({"image": tag, "size_mb": float("nan"), "built from": built_from[tag], "inputs": "missing"})
            continue
        info = json.loads(out.stdout)[0]
        rows.append({"image": tag, "size_mb": round(info.get("Size", 0) / 1e6, 1), "built from": built_from[tag],
                     "inputs": (info.get("Labels") or {}).get(LABEL, "")})
    return pd.DataFrame(rows)


def containers_table(config: StackConfig | None = None) -> pd.DataFrame:
    """live: the project's containers with image, state and published ports."""
    project = project_name(config or StackConfig.from_env())
    out = podman("ps", "-a", "--filter", f"label={PROJECT_LABEL}={project}", "--format", "json", check=False)
    return parse_containers(out.stdout)


def network_table(config: StackConfig | None = None) -> pd.DataFrame:
    """live: the project's network (subnet, DNS) and each container's address on it."""
    project = project_name(config or StackConfig.from_env())
    info = json.loads(podman("network", "inspect", project).stdout)[0]
    subnets = ", ".join(s.get("subnet", "") for s in info.get("subnets") or [])
    rows = []
    for name in sorted(container_states(project)):
        inspect = json.loads(podman("container", "inspect", name).stdout)[0]
        net = (inspect.get("NetworkSettings", {}).get("Networks") or {}).get(project, {})
        rows.append({"network": project, "subnet": subnets, "dns": bool(info.get("dns_enabled")),
                     "container": name, "address": net.get("IPAddress", ""),
                     "aliases": ", ".join(a for a in net.get("Aliases") or [] if len(a) < 40)})
    return pd.DataFrame(rows, columns=["network", "subnet", "dns", "container", "address", "aliases"])


RESOLVE_SCRIPT = ("import socket, sys, time\n"
                  "for name in sys.argv[1:]:\n"
                  "    t = time.perf_counter(); addr = socket.gethostbyname(name)\n"
                  "    s = socket.create_connection((addr, int(name.split(':')[1]) if ':' in name else 9092), 3)\n"
                  "    s.close(); print(name, addr, round((time.perf_counter() - t) * 1000, 2))\n")


def resolve_by_name(names: list[str], port: int, config: StackConfig | None = None) -> pd.DataFrame:
    """live: a throwaway app container on the project network looks each broker up by name and connects.

    Shows what the services do: `kafka-1` is resolved by the network's DNS (aardvark-dns) to the
    broker container's address on the project network; nothing is published for it."""
    project = project_name(config or StackConfig.from_env())
    script = RESOLVE_SCRIPT.replace("9092", str(port))
    out = podman("run", "--rm", "--network", project, "--label", f"{PROJECT_LABEL}={project}",
                 "--entrypoint", "python3", APP_IMAGE, "-c", script, *names)
    rows = [dict(zip(("name", "address", "resolve_and_connect_ms"), line.split())) for line in out.stdout.splitlines()]
    frame = pd.DataFrame(rows, columns=["name", "address", "resolve_and_connect_ms"])
    frame["port"] = port
    frame["resolve_and_connect_ms"] = frame["resolve_and_connect_ms"].astype(float)
    return frame


def container_stats(config: StackConfig | None = None) -> pd.DataFrame:
    """live: CPU and memory of each running container of the project (one `podman stats` sample)."""
    project = project_name(config or StackConfig.from_env())
    names = [n for n, s in container_states(project).items() if s["state"] == "running"]
    if not names:
        return parse_stats("[]")
    return parse_stats(podman("stats", "--no-stream", "--format", "json", *names).stdout)


def kill_and_restart(stack: Any, node: int = 2, down_s: float = 12.0, settle_s: float = 30.0,
                     poll_s: float = 1.0, observe: Callable[[], dict[str, Any]] | None = None) -> pd.DataFrame:
    """live: SIGKILL one Kafka broker container, wait, start it again; the controller's view each second.

    Columns: t_s (since the kill), event (sample | killed | restarted), unfenced (brokers the
    controller sees), quorum_leader, running (containers up)."""
    from ..transport.kafka_admin import describe_kafka_cluster

    kafka = stack.part("kafka")
    nodes = kafka.nodes

    def sample() -> dict[str, Any]:
        if observe is not None:
            return observe()
        try:
            view = describe_kafka_cluster(stack.config.kafka_bootstrap, attempts=1)
            return {"unfenced": len(view.unfenced), "quorum_leader": view.quorum_leader}
        except Exception:  # noqa: BLE001 - a fetch during the election may fail: record the gap
            return {"unfenced": np.nan, "quorum_leader": np.nan}

    def running() -> int:
        return sum(row.state == "running" for row in kafka.status())

    rows = []
    start = time.monotonic()
    kafka.kill_node(node)
    rows.append({"t_s": 0.0, "event": "killed", **sample(), "running": running()})
    while time.monotonic() - start < down_s:
        time.sleep(poll_s)
        rows.append({"t_s": time.monotonic() - start, "event": "sample", **sample(), "running": running()})
    kafka.restart_node(node, wait=False)
    rows.append({"t_s": time.monotonic() - start, "event": "restarted", **sample(), "running": running()})
    end = time.monotonic() + settle_s
    while time.monotonic() < end:
        time.sleep(poll_s)
        row = {"t_s": time.monotonic() - start, "event": "sample", **sample(), "running": running()}
        rows.append(row)
        if row["unfenced"] == nodes and time.monotonic() - start > down_s + 3:
            break
    return pd.DataFrame(rows, columns=["t_s", "event", "unfenced", "quorum_leader", "running"])


def tour_config(port_offset: int = 400) -> StackConfig:
    """A podman stack on its own ports (the environment's + `port_offset`), beside the local stack the
    other chapters use, so the tour can run during a book build."""
    from dataclasses import replace

    base = StackConfig.from_env()
    return replace(base, stack="podman", brokers=3, rabbit_nodes=1, kafka_port=base.kafka_port + port_offset,
                   amqp_port=base.amqp_port + port_offset, rabbit_mgmt_port=base.rabbit_mgmt_port + port_offset,
                   kafka_bootstrap_override="", amqp_url_override="")


def start_tour_stack(config: StackConfig, broker: str = "all") -> tuple[Any, float]:
    """live: images built if needed, the compose stack up in containers; returns (stack, seconds to ready)."""
    from ..stack import Stack
    from ..stack.podman_images import build_all

    build_all()
    stack = Stack(config, broker)
    started = time.monotonic()
    stack.up()
    return stack, time.monotonic() - started


def stop_tour_stack(stack: Any) -> pd.DataFrame:
    """live: containers, volumes and network removed; returns what is left of the project (empty)."""
    stack.down()
    stack.clean()
    return leftovers(stack.config)


def run_app_locally(broker: str = "kafka", duration_s: float = 20.0, machines: int = 20,
                    data_dir: Path | None = None) -> dict[str, Any]:
    """live: the same bounded run as local processes on the environment's stack, for the side-by-side."""
    from ..paths import DATA_DIR
    from ..pipeline.runner import AppConfig, AppRun

    data_dir = Path(data_dir or DATA_DIR / "app-local-compare")
    if data_dir.exists():
        shutil.rmtree(data_dir)
    run = AppRun(AppConfig(broker=broker, machines=machines, duration_s=duration_s, data_dir=data_dir,
                           namespace=f"local{int(time.time())}"))
    try:
        run.start()
        while run.generators_running():
            run._check_alive()
            time.sleep(1.0)
    except BaseException:
        run.kill_all()
        raise
    codes = run.stop()
    summary = run_summary(data_dir, f"local processes ({broker})")
    summary["non-zero exits"] = ", ".join(f"{k}={v}" for k, v in codes.items() if v not in (0, None)) or "none"
    return summary


def leftovers(config: StackConfig | None = None) -> pd.DataFrame:
    """live: the project's containers, pods and networks still present (empty after `make down`)."""
    objects = project_objects(project_name(config or StackConfig.from_env()))
    return pd.DataFrame([{"kind": kind, "name": name} for kind, names in objects.items() for name in names],
                        columns=["kind", "name"])


@dataclass
class ContainerRun:
    """A bounded app run in containers: its figures (as `run_summary`) and `podman stats` mid-run."""

    summary: dict[str, Any]
    stats: pd.DataFrame


def run_app_in_containers(broker: str = "kafka", duration_s: float = 20.0, machines: int = 20,
                          data_dir: Path | None = None, config: StackConfig | None = None,
                          namespace: str = "", progress: Callable[[str], None] | None = None) -> ContainerRun:
    """live: the five services, each in its own container, for `duration_s`; then the run's figures,
    with one `podman stats` sample of every container half-way through."""
    from ..pipeline.container_runner import ContainerAppRun, data_dir_default
    from ..pipeline.runner import AppConfig

    data_dir = Path(data_dir or data_dir_default())
    if data_dir.exists():
        shutil.rmtree(data_dir)
    app_config = AppConfig(broker=broker, machines=machines, duration_s=duration_s, data_dir=data_dir,
                           namespace=namespace or f"podman{int(time.time())}")
    run = ContainerAppRun(app_config, config)
    try:
        run.start()
        say = progress or (lambda _msg: None)
        say(f"{len(run.services)} containers running on network {run.project.network}; "
            f"generators for {duration_s:.0f} s")
        started = time.monotonic()
        stats = parse_stats("[]")
        while run.generators_running():
            run._check_alive()
            if stats.empty and time.monotonic() - started >= duration_s / 2:
                stats = container_stats(run.stack_config)
            time.sleep(1.0)
        say("generators done; draining processor and sinks ...")
    except BaseException:
        run.kill_all()
        raise
    codes = run.stop()
    failed = {name: code for name, code in codes.items() if code not in (0, None)}
    summary = run_summary(data_dir, f"containers ({broker})")
    summary["non-zero exits"] = ", ".join(f"{k}={v}" for k, v in failed.items()) or "none"
    return ContainerRun(summary, stats)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    from ..errors import UserError

    parser = argparse.ArgumentParser(prog="python -m streamlab.experiments.containers")
    sub = parser.add_subparsers(dest="command", required=True)
    app = sub.add_parser("run-app", help="the pipeline with each service in its own container (STACK=podman)")
    app.add_argument("--broker", default="kafka", choices=["kafka", "rabbitmq"])
    app.add_argument("--duration", default="20s")
    app.add_argument("--machines", type=int, default=20)
    app.add_argument("--data-dir", type=Path, default=None)
    sub.add_parser("leftovers", help="containers, pods and networks of the project still present")
    args = parser.parse_args(argv)
    try:
        if args.command == "leftovers":
            print(leftovers().to_string(index=False) if len(leftovers()) else "no container, pod or network left")
            return 0
        duration = parse_duration(args.duration)
        result = run_app_in_containers(args.broker, duration, args.machines, args.data_dir,
                                       progress=lambda msg: print(msg, flush=True))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = result.summary
    if not result.stats.empty:
        print(result.stats.round(1).to_string(index=False))
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        print(f"{key:<{width}}  {value:,.1f}" if isinstance(value, float) else f"{key:<{width}}  {value}")
    return 0 if summary["exactly once"] and summary["non-zero exits"] == "none" else 1


if __name__ == "__main__":
    raise SystemExit(main())
