"""The book build records its headline figures in the results database (`measure.results_db`).

Called by the runner once the measuring chapters have run and before the reflection (chapter 05)
executes, so the reflection's table of how much each figure moved includes this build. A build
that re-executed none of the measuring chapters hands over figures already on record, which the
database recognises and does not count twice.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

from ..bench.broker_warmup import last_rounds, warm_state
from ..experiments.reflection.scorecard import headline_figures
from ..measure.machine import machine_facts
from ..measure.results_db import Build, Figure, ResultsDB


def commit_of(root: Path) -> str:
    """The checkout's commit (short), marked ``+changes`` when its tracked files differ; ``unknown`` without git."""
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=20, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=20, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}+changes" if dirty else head


def machine_label() -> str:
    """The machine as the history records it: cores, memory, CPU model."""
    facts = machine_facts()
    return f"{facts['logical cores']} cores, {facts['memory (GiB)']:g} GiB, {facts['cpu']}"


def record_build(executed_folder: Path, profile: str, root: Path, db: ResultsDB | None = None) -> int | None:
    """Append this build's headline figures read from ``executed_folder``; the build's id, or None.

    None when the folder holds no headline figure (the measuring chapters did not run) or when the
    same figures are on record already.
    """
    figures = headline_figures(executed_folder)
    if figures.empty:
        return None
    build = Build(recorded_at=datetime.now(UTC).isoformat(timespec="seconds"), profile=profile,
                  commit_id=commit_of(root), machine=machine_label(), warm_up=warm_state(last_rounds()))
    rows = [Figure(str(r.figure), float(r.value), str(r.unit)) for r in figures.itertuples()]
    return (db or ResultsDB()).record(build, rows)


__all__ = ["commit_of", "machine_label", "record_build"]
