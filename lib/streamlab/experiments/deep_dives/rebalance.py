"""Deep dive 1, continued: what a rebalance costs, per rebalance protocol, and how fast a dead member is replaced.

- `pause`: a group of three consumers reads a 6-partition topic under a steady
  load; a fourth joins. Under the classic *eager* protocol every member gives up
  every partition before the new assignment (stop the world); under
  *cooperative-sticky* only the partitions that move are revoked; under the
  KIP-848 *consumer* protocol (``group.protocol=consumer``, Kafka 4) the broker
  computes the assignment and members hand over partitions one by one on their
  heartbeats. Measured per protocol: partitions revoked from a member that kept
  them in the end, the longest gap in consumption of those kept partitions, and
  the time from the join until the new assignment is complete.
- `member_failure`: three consumers, one of them in its own process; that one
  leaves gracefully (SIGTERM: it closes and sends LeaveGroup) or is killed
  (SIGKILL: the coordinator notices only after ``session.timeout.ms``); measured
  is the time until each of its partitions is owned by a survivor and served
  again (a record consumed from it).

Members are confluent-kafka consumers; their rebalance callbacks are timestamped.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pandas as pd

from ...polling import holds_within
from . import common

#: The protocols compared and the consumer settings that select them.
PROTOCOLS: dict[str, dict[str, str]] = {
    "eager": {"partition.assignment.strategy": "range"},
    "cooperative-sticky": {"partition.assignment.strategy": "cooperative-sticky"},
    "consumer (KIP-848)": {"group.protocol": "consumer"},
}


def check_protocols(protocols) -> list[str]:
    names = list(protocols)
    unknown = [p for p in names if p not in PROTOCOLS]
    common.require(names and not unknown,
                   f"unknown rebalance protocol(s) {unknown or names}: choose from {', '.join(PROTOCOLS)}")
    return names


@dataclass
class _Timeline:
    """Owned partitions, rebalance events and consumption times of one member, on the experiment's clock."""

    owned: set[int] = field(default_factory=set)
    events: list[tuple[float, str, tuple[int, ...]]] = field(default_factory=list)
    consumed: dict[int, list[float]] = field(default_factory=dict)


class _Member(threading.Thread):
    def __init__(self, bootstrap: str, group: str, topic_name: str, index: int, clock0: float,
                 settings: dict[str, str]) -> None:
        super().__init__(name=f"rebalance-member-{index}", daemon=True)
        self.index, self.clock0 = index, clock0
        self.halt = threading.Event()
        self.lock = threading.Lock()
        self.log = _Timeline()
        self._topic = topic_name
        self._client = common.consumer(bootstrap, group, enable_auto_commit=True, auto_commit_interval_ms=500,
                                       **{k.replace(".", "_"): v for k, v in settings.items()})

    def _now(self) -> float:
        return time.monotonic() - self.clock0

    def _on_assign(self, consumer, partitions) -> None:
        with self.lock:
            got = tuple(sorted(p.partition for p in partitions))
            self.log.owned |= set(got)
            self.log.events.append((self._now(), "assigned", got))

    def _on_revoke(self, consumer, partitions) -> None:
        with self.lock:
            lost = tuple(sorted(p.partition for p in partitions))
            self.log.owned -= set(lost)
            self.log.events.append((self._now(), "revoked", lost))

    def owned(self) -> set[int]:
        with self.lock:
            return set(self.log.owned)

    def run(self) -> None:
        self._client.subscribe([self._topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                               on_lost=self._on_revoke)
        try:
            while not self.halt.is_set():
                msgs = self._client.consume(500, 0.05)
                now = self._now()
                with self.lock:
                    for msg in msgs:
                        if not msg.error():
                            self.log.consumed.setdefault(msg.partition(), []).append(now)
        finally:
            self._client.close()


class _Load(threading.Thread):
    """A steady, bounded load spread evenly over the partitions, until stopped (at most ``max_s``)."""

    def __init__(self, bootstrap: str, topic_name: str, partitions: int, rate_per_s: float, max_s: float) -> None:
        super().__init__(name="rebalance-load", daemon=True)
        self.halt = threading.Event()
        self._args = (topic_name, partitions, rate_per_s, max_s)
        self._producer = common.producer(bootstrap, linger_ms=5)

    def run(self) -> None:
        topic_name, partitions, rate, max_s = self._args
        started, sent = time.monotonic(), 0
        while not self.halt.is_set() and time.monotonic() - started < max_s:
            due = int((time.monotonic() - started) * rate)
            while sent < due:
                self._producer.produce(topic_name, b"r", partition=sent % partitions)
                sent += 1
            self._producer.poll(0.01)
        self._producer.flush(10)


def _stop(load: _Load, members: list[_Member]) -> None:
    """Stop the load and every member (each closes its consumer: a graceful leave)."""
    load.halt.set()
    for m in members:
        m.halt.set()
    for m in members:
        m.join(timeout=30)
    load.join(timeout=15)


def _assignment(members) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(sorted(m.owned())) for m in members)


