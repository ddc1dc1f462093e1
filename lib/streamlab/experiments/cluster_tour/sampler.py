"""`ClusterSampler`: the cluster's metadata and its controller quorum, sampled at a fixed interval."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from ...transport.kafka_admin import admin_client, quorum_client
from .clock import Clock
from .probes import error_text
from .quorum import quiet_kafka_python


class ClusterSampler:
    """Records, every ``every_s``, the live brokers and each partition's leader and ISR; the quorum leader too.

    Metadata comes from one long-lived AdminClient (a Metadata request costs
    about a millisecond on a warm connection); the quorum from kafka-python's
    DescribeQuorum in its own thread, because that call can hang for its full
    timeout while the quorum is being re-elected. What the cluster answers is
    recorded as it is, stale or not: while the quorum is lost, a surviving
    broker keeps serving the metadata it had.
    """

    def __init__(self, bootstrap: str, topics: Sequence[str], clock: Clock, every_s: float = 0.5) -> None:
        self.bootstrap = bootstrap
        self.topics = list(topics)
        self.clock = clock
        self.every_s = every_s
        self.partition_rows: list[dict[str, Any]] = []
        self.broker_rows: list[dict[str, Any]] = []
        self.quorum_rows: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._latest: tuple[float, list[int], dict[str, list[dict[str, Any]]]] | None = None
        self._latest_quorum: dict[str, Any] | None = None
        self._threads = [threading.Thread(target=self._metadata_loop, name="tour-metadata", daemon=True),
                         threading.Thread(target=self._quorum_loop, name="tour-quorum", daemon=True)]

    def start(self) -> ClusterSampler:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            if thread.ident is not None:  # started
                thread.join(timeout=10)

    # -- what the orchestrator waits on
    def latest(self) -> tuple[float, list[int], dict[str, list[dict[str, Any]]]] | None:
        with self._lock:
            return self._latest

    def latest_quorum(self) -> dict[str, Any] | None:
        with self._lock:
            return self._latest_quorum

    def wait_sample(self, predicate: Callable[[list[int], dict[str, list[dict[str, Any]]]], bool],
                    timeout_s: float, after: float | None = None) -> float | None:
        """Time of the first sample (taken after ``after``) for which ``predicate(live, partitions)`` holds."""
        after = self.clock.now() if after is None else after
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            latest = self.latest()
            if latest is not None and latest[0] > after and predicate(latest[1], latest[2]):
                return latest[0]
            time.sleep(self.every_s / 4)
        return None

    # -- the loops
    def _metadata_loop(self) -> None:
        from confluent_kafka import KafkaException

        admin = admin_client(self.bootstrap)
        while not self._stop.is_set():
            started = time.monotonic()
            t = round(self.clock.now(), 3)
            try:
                metadata = admin.list_topics(timeout=max(1.0, self.every_s * 2))
            except KafkaException as exc:
                self.broker_rows.append({"t_s": t, "live": "", "live_count": None, "answered": False,
                                         "error": error_text(str(exc.args[0]))})
            else:
                live = sorted(metadata.brokers)
                self.broker_rows.append({"t_s": t, "live": " ".join(map(str, live)), "live_count": len(live),
                                         "answered": True, "error": ""})
                parts: dict[str, list[dict[str, Any]]] = {}
                for name in self.topics:
                    topic = metadata.topics.get(name)
                    if topic is None:
                        continue
                    for pid, part in sorted(topic.partitions.items()):
                        row = {"t_s": t, "topic": name, "partition": pid, "leader": part.leader,
                               "replicas": list(part.replicas), "isr": list(part.isrs),
                               "isr_size": len(part.isrs), "rf": len(part.replicas),
                               "error": part.error.name() if part.error else ""}
                        parts.setdefault(name, []).append(row)
                        self.partition_rows.append(row)
                with self._lock:
                    self._latest = (t, live, parts)
            admin.poll(0)  # serve the log lines queued meanwhile (refused connections while a node is down)
            self._stop.wait(max(0.0, self.every_s - (time.monotonic() - started)))

    def _quorum_loop(self) -> None:
        client = None
        with quiet_kafka_python():
            while not self._stop.is_set():
                started = time.monotonic()
                t = round(self.clock.now(), 3)
                try:
                    if client is None:
                        client = quorum_client(self.bootstrap, "streamlab-tour", 1500, bootstrap_timeout_ms=1500)
                    part = client.describe_metadata_quorum()["topics"][0]["partitions"][0]
                    row = {"t_s": t, "quorum_leader": part["leader_id"], "leader_epoch": part["leader_epoch"],
                           "high_watermark": part["high_watermark"],
                           "voters_caught_up": sum(v["log_end_offset"] >= part["high_watermark"]
                                                   for v in part["current_voters"]),
                           "answered": True, "error": ""}
                except Exception as exc:  # noqa: BLE001 - leaderless quorum, or the node we asked is gone: ask afresh
                    row = {"t_s": t, "quorum_leader": -1, "leader_epoch": None, "high_watermark": None,
                           "voters_caught_up": None, "answered": False, "error": type(exc).__name__}
                    if client is not None:
                        try:
                            client.close()
                        except Exception:  # noqa: BLE001 - closing a broken client: nothing to do
                            pass
                        client = None
                self.quorum_rows.append(row)
                with self._lock:
                    self._latest_quorum = row
                self._stop.wait(max(0.0, self.every_s - (time.monotonic() - started)))
            if client is not None:
                client.close()

    # -- the frames
    def partitions(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.partition_rows, columns=["t_s", "topic", "partition", "leader", "replicas", "isr",
                                                           "isr_size", "rf", "error"])
        frame["replicas"] = frame["replicas"].map(lambda r: " ".join(map(str, r)))
        frame["isr"] = frame["isr"].map(lambda r: " ".join(map(str, r)))
        return frame

    def brokers(self) -> pd.DataFrame:
        return pd.DataFrame(self.broker_rows, columns=["t_s", "live", "live_count", "answered", "error"])

    def quorum(self) -> pd.DataFrame:
        return pd.DataFrame(self.quorum_rows, columns=["t_s", "quorum_leader", "leader_epoch", "high_watermark",
                                                       "voters_caught_up", "answered", "error"])
