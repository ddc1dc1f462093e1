"""Issue 20: the Kafka clients of chapter 01's kernel survive group coordinators moving under them.

While the application runs, the chapter's kernel samples lag every second from a
background thread (`RunSampler` + `KafkaLagProbe`), the runner asks for each
group's backlog from the main thread while it drains (`AppRun.group_backlog` →
transport → `explorer.describe_groups`), and an "intruder" producer comes and
goes. With librdkafka's `AdminClient.list_consumer_group_offsets` behind both
lag readers, the process died with SIGSEGV when an OffsetFetch reached a broker
that had just stopped being the group's coordinator (NOT_COORDINATOR; the rules
are in `streamlab.transport.kafka_admin`).

The test runs exactly that mix in a plain subprocess (so a segfault is an exit
code, −11, not a dead pytest), at a 50 ms interval instead of 1 s, and moves
every group coordinator a dozen times meanwhile, the way the controller's
periodic preferred-leader election does: it rotates the replica order of each
`__consumer_offsets` partition (a metadata-only reassignment) and elects the new
preferred leader, every broker staying up. The worker stops after 60 s at most.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import streamlab
from plugins.stacks import CLUSTER_ENV, stack_env
from streamlab.pipeline.wiring import GROUP_TOPICS
from streamlab.transport import kafka_admin
from streamlab.transport.spec import TopicSpec

pytestmark = [pytest.mark.cluster, pytest.mark.kafka]

INTERVAL_S = 0.05
MOVES = 12
WORKER_MAX_S = 60

WORKER = r"""
import json, sys, time
from pathlib import Path

from streamlab.pipeline.runner import AppConfig, AppRun
from streamlab.pipeline.wiring import GROUP_TOPICS
from streamlab.experiments.application.kafka_probes import KafkaLagProbe
from streamlab.experiments.application.sampler import RunSampler

namespace, stop_file = sys.argv[1], Path(sys.argv[2])
interval, max_s = float(sys.argv[3]), float(sys.argv[4])
run = AppRun(AppConfig(namespace=namespace, data_dir=stop_file.parent))
groups = {f"{namespace}.{group}": [f"{namespace}.{topic}" for topic in topics]
          for group, topics in GROUP_TOPICS.items()}
probe = KafkaLagProbe(run.transport.bootstrap, groups)
drains = drain_errors = intruders = rounds = 0
with RunSampler({}, probe, interval) as sampler:
    print("sampling", flush=True)
    end = time.monotonic() + max_s
    while not stop_file.exists() and time.monotonic() < end:
        rounds += 1
        for group in GROUP_TOPICS:
            try:
                run.group_backlog(group)      # what the runner asks every 0.5 s while it drains
                drains += 1
            except Exception:                 # a moving coordinator may fail a call; it must not kill us
                drain_errors += 1
        if rounds % 3 == 1:                   # an intruder producer, made and closed mid-run
            intruder = run.transport.publisher("intruder")
            intruder.publish(next(iter(groups.values()))[0], b"m-0", b"not a reading")
            intruder.close()
            intruders += 1
        time.sleep(interval)
print(json.dumps({"lag_rows": len(sampler.lag_rows), "sampler_errors": sampler.errors, "drains": drains,
                  "drain_errors": drain_errors, "intruders": intruders}), flush=True)
"""


def _seed_groups(bootstrap: str, namespace: str) -> None:
    """The app's topics with records, and each of its groups having committed part of them."""
    from confluent_kafka import Consumer, Producer

    topics = sorted({f"{namespace}.{t}" for ts in GROUP_TOPICS.values() for t in ts})
    kafka_admin.ensure_topics(bootstrap, [TopicSpec(t, "test", partitions=3, replication=3) for t in topics])
    producer = Producer({"bootstrap.servers": bootstrap})
    for topic in topics:
        for i in range(30):
            producer.produce(topic, b"%d" % i, key=b"%d" % (i % 7))
    assert producer.flush(30) == 0
    for group, group_topics in GROUP_TOPICS.items():
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{namespace}.{group}",
                             "auto.offset.reset": "earliest", "enable.auto.commit": False})
        consumer.subscribe([f"{namespace}.{t}" for t in group_topics])
        seen, deadline = 0, time.monotonic() + 30
        while seen < 20 and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            seen += msg is not None and msg.error() is None
        consumer.commit(asynchronous=False)
        consumer.close()
        assert seen > 0, f"the seeding consumer of {group} read nothing"


def _move_every_coordinator(bootstrap: str) -> dict[int, tuple[int, int]]:
    """Rotate each __consumer_offsets partition's replicas and elect the new preferred leader: every group
    coordinator moves to another live broker. Returns {partition: (old leader, new leader)}."""
    from kafka import TopicPartition
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="coordinator-mover")
    try:
        def leaders() -> dict[int, tuple[int, list[int]]]:
            meta = admin.describe_topics(["__consumer_offsets"])[0]["partitions"]
            return {p["partition_index"]: (p["leader_id"], p["replica_nodes"]) for p in meta}

        before = leaders()
        admin.alter_partition_reassignments(
            {TopicPartition("__consumer_offsets", p): replicas[1:] + replicas[:1]
             for p, (_, replicas) in before.items()}, timeout_ms=30_000)
        admin.elect_leaders(0, {"__consumer_offsets": sorted(before)}, timeout_ms=30_000, raise_errors=False)
        after = leaders()
        return {p: (before[p][0], after[p][0]) for p in before}
    finally:
        admin.close()


def test_lag_sampling_and_drain_survive_moving_coordinators(kafka_cluster, unique_name, tmp_path):
    bootstrap = kafka_cluster.endpoints.kafka_bootstrap
    namespace = unique_name
    _seed_groups(bootstrap, namespace)

    lib = str(Path(streamlab.__file__).resolve().parents[1])
    env = stack_env(CLUSTER_ENV) | {"KAFKA_BOOTSTRAP": bootstrap,
                                    "PYTHONPATH": os.pathsep.join(filter(None, [lib, os.environ.get("PYTHONPATH")]))}
    stop_file = tmp_path / "stop"
    with open(tmp_path / "stderr", "w") as stderr:
        worker = subprocess.Popen(
            [sys.executable, "-c", WORKER, namespace, str(stop_file), str(INTERVAL_S), str(WORKER_MAX_S)],
            stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
    moved = 0
    try:
        assert worker.stdout.readline().strip() == "sampling", (tmp_path / "stderr").read_text()[-2000:]
        time.sleep(2)
        for _ in range(MOVES):
            if worker.poll() is not None:
                break
            moved += sum(old != new for old, new in _move_every_coordinator(bootstrap).values())
            time.sleep(1)
        time.sleep(2)
        stop_file.touch()
        out, _ = worker.communicate(timeout=WORKER_MAX_S + 30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()

    stderr_tail = (tmp_path / "stderr").read_text()[-2000:]
    assert worker.returncode == 0, (f"the worker died with exit code {worker.returncode} (-11 is a segfault) "
                                    f"after {moved} coordinator moves; stderr: {stderr_tail}")
    report = json.loads(out.strip().splitlines()[-1])
    print(f"\n{moved} coordinator moves under the worker: {report}")
    assert moved >= MOVES, "the coordinators did not move: the test proved nothing"
    assert report["lag_rows"] > 0 and report["drains"] > 0 and report["intruders"] > 0
