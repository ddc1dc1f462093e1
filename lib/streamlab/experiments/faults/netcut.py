"""A broker cut off from its peers on loopback while its process keeps running: cgroups + iptables, root only.

All nodes of the local stack listen on 127.0.0.1, so ports alone cannot tell a
peer's connection from a client's. The processes can: each side is moved into
its own cgroup (v2), and two rules in a private chain drop, in OUTPUT (every
loopback packet passes it once, on the sender's side), the TCP packets a
process of one side sends to the other side's ports (`-m cgroup --path`).
Clients, in no such cgroup, still reach every node: the isolated node keeps
serving them, as a broker on the wrong side of a real network partition does.

A socket keeps the cgroup it was created in, so the node-to-node connections
already open are aborted (`ss -K`, both halves); the nodes reconnect from their
new cgroups and are dropped. `heal` (always run, by `with`) removes the rules
and the chain, moves the processes back and removes the cgroups. Only the
given processes and ports are touched.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import UserError


@dataclass(frozen=True)
class Side:
    """One side of the cut: its processes and the ports they listen on."""

    pids: tuple[int, ...]
    ports: tuple[int, ...]


def unavailable() -> str | None:
    """Why no cut can be made here (None: it can): root, iptables and a cgroup v2 hierarchy are needed."""
    if os.geteuid() != 0:
        return "cutting a broker off needs root (iptables, cgroups)"
    if shutil.which("iptables") is None or shutil.which("ss") is None:
        return "cutting a broker off needs iptables and ss (apt-get install iptables iproute2)"
    if cgroup2_root() is None:
        return "cutting a broker off needs a cgroup v2 hierarchy (none mounted)"
    return None


def cgroup2_root() -> Path | None:
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[2] == "cgroup2":
            return Path(fields[1])
    return None


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True)


def _cgroup_of(pid: int) -> str:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return line[3:] or "/"
    return "/"


# an address is 127.0.0.1, or [::ffff:127.0.0.1] for a JVM's dual-stack socket (its packets are IPv4 all the same)
_LOOPBACK = r"(?:127\.0\.0\.1|\[::ffff:127\.0\.0\.1\])"
_SS_LINE = re.compile(rf"{_LOOPBACK}:(\d+)\s+{_LOOPBACK}:(\d+)\s+users:\(\(\"[^\"]*\",pid=(\d+)")


def node_connections(a: Side, b: Side) -> list[tuple[int, int]]:
    """(local port, remote port) of every established loopback TCP socket between a process of `a` and one of
    `b` (both halves), from `ss -tnp`."""
    out = _run("ss", "-tnpH", "state", "established").stdout
    sockets = []
    for line in out.splitlines():
        match = _SS_LINE.search(line)
        if match:
            sockets.append((int(match.group(1)), int(match.group(2)), int(match.group(3))))
    owner = {local: pid for local, _remote, pid in sockets}
    found = []
    for local, remote, pid in sockets:
        other = owner.get(remote)
        if (pid in a.pids and other in b.pids) or (pid in b.pids and other in a.pids):
            found.append((local, remote))
    return found


@dataclass
class NetworkCut:
    """`with NetworkCut(isolated, peers, tag):` the isolated side cannot talk to the peers, nor they to it."""

    isolated: Side
    peers: Side
    tag: str                                  # names the chain and the cgroups (short: iptables allows 28 chars)
    aborted: int = 0                          # node-to-node connections aborted when the cut began
    _moved: dict[int, str] = field(default_factory=dict)
    _groups: list[Path] = field(default_factory=list)

    @property
    def chain(self) -> str:
        return f"SLCUT-{self.tag}"[:28]

    def __enter__(self) -> NetworkCut:
        try:
            self.cut()
        except BaseException:
            self.heal()
            raise
        return self

    def __exit__(self, *_exc) -> None:
        self.heal()

    def cut(self) -> None:
        reason = unavailable()
        if reason:
            raise UserError(reason)
        root = cgroup2_root()
        names = {}
        for side, suffix in ((self.isolated, "isolated"), (self.peers, "peers")):
            group = root / f"streamlab-cut-{self.tag}-{suffix}"
            group.mkdir(exist_ok=True)
            self._groups.append(group)
            names[suffix] = group.name
            for pid in side.pids:
                self._moved[pid] = _cgroup_of(pid)
                (group / "cgroup.procs").write_text(str(pid))
        self._iptables("-N", self.chain)
        for source, target in (("isolated", self.peers), ("peers", self.isolated)):
            self._iptables("-A", self.chain, "-p", "tcp", "-m", "cgroup", "--path", names[source],
                           "-m", "multiport", "--dports", ",".join(map(str, target.ports)), "-j", "DROP")
        self._iptables("-I", "OUTPUT", "-j", self.chain)
        for local, remote in node_connections(self.isolated, self.peers):
            if _run("ss", "-K", "-tn", f"( sport = :{local} and dport = :{remote} )").returncode == 0:
                self.aborted += 1

    def heal(self) -> list[str]:
        """Undo everything `cut` did (each step even if another failed); returns what could not be undone."""
        problems = []
        if _run("iptables", "-S", self.chain).returncode == 0:
            for args in (("-D", "OUTPUT", "-j", self.chain), ("-F", self.chain), ("-X", self.chain)):
                done = _run("iptables", *args)
                if done.returncode != 0:
                    problems.append(f"iptables {' '.join(args)}: {done.stderr.strip()}")
        root = cgroup2_root()
        for pid, original in self._moved.items():
            try:
                (root / original.lstrip("/") / "cgroup.procs").write_text(str(pid))
            except OSError as exc:     # a process gone meanwhile leaves nothing to move
                if Path(f"/proc/{pid}").exists():
                    problems.append(f"pid {pid} back to {original}: {exc}")
        self._moved.clear()
        for group in self._groups:
            try:
                group.rmdir()
            except OSError as exc:
                problems.append(f"rmdir {group}: {exc}")
        self._groups.clear()
        return problems

    def _iptables(self, *args: str) -> None:
        done = _run("iptables", *args)
        if done.returncode != 0:
            raise RuntimeError(f"iptables {' '.join(args)} failed: {done.stderr.strip()}")
