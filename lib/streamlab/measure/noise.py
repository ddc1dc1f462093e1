"""The noise meter: how busy the machine was with other work while a figure was measured.

Two quick builds of one tree moved most headline ratios by more than a quarter (issue 30), and the
figures do not say whether another job shared the two cores with them. So a measurement reads the
kernel's counters at its start and end (`NoiseMeter`): the CPU time stolen by the hypervisor
(``steal`` in /proc/stat), the CPU share of processes that are not part of the measurement (from
/proc/<pid>/stat: everything except the measuring process's own tree and the processes whose command
line carries one of its markers, such as the stack's data directory), the load average and the
memory available. A figure measured while others took more than `BUSY_OTHERS_SHARE` of the machine,
or the hypervisor stole more than `BUSY_STEAL_SHARE`, is flagged ``machine_busy`` in its table.

The parsers take the files' text, so the tests feed them fixtures; `read_snapshot` reads the real
files. Linux only: elsewhere the meter reports nothing (NaN) and flags nothing.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: Others' CPU above this share of the whole machine flags the figure.
BUSY_OTHERS_SHARE = 0.25
#: Steal above this share of the machine's CPU time flags the figure.
BUSY_STEAL_SHARE = 0.05

PROC = Path("/proc")


@dataclass(frozen=True)
class CpuTimes:
    """The machine's CPU time in clock ticks, summed over cores (/proc/stat's ``cpu`` line)."""

    total: int
    idle: int          # idle + iowait
    steal: int


def parse_proc_stat(text: str) -> CpuTimes:
    """The aggregate ``cpu`` line of /proc/stat.

    Fields: user nice system idle iowait irq softirq steal guest guest_nice. guest and guest_nice
    are already counted in user and nice, so the total leaves them out.
    """
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu":
            values = [int(v) for v in parts[1:]] + [0] * 10
            user, nice, system, idle, iowait, irq, softirq, steal = values[:8]
            return CpuTimes(user + nice + system + idle + iowait + irq + softirq + steal, idle + iowait, steal)
    raise ValueError("no aggregate 'cpu' line in /proc/stat")


def parse_pid_stat(text: str) -> tuple[int, int]:
    """(parent pid, utime + stime in clock ticks) from a /proc/<pid>/stat line.

    The command name (field 2) is in parentheses and may hold spaces and parentheses itself, so
    fields are counted from the last ')'.
    """
    rest = text[text.rindex(")") + 2:].split()
    # rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15
    return int(rest[1]), int(rest[11]) + int(rest[12])


def parse_loadavg(text: str) -> float:
    """The 1-minute load average from /proc/loadavg."""
    return float(text.split()[0])


def parse_meminfo_available_mib(text: str) -> float:
    """MemAvailable from /proc/meminfo, in MiB."""
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    raise ValueError("no MemAvailable line in /proc/meminfo")


def load_average(proc: Path = PROC) -> float | None:
    """The 1-minute load average now, or None where /proc/loadavg cannot be read."""
    text = _read(proc / "loadavg")
    try:
        return parse_loadavg(text) if text else None
    except (ValueError, IndexError):
        return None


@dataclass
class Snapshot:
    """The counters at one moment: machine CPU times and each process's (ppid, CPU ticks, marked)."""

    cpu: CpuTimes
    processes: dict[int, tuple[int, int, bool]] = field(default_factory=dict)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def read_snapshot(markers: Sequence[str] = (), proc: Path = PROC) -> Snapshot:
    """The counters now; a process whose command line holds one of ``markers`` is marked as the measurement's."""
    stat = _read(proc / "stat")
    if stat is None:
        raise OSError("no /proc/stat")
    processes: dict[int, tuple[int, int, bool]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        text = _read(entry / "stat")
        if text is None:
            continue                      # gone between the listing and the read
        try:
            ppid, ticks = parse_pid_stat(text)
        except (ValueError, IndexError):
            continue
        marked = False
        if markers:
            cmdline = (_read(entry / "cmdline") or "").replace("\0", " ")
            marked = any(marker in cmdline for marker in markers)
        processes[int(entry.name)] = (ppid, ticks, marked)
    return Snapshot(parse_proc_stat(stat), processes)


def own_pids(processes: dict[int, tuple[int, int, bool]], root: int) -> set[int]:
    """``root``, its descendants, the marked processes and their descendants: the measurement's processes."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in processes.items():
        children.setdefault(ppid, []).append(pid)
    seeds = [root, *(pid for pid, (_, _, marked) in processes.items() if marked)]
    own: set[int] = set()
    while seeds:
        pid = seeds.pop()
        if pid in own:
            continue
        own.add(pid)
        seeds.extend(children.get(pid, []))
    return own


@dataclass(frozen=True)
class MachineState:
    """How busy the machine was during one measurement, beside the figure measured."""

    seconds_ticks: int               # machine CPU ticks elapsed (all cores)
    steal_share: float               # share of the machine's CPU time stolen by the hypervisor
    others_share: float              # share of the machine's CPU time used by processes outside the measurement
    load1: float                     # 1-minute load average at the end
    mem_available_mib: float         # memory available at the end

    @property
    def busy(self) -> bool:
        """Others or the hypervisor took enough of the machine that the figure may not repeat."""
        return (self.others_share > BUSY_OTHERS_SHARE) or (self.steal_share > BUSY_STEAL_SHARE)

    def row(self) -> dict[str, float | bool]:
        """The columns a result table carries beside its figure."""
        return {"machine_busy": self.busy, "others_cpu_pct": round(100 * self.others_share, 1),
                "steal_pct": round(100 * self.steal_share, 1), "load1": self.load1,
                "mem_available_mib": round(self.mem_available_mib)}

    def asdict(self) -> dict:
        return asdict(self)


UNKNOWN = MachineState(0, math.nan, math.nan, math.nan, math.nan)


def compare(before: Snapshot, after: Snapshot, root: int, loadavg: float, mem_available_mib: float) -> MachineState:
    """The machine's state between two snapshots, with ``root``'s tree and the marked processes as the measurement."""
    total = after.cpu.total - before.cpu.total
    if total <= 0:
        return MachineState(0, math.nan, math.nan, loadavg, mem_available_mib)
    own = own_pids(after.processes, root) | own_pids(before.processes, root)
    others = 0
    for pid, (_, ticks, _) in after.processes.items():
        if pid in own:
            continue
        earlier = before.processes.get(pid)
        others += ticks - earlier[1] if earlier is not None and earlier[1] <= ticks else 0
    steal = after.cpu.steal - before.cpu.steal
    return MachineState(total, steal / total, min(1.0, others / total), loadavg, mem_available_mib)


class NoiseMeter:
    """Counters read at `start` and `stop`; `state` is how busy the machine was with other work in between.

    A process that started and ended inside the window is not seen (its ticks are not in either
    snapshot), so the meter errs toward calling a machine quiet, never toward blaming a figure.
    """

    def __init__(self, markers: Iterable[str] = (), proc: Path = PROC) -> None:
        self.markers = tuple(m for m in markers if m)
        self.proc = proc
        self.before: Snapshot | None = None
        self.state: MachineState = UNKNOWN

    def start(self) -> NoiseMeter:
        try:
            self.before = read_snapshot(self.markers, self.proc)
        except OSError:
            self.before = None
        return self

    def stop(self) -> MachineState:
        if self.before is None:
            return self.state
        try:
            after = read_snapshot(self.markers, self.proc)
            load1 = parse_loadavg(_read(self.proc / "loadavg") or "nan")
            mem = parse_meminfo_available_mib(_read(self.proc / "meminfo") or "")
        except (OSError, ValueError):
            return self.state
        self.state = compare(self.before, after, os.getpid(), load1, mem)
        return self.state

    def __enter__(self) -> NoiseMeter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["BUSY_OTHERS_SHARE", "BUSY_STEAL_SHARE", "CpuTimes", "MachineState", "NoiseMeter", "Snapshot", "UNKNOWN",
           "compare", "load_average", "own_pids", "parse_loadavg", "parse_meminfo_available_mib", "parse_pid_stat",
           "parse_proc_stat", "read_snapshot"]
