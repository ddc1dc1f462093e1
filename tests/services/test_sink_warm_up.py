"""The Parquet writer builds its first table when it is made, in memory, not on the sink's first flush."""

from __future__ import annotations

from streamlab.services import exactly_once_files as sinkio


def test_the_first_table_is_built_when_the_writer_is_made_and_nothing_is_written(monkeypatch, tmp_path):
    built = []
    real = sinkio._table
    monkeypatch.setattr(sinkio, "_table", lambda rows: built.append(len(rows)) or real(rows))
    sinkio.HourlyParquetWriter(tmp_path / "health")
    assert built == [1]
    assert list((tmp_path / "health").rglob("*")) == [], "the warm-up leaves no file on disk"


def test_a_writer_made_without_warm_up_builds_no_table(monkeypatch, tmp_path):
    built = []
    monkeypatch.setattr(sinkio, "_table", lambda rows: built.append(len(rows)))
    sinkio.HourlyParquetWriter(tmp_path / "health", warm_up=False)
    assert built == []
