"""Each chapter's run facts, saved beside its results, and the appendix's tables of them (streamlab.book.run_facts)."""

from __future__ import annotations

from pathlib import Path

from streamlab.bench import broker_warmup
from streamlab.book.run_facts import (
    FILE_NAME,
    RunFacts,
    conditions_table,
    machines_table,
    read_run_facts,
    save_run_facts,
)


def _chapter_folder(root: Path, stem: str) -> Path:
    folder = root / f"{stem}_files"
    folder.mkdir(parents=True)
    return folder


def test_a_chapter_saves_its_conditions_and_the_appendix_reads_one_row_per_chapter(tmp_path: Path) -> None:
    record = tmp_path / "broker-warmup.csv"  # none recorded yet
    assert save_run_facts(_chapter_folder(tmp_path, "01-a"), "01-a", "quick", record) is None
    broker_warmup.save_rounds([broker_warmup.WarmupRound(1, 46.0, 2_534.0),
                               broker_warmup.WarmupRound(2, 92.0, 13_464.0)], record)
    save_run_facts(_chapter_folder(tmp_path, "00-b"), "00-b", "full", record)
    (tmp_path / "02-c_files").mkdir()  # a chapter that saved nothing has no row
    facts = read_run_facts(tmp_path)
    assert [f.chapter for f in facts] == ["00-b", "01-a"]
    table = conditions_table(facts).set_index("chapter")
    assert table.loc["00-b", "profile"] == "full" and table.loc["01-a", "profile"] == "quick"
    assert table.loc["01-a", "brokers warm"] == "no warm-up recorded"
    assert table.loc["00-b", "brokers warm"] == "no"
    assert table.loc["00-b", "warm-up"].startswith("brokers not warm")
    assert not (tmp_path / "01-a_files" / (FILE_NAME + ".tmp")).exists()


def test_the_machine_is_shown_once_unless_the_chapters_ran_on_different_ones() -> None:
    machine = {"cpu": "x", "logical cores": 2}
    facts = [RunFacts(f"0{i}-c", "quick", "2026-12-08T01:00:00+00:00", True, "warm", 0.5, machine) for i in range(3)]
    assert list(machines_table(facts).columns) == ["every chapter"]
    assert machines_table(facts).loc["logical cores", "every chapter"] == "2"
    other = RunFacts("03-d", "quick", "2026-12-08T01:00:00+00:00", True, "warm", 0.5, {"cpu": "y", "logical cores": 4})
    assert list(machines_table([*facts, other]).columns) == ["chapters 00, 01, 02", "chapters 03"]
    assert conditions_table(facts)["load per core"].tolist() == [0.25] * 3


def test_facts_round_trip_through_json() -> None:
    facts = RunFacts("05-r", "quick", "2026-12-08T01:00:00+00:00", None, "no warm-up recorded", None, {"cpu": "x"})
    assert RunFacts.from_json(facts.to_json()) == facts
    assert conditions_table([facts])["load per core"].isna().all()