def _wait_stable(members, partitions: int, hold_s: float, timeout_s: float) -> bool:
    """Every partition owned exactly once, every member owning one if it can, unchanged for ``hold_s``."""
    state = {"last": None, "since": time.monotonic()}

    def settled() -> bool:
        now = _assignment(members)
        flat = sorted(p for owned in now for p in owned)
        complete = flat == list(range(partitions)) and all(now[: min(len(members), partitions)])
        if now != state["last"] or not complete:
            state["last"], state["since"] = now, time.monotonic()
            return False
        return time.monotonic() - state["since"] >= hold_s

    return holds_within(settled, timeout_s, 0.05)


def _longest_gap(times: list[float], start: float, end: float) -> float:
    """The longest stretch in [start, end] without a record consumed."""
    inside = [start] + [t for t in times if start <= t <= end] + [end]
    return max(b - a for a, b in zip(inside, inside[1:]))


def pause(bootstrap: str, protocols=tuple(PROTOCOLS), *, partitions: int = 6, members: int = 3,
          rate_per_s: float = 300.0, hold_s: float = 1.0, timeout_s: float = 45.0) -> pd.DataFrame:
    """One row per protocol: what a fourth member joining a group of ``members`` costs the others.

    The protocols run side by side (each its own topic, group and load), so
    they share the machine's conditions and the experiment takes as long as
    the slowest one.
    """
    names = check_protocols(protocols)
    common.require(1 <= members < partitions <= 24,
                   f"the group needs fewer members ({members}) than partitions ({partitions}, at most 24) "
                   "so that the joining member takes partitions from the others")
    common.require(0 < rate_per_s <= 5000, "the load must lie between 1 and 5,000 records/s")
    specs = {name: common.topic(common.unique("rebalance"), partitions) for name in names}
    with common.scratch_topics(bootstrap, list(specs.values())):
        with ThreadPoolExecutor(len(names)) as pool:
            futures = [pool.submit(_one_pause, bootstrap, name, specs[name].name, partitions, members, rate_per_s,
                                   hold_s, timeout_s) for name in names]
            rows = [f.result() for f in futures]
    return pd.DataFrame(rows)


