"""What each chapter ran under, saved beside its results and shown once for the build on an appendix page.

Why. A figure is read with the conditions it was measured under: the machine, the profile, whether the
brokers had reached their warm-up plateau, how loaded the machine already was (shared/DESIGN.md,
"Measurement rules"). Every chapter used to open with the same table of them — seven copies a reader
skips. Now each chapter saves its own conditions (:func:`save_run_facts`, one small JSON file in its
results folder, which travels with the executed notebook into the HTML and `make site`), and the page
``book/appendix/run-facts.md``, which the runner executes after the chapters (see ``runner.EXECUTE_LAST``),
shows the machine once and one row per chapter (:func:`read_run_facts`, :func:`conditions_table`).
JSON and not CSV: the HTML test wants every CSV of a results folder linked from its chapter's page, and
this file is the appendix's input, not a result of the chapter.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

#: The file each chapter writes into its results folder.
FILE_NAME = "run-facts.json"


@dataclass(frozen=True)
class RunFacts:
    """The conditions one chapter ran under, as facts (no sentence): the appendix's Markdown says them."""

    chapter: str  # the chapter's stem, e.g. 02-kafka-deep-dives
    profile: str
    executed_at: str  # ISO 8601, UTC, when the chapter started measuring
    brokers_warm: bool | None  # the recorded warm-up reached its plateau; None: no warm-up recorded
    warm_up: str  # bench.broker_warmup.warm_state: the warm-up's outcome in a few words
    load_1min: float | None  # the machine's 1-minute load average at the chapter's start
    machine: dict[str, Any] = field(default_factory=dict)  # measure.machine.machine_facts()

    @classmethod
    def now(cls, chapter: str, profile: str, warmup_record: Path | None = None) -> RunFacts:
        """The conditions at this moment, in this process (a chapter's kernel)."""
        from ..bench.broker_warmup import is_warm, last_rounds, warm_state
        from ..measure.machine import machine_facts
        from ..measure.noise import load_average

        rounds = last_rounds(warmup_record)
        return cls(chapter=chapter, profile=str(profile), executed_at=datetime.now(UTC).isoformat(timespec="seconds"),
                   brokers_warm=None if rounds.empty else is_warm(rounds), warm_up=warm_state(rounds),
                   load_1min=load_average(), machine=dict(machine_facts()))

    @classmethod
    def from_json(cls, text: str) -> RunFacts:
        return cls(**json.loads(text))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def save_run_facts(folder: Path | str, chapter: str, profile: str, warmup_record: Path | None = None) -> None:
    """Write this chapter's conditions to ``folder``/run-facts.json (atomically); returns None so a chapter's
    cell shows nothing."""
    path = Path(folder) / FILE_NAME
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(RunFacts.now(chapter, profile, warmup_record).to_json(), encoding="utf-8")
    tmp.replace(path)


def read_run_facts(chapters_folder: Path | str) -> list[RunFacts]:
    """The saved conditions of every chapter whose results folder sits in ``chapters_folder``, by chapter."""
    found = sorted(Path(chapters_folder).glob(f"*/{FILE_NAME}"))
    return sorted((RunFacts.from_json(p.read_text(encoding="utf-8")) for p in found), key=lambda f: f.chapter)


def conditions_table(facts: Sequence[RunFacts]) -> pd.DataFrame:
    """One row per chapter: profile, start time, the brokers' warm-up, the machine's load at the start."""
    rows = [{
        "chapter": f.chapter,
        "profile": f.profile,
        "executed (UTC)": f.executed_at[:16].replace("T", " "),
        "brokers warm": "no warm-up recorded" if f.brokers_warm is None else ("yes" if f.brokers_warm else "no"),
        "warm-up": f.warm_up,
        "load average (1 min) at start": f.load_1min,
        "load per core": None if f.load_1min is None else f.load_1min / max(1, int(f.machine.get("logical cores", 1))),
    } for f in facts]  # fmt: skip
    columns = ["chapter", "profile", "executed (UTC)", "brokers warm", "warm-up", "load average (1 min) at start",
               "load per core"]
    return pd.DataFrame(rows, columns=columns)


def machines_table(facts: Sequence[RunFacts]) -> pd.DataFrame:
    """The machine facts, one column per distinct machine the chapters ran on (one in a normal build),
    headed by the chapters that ran on it."""
    machines: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for f in facts:
        key = json.dumps(f.machine, sort_keys=True)
        machines.setdefault(key, (f.machine, []))[1].append(f.chapter.split("-", 1)[0])
    if not machines:
        return pd.DataFrame()
    names = list(next(iter(machines.values()))[0])
    columns = {
        ("every chapter" if len(machines) == 1 else "chapters " + ", ".join(chapters)):
            [str(machine.get(name, "")) for name in names]
        for machine, chapters in machines.values()
    }  # fmt: skip
    return pd.DataFrame(columns, index=pd.Index(names))


__all__ = ["FILE_NAME", "RunFacts", "conditions_table", "machines_table", "read_run_facts", "save_run_facts"]
