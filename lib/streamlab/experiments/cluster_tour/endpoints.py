"""Every port the local stack's processes listen on: reachability, live connections between them, process facts.

Read from the kernel (psutil's socket and process tables), not from the
configuration: what the processes really bind and who really talks to whom.
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ...measure.process import describe
from ...stack import procs


@dataclass(frozen=True)
class Endpoint:
    owner: str      # "kafka node 1", "rabbitmq node 1", ...
    what: str       # listener name or protocol, short: PLAINTEXT, CONTROLLER, AMQP, ...
    port: int
    pid: int | None
    purpose: str = ""


def stack_endpoints(stack: Any) -> list[Endpoint]:
    """Every port the local stack's processes listen on, with the pid that owns it."""
    found: list[Endpoint] = []
    kafka = stack.parts.get("kafka")
    for node in getattr(kafka, "nodes", []):
        pid = node.pid()
        found.append(Endpoint(f"kafka node {node.index}", "PLAINTEXT", node.port, pid,
                              "clients, and replication between brokers"))
        found.append(Endpoint(f"kafka node {node.index}", "CONTROLLER", node.controller_port, pid,
                              "the KRaft quorum: votes, metadata log, broker heartbeats"))
    rabbit = stack.parts.get("rabbitmq")
    for node in getattr(rabbit, "nodes", []):
        pid = node.pid()
        found.append(Endpoint(f"rabbitmq node {node.index}", "AMQP", node.port, pid, "clients (AMQP 0-9-1)"))
        found.append(Endpoint(f"rabbitmq node {node.index}", "HTTP", node.mgmt_port, pid,
                              "management API and web UI"))
        found.append(Endpoint(f"rabbitmq node {node.index}", "distribution", node.dist_port, pid,
                              "Erlang distribution: clustering, rabbitmqctl"))
    if rabbit is not None and hasattr(rabbit, "epmd_port"):
        epmd_pid = procs.read_pid(rabbit.root / "epmd.pid")
        found.append(Endpoint("epmd", "epmd", rabbit.epmd_port, epmd_pid,
                              "Erlang port mapper: node name → distribution port"))
    return found


def listening_addresses() -> dict[int, list[str]]:
    """Port → the local addresses something listens on, from the kernel's socket table."""
    import psutil

    found: dict[int, set[str]] = {}
    for conn in psutil.net_connections(kind="inet"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr:
            ip = conn.laddr.ip.removeprefix("::ffff:")
            found.setdefault(conn.laddr.port, set()).add(ip)
    return {port: sorted(ips) for port, ips in found.items()}


def port_checks(endpoints: Sequence[Endpoint], host: str = "127.0.0.1", timeout_s: float = 1.0) -> pd.DataFrame:
    """Connect to every endpoint once: does it accept, how long the TCP handshake takes, what it binds.

    ``binds`` is the kernel's view: ``127.0.0.1`` (or ``::1``) only on this
    machine; ``0.0.0.0`` / ``::`` on every interface, i.e. reachable from other
    machines unless a firewall says otherwise.
    """
    bound = listening_addresses()
    rows = []
    for ep in endpoints:
        started = time.perf_counter()
        try:
            with socket.create_connection((host, ep.port), timeout=timeout_s):
                ok, error = True, ""
        except OSError as exc:
            ok, error = False, exc.strerror or str(exc)
        rows.append({"process": ep.owner, "listener": ep.what, "for": ep.purpose, "port": ep.port,
                     "binds": ", ".join(bound.get(ep.port, [])) or "?",
                     "accepts": "yes" if ok else f"no ({error})",
                     "connect (ms)": round((time.perf_counter() - started) * 1000, 2)})
    return pd.DataFrame(rows)


def live_connections(endpoints: Sequence[Endpoint], clients: Mapping[str, int] | None = None) -> pd.DataFrame:
    """Established TCP connections between the stack's processes: who connects to whose listener.

    Read from the kernel's socket table (psutil) for each broker process and
    for ``clients`` (name → pid, e.g. this notebook): a connection counts once,
    from the process that opened it to the listener it reached.
    """
    import psutil

    by_port = {ep.port: ep for ep in endpoints}
    processes: dict[int, str] = {ep.pid: ep.owner for ep in endpoints if ep.pid}
    processes.update({pid: name for name, pid in (clients or {}).items()})
    counts: Counter[tuple[str, str, str]] = Counter()
    for pid, owner in processes.items():
        try:
            connections = psutil.Process(pid).net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for conn in connections:
            if conn.status != psutil.CONN_ESTABLISHED or not conn.raddr:
                continue
            if conn.laddr.port in by_port and by_port[conn.laddr.port].pid == pid:
                continue  # the accepting side of a connection: counted at the side that opened it
            target = by_port.get(conn.raddr.port)
            if target is None:
                continue
            counts[(owner, target.owner, target.what)] += 1
    rows = [{"from": src, "to": dst, "listener": what, "connections": n}
            for (src, dst, what), n in sorted(counts.items())]
    return pd.DataFrame(rows, columns=["from", "to", "listener", "connections"])


def process_facts(endpoints: Sequence[Endpoint]) -> pd.DataFrame:
    """Each broker process: pid, how long it has run, resident memory, threads."""
    import psutil

    rows = []
    seen: set[int] = set()
    for ep in endpoints:
        if not ep.pid or ep.pid in seen:
            continue
        seen.add(ep.pid)
        try:
            rows.append({"process": ep.owner, "pid": ep.pid, **describe(ep.pid)})
        except psutil.NoSuchProcess:
            rows.append({"process": ep.owner, "pid": ep.pid, "program": "(gone)"})
    return pd.DataFrame(rows)


def status_table(status_rows: Sequence[Any], facts: pd.DataFrame | None = None) -> pd.DataFrame:
    """The stack's status rows (`Stack.status()`), with each process's facts (`process_facts`) where known."""
    import dataclasses

    status = pd.DataFrame([dataclasses.asdict(row) for row in status_rows])
    if facts is not None and not facts.empty:
        status = status.merge(facts.drop(columns=["process", "program"]), on="pid", how="left")
    return status.set_index(["broker", "node"])
