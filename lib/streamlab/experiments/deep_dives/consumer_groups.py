"""Deep dive 1: consumer groups — how partitions are shared as members join, and when members stay idle.

`scaling` runs, for each group size, that many consumers (threads, one
librdkafka client each) in one new group on a topic with ``partitions``
partitions. It first waits until the group is *stable* (every partition
assigned, the assignment unchanged for a moment), then writes ``records``
evenly over the partitions and lets the group drain them. One row per member:
partitions it owned and records it consumed; a member with no partition is
idle — a group never splits a partition between members.
"""

from __future__ import annotations

import threading
import time

import pandas as pd

from . import common

#: Each member is a librdkafka client with its own threads; on a small machine more
#: than this many in one process measure the machine, not the group.
MAX_MEMBERS = 16


def check_sizes(sizes, partitions: int) -> None:
    common.require(len(sizes) > 0 and all(int(n) >= 1 for n in sizes), "group sizes must be whole numbers ≥ 1")
    common.require(max(sizes) <= MAX_MEMBERS,
                   f"{max(sizes)} consumers is more than this experiment runs on one machine "
                   f"(at most {MAX_MEMBERS}); use fewer, e.g. up to {partitions + 2} for {partitions} partitions")
    common.require(1 <= partitions <= 64, "partitions must lie between 1 and 64")


class _Member(threading.Thread):
    def __init__(self, bootstrap: str, group: str, topic_name: str, index: int, stop: threading.Event,
                 settings: dict) -> None:
        super().__init__(name=f"member-{index}", daemon=True)
        self.index = index
        self.owned: set[int] = set()
        self.consumed = 0
        self.joined = threading.Event()
        self._halt = stop
        self._client = common.consumer(bootstrap, group, **settings)
        self._topic = topic_name
        self.lock = threading.Lock()

    def _on_assign(self, consumer, partitions) -> None:
        with self.lock:
            self.owned |= {p.partition for p in partitions}
        self.joined.set()

    def _on_revoke(self, consumer, partitions) -> None:
        with self.lock:
            self.owned -= {p.partition for p in partitions}

    def run(self) -> None:
        self._client.subscribe([self._topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        try:
            while not self._halt.is_set():
                for msg in self._client.consume(500, 0.2):
                    if not msg.error():
                        self.consumed += 1
        finally:
            self._client.close()  # a graceful leave


def _stable(members: list[_Member], partitions: int) -> tuple[int, ...] | None:
    owned = []
    for m in members:
        with m.lock:
            owned.append(tuple(sorted(m.owned)))
    flat = [p for o in owned for p in o]
    return tuple(len(o) for o in owned) if sorted(flat) == list(range(partitions)) else None


def scaling(bootstrap: str, sizes=(1, 2, 3, 6, 8), *, partitions: int = 6, records: int = 6000,
            timeout_s: float = 60.0) -> pd.DataFrame:
    """One row per (group size, member): partitions owned at the stable point and records consumed."""
    sizes = [int(n) for n in sizes]
    check_sizes(sizes, partitions)
    common.require(records >= partitions, "send at least one record per partition")
    specs = {n: common.topic(common.unique(f"groups{n}"), partitions) for n in sizes}
    rows = []
    with common.scratch_topics(bootstrap, list(specs.values())):
        writer = common.producer(bootstrap, linger_ms=5)
        for n in sizes:
            spec = specs[n]
            stop = threading.Event()
            group = common.unique(f"group{n}")
            members = [_Member(bootstrap, group, spec.name, i, stop, {"enable.auto.commit": True})
                       for i in range(n)]
            for m in members:
                m.start()
            try:
                joined_at = time.monotonic()
                stable, last, since = None, None, time.monotonic()
                deadline = joined_at + timeout_s
                while time.monotonic() < deadline:
                    now = _stable(members, partitions) if all(m.joined.is_set() for m in members) else None
                    if now != last:
                        last, since = now, time.monotonic()
                    elif now is not None and time.monotonic() - since >= 2.0:
                        stable = now
                        break
                    time.sleep(0.1)
                stable_s = time.monotonic() - joined_at
                owned = {m.index: sorted(m.owned) for m in members}
                started = time.monotonic()
                for i in range(records):
                    writer.produce(spec.name, str(i).encode(), partition=i % partitions)
                    if i % 1000 == 0:
                        writer.poll(0)
                writer.flush(30)
                common.holds_within(lambda: sum(m.consumed for m in members) >= records,  # noqa: B023 - waited on here
                                    timeout_s, 0.05)
                drained_s = time.monotonic() - started
            finally:
                stop.set()
                for m in members:
                    m.join(timeout=30)
            for m in members:
                rows.append({"consumers": n, "member": m.index, "partitions_owned": len(owned[m.index]),
                             "owned": " ".join(map(str, owned[m.index])), "records": m.consumed,
                             "idle": len(owned[m.index]) == 0, "group_stable": stable is not None,
                             "seconds_to_stable": round(stable_s, 2), "drain_s": round(drained_s, 3),
                             "group_records_per_s": records / drained_s})
    return pd.DataFrame(rows)


def scaling_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per group size: idle members, the busiest member's share, and the group's rate."""
    return frame.groupby("consumers").agg(
        idle_members=("idle", "sum"), max_partitions_per_member=("partitions_owned", "max"),
        records=("records", "sum"), busiest_member_records=("records", "max"),
        seconds_to_stable=("seconds_to_stable", "first"), group_records_per_s=("group_records_per_s", "first"),
    ).reset_index()