def _one_pause(bootstrap, name, topic_name, partitions, members, rate_per_s, hold_s, timeout_s) -> dict:
    clock0 = time.monotonic()
    group = common.unique("rebal")
    load = _Load(bootstrap, topic_name, partitions, rate_per_s, max_s=3 * timeout_s)
    crew = [_Member(bootstrap, group, topic_name, i, clock0, PROTOCOLS[name]) for i in range(members)]
    load.start()
    for m in crew:
        m.start()
    try:
        formed = _wait_stable(crew, partitions, hold_s, timeout_s)
        common.require(formed, f"{name}: the group of {members} did not settle within {timeout_s:.0f} s")
        before = {m.index: m.owned() for m in crew}
        joined_at = time.monotonic() - clock0
        newcomer = _Member(bootstrap, group, topic_name, members, clock0, PROTOCOLS[name])
        newcomer.start()
        crew.append(newcomer)
        settled = _wait_stable(crew, partitions, hold_s, timeout_s)
        settled_at = time.monotonic() - clock0 - (hold_s if settled else 0)
        after = {m.index: m.owned() for m in crew}
    finally:
        _stop(load, crew)
    return _pause_row(name, crew, before, after, joined_at, settled, settled_at)


def _pause_row(name: str, crew: list[_Member], before: dict[int, set[int]], after: dict[int, set[int]],
               joined_at: float, settled: bool, settled_at: float) -> dict:
    kept = {(i, p) for i, owned in before.items() for p in owned if p in after.get(i, set())}
    moved = {p for i, owned in before.items() for p in owned if p not in after.get(i, set())}
    revoked_kept = sum(1 for m in crew for t, kind, parts in m.log.events
                       if kind == "revoked" and joined_at <= t <= settled_at for p in parts if (m.index, p) in kept)
    last_event = max((t for m in crew for t, _, _ in m.log.events if joined_at <= t <= settled_at + 0.5),
                     default=joined_at)
    window_end = max(settled_at, last_event)
    kept_gaps = [_longest_gap(crew[i].log.consumed.get(p, []), joined_at, window_end) for i, p in kept]
    moved_gaps = []
    for p in moved:
        times = sorted(t for m in crew for t in m.log.consumed.get(p, []))
        moved_gaps.append(_longest_gap(times, joined_at, window_end))
    return {"protocol": name, "settled": settled, "members_before": len(before),
            "partitions_kept": len(kept), "partitions_moved": len(moved),
            "kept_partitions_revoked": revoked_kept,
            "rebalance_s": round(last_event - joined_at, 3),
            "kept_longest_gap_s": round(max(kept_gaps, default=0.0), 3),
            "moved_longest_gap_s": round(max(moved_gaps, default=0.0), 3)}


# --------------------------------------------------------------------------- a member dies


