"""Result bundles: tables in the formats asked for, companions beside them, the folder made."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from streamlab.measure.results import write_json, write_table, write_text


def test_a_table_round_trips_in_each_format(tmp_path):
    frame = pd.DataFrame({"run": [1, 2], "metric": ["p50_ms", "p99_ms"], "value": [1.5, 9.0]})
    csv, parquet = write_table(frame, tmp_path / "new" / "folder", "results", ("csv", "parquet"))
    assert (csv.name, parquet.name) == ("results.csv", "results.parquet")
    pd.testing.assert_frame_equal(pd.read_csv(csv), frame)
    pd.testing.assert_frame_equal(pd.read_parquet(parquet), frame)


def test_an_unknown_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="xlsx"):
        write_table(pd.DataFrame({"x": [1]}), tmp_path, "t", ("xlsx",))


def test_json_and_text_companions(tmp_path):
    path = write_json({"cores": 2, "when": tmp_path}, tmp_path, "machine.json")
    assert json.loads(path.read_text()) == {"cores": 2, "when": str(tmp_path)}
    assert write_text("a: 1\n", tmp_path, "workload.yaml").read_text() == "a: 1\n"
