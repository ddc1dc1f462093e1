"""The codec benchmark, run small: schema and plausibility of the table, no timing asserts."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from streamlab.bench.codec_bench import (
    RESULT_COLUMNS,
    run_codec_benchmark,
    sample_messages,
    save_results,
    summary_table,
)
from streamlab.codecs import CODEC_NAMES

METRICS = {"encode_us", "encode_us_std", "decode_us", "decode_us_std", "bytes"}
TYPES = {"telemetry", "vibration", "health", "alert"}


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    return run_codec_benchmark(n_messages=50, repeats=2)


def test_tidy_schema(results):
    assert list(results.columns) == RESULT_COLUMNS
    assert len(results) == len(CODEC_NAMES) * len(TYPES) * len(METRICS)
    assert set(results["codec"]) == set(CODEC_NAMES)
    assert set(results["message_type"]) == TYPES
    assert set(results["metric"]) == METRICS
    assert not results.duplicated(["codec", "message_type", "metric"]).any()
    assert (results["repeats"] == 2).all() and (results["n_messages"] == 50).all()
    assert set(results.loc[results["metric"] == "bytes", "unit"]) == {"bytes/msg"}
    assert all(math.isfinite(v) and v >= 0 for v in results["value"])
    assert results.loc[results["codec"] == "cloudpickle", "safe_for_untrusted"].eq(False).all()


def test_sizes_are_plausible(results):
    size = results[results["metric"] == "bytes"].set_index(["message_type", "codec"])["value"]
    for codec in ("avro", "protobuf", "msgpack"):
        assert size["vibration", codec] < size["vibration", "json"] / 3
        assert size["telemetry", codec] < size["telemetry", "json"]
    assert size["vibration", "orjson"] < size["vibration", "json"]
    assert size["telemetry", "orjson"] == size["telemetry", "json"]  # same JSON text
    assert results[results["metric"] == "encode_us"]["value"].gt(0).all()


def test_summary_table(results):
    table = summary_table(results)
    assert table.loc[("vibration", "json"), "bytes_vs_json"] == 1.0
    assert table.loc[("vibration", "protobuf"), "bytes_vs_json"] < 0.5


def test_save_results_writes_csv_and_parquet(results, tmp_path):
    csv_path, parquet_path = save_results(results, tmp_path / "out")
    assert csv_path.name == "codec_bench.csv" and parquet_path.name == "codec_bench.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(parquet_path), results)
    assert len(pd.read_csv(csv_path)) == len(results)


def test_subset_of_codecs_and_bad_arguments():
    subset = run_codec_benchmark(codecs=["orjson", "avro"], n_messages=5, repeats=1)
    assert set(subset["codec"]) == {"orjson", "avro"}
    assert (subset.loc[subset["metric"] == "encode_us_std", "value"] == 0.0).all()
    with pytest.raises(ValueError, match="unknown codec"):
        run_codec_benchmark(codecs=["xml"], n_messages=5, repeats=1)
    with pytest.raises(ValueError, match="repeats"):
        run_codec_benchmark(n_messages=5, repeats=0)


def test_sample_messages_are_deterministic():
    first, second = sample_messages(30, seed=2), sample_messages(30, seed=2)
    assert set(first) == TYPES
    for kind in TYPES:
        assert len(first[kind]) == 30
        assert first[kind] == second[kind]
    assert {record.state for record in first["health"]} <= {"ok", "warning", "critical"}