def member_failure(bootstrap: str, endings=("graceful leave", "killed"), *, partitions: int = 6,
                   session_timeout_ms: int = 6000, rate_per_s: float = 600.0, hold_s: float = 1.5,
                   timeout_s: float = 60.0) -> pd.DataFrame:
    """One row per ending: seconds from the signal until the victim's partitions are owned and served again.

    Classic protocol with cooperative-sticky; ``session_timeout_ms`` bounds how
    long the coordinator waits for a silent member (the broker accepts 6000 and up).
    """
    endings = list(endings)
    common.require(endings and set(endings) <= {"graceful leave", "killed"},
                   "endings are 'graceful leave' and/or 'killed'")
    common.require(6000 <= session_timeout_ms <= 60000,
                   "session_timeout_ms must lie between 6000 (the broker's group.min.session.timeout.ms) and 60000")
    common.require(3 <= partitions <= 24, "partitions must lie between 3 and 24")
    settings = {"partition.assignment.strategy": "cooperative-sticky", "session.timeout.ms": str(session_timeout_ms),
                "heartbeat.interval.ms": str(min(1000, session_timeout_ms // 3))}
    rows = []
    for ending in endings:
        for attempt in range(1, 3):  # a group that never settles (a starved machine) gets one fresh try
            spec = common.topic(common.unique("failure"), partitions)
            with common.scratch_topics(bootstrap, [spec]):
                try:
                    rows.append(_one_failure(bootstrap, spec.name, partitions, ending, settings, rate_per_s,
                                             hold_s, timeout_s, session_timeout_ms) | {"attempt": attempt})
                    break
                except _NotSettled as why:
                    common.require(attempt < 2, f"{why}; twice in a row — is the machine overloaded?")
    return pd.DataFrame(rows)


class _NotSettled(Exception):
    """The three members did not reach a steady assignment in time."""


def _one_failure(bootstrap, topic_name, partitions, ending, settings, rate_per_s, hold_s, timeout_s,
                 session_timeout_ms) -> dict:
    clock0 = time.monotonic()
    group = common.unique("fail")
    load = _Load(bootstrap, topic_name, partitions, rate_per_s, max_s=3 * timeout_s)
    errors = tempfile.TemporaryFile()
    signalled = False
    victim = subprocess.Popen([sys.executable, "-m", "streamlab.experiments.deep_dives.group_member", bootstrap,
                               group, topic_name, *[f"{k}={v}" for k, v in settings.items()]],
                              stdout=subprocess.PIPE, stderr=errors)
    survivors = [_Member(bootstrap, group, topic_name, i, clock0, settings) for i in range(2)]
    load.start()
    for m in survivors:
        m.start()
    try:
        def victim_holds_its_share() -> bool:
            owned = [p for m in survivors for p in m.owned()]
            return 0 < len(owned) < partitions and len(owned) == len(set(owned)) and all(m.owned() for m in survivors)

        joined = holds_within(victim_holds_its_share, timeout_s, 0.1) and _steady(survivors, hold_s, timeout_s)
        if not joined or victim.poll() is not None:
            raise _NotSettled(f"the victim consumer did not join the group within {timeout_s:.0f} s" + _tail(errors))
        theirs = set(range(partitions)) - {p for m in survivors for p in m.owned()}
        signalled_at = time.monotonic() - clock0
        victim.send_signal(signal.SIGTERM if ending == "graceful leave" else signal.SIGKILL)
        signalled = True

        def owned_again() -> bool:
            return theirs <= {p for m in survivors for p in m.owned()}

        def served_again() -> bool:
            return all(any(t > signalled_at for m in survivors for t in _times(m, p)) for p in theirs)

        reassigned = holds_within(owned_again, timeout_s, 0.05)
        reassigned_s = time.monotonic() - clock0 - signalled_at
        served = holds_within(served_again, timeout_s, 0.05)
        served_s = time.monotonic() - clock0 - signalled_at
    finally:
        if not signalled and victim.poll() is None:
            victim.kill()
        try:
            out, _ = victim.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            victim.kill()
            out, _ = victim.communicate(timeout=30)
        _stop(load, survivors)
        errors.close()
    closed = [float(line.split("=", 1)[1]) for line in out.decode(errors="replace").splitlines()
              if line.startswith("closed_after_s=")]
    return {"ending": ending, "session_timeout_s": session_timeout_ms / 1000, "victim_partitions": len(theirs),
            "victim_close_s": closed[0] if closed else float("nan"),
            "reassigned": reassigned, "served": served,
            "seconds_until_reassigned": round(reassigned_s, 2), "seconds_until_served": round(served_s, 2)}


def _tail(errors) -> str:
    """The last line the victim process wrote to stderr, for a failure message."""
    errors.seek(0)
    lines = errors.read().decode(errors="replace").strip().splitlines()
    return f": {lines[-1][-300:]}" if lines else ""


def _steady(members, hold_s: float, timeout_s: float) -> bool:
    state = {"last": None, "since": time.monotonic()}

    def unchanged() -> bool:
        now = _assignment(members)
        if now != state["last"]:
            state["last"], state["since"] = now, time.monotonic()
        return time.monotonic() - state["since"] >= hold_s

    return holds_within(unchanged, timeout_s, 0.05)


def _times(member: _Member, partition: int) -> list[float]:
    with member.lock:
        return list(member.log.consumed.get(partition, ()))


def stop_the_world(frame: pd.DataFrame) -> list[str]:
    """The protocols that revoked partitions from members that kept them, pausing every member (a fact)."""
    return frame[frame["kept_partitions_revoked"] > 0]["protocol"].tolist()
