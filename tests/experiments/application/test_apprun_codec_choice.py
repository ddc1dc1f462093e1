"""The codec recommendation of chapter 01 (Bonus 1), on small hand-made benchmark tables."""

from __future__ import annotations

import pickle

import pandas as pd
import pytest

from streamlab.codecs import SAFE_CODEC_NAMES
from streamlab.experiments.application import codec_choice


def _summary() -> pd.DataFrame:
    rows = []
    for message_type, sizes, times in (
        ("telemetry", {"json": 170, "orjson": 170, "msgpack": 120, "avro": 55, "protobuf": 53, "cloudpickle": 400},
         {"json": 20.0, "orjson": 12.0, "msgpack": 15.0, "avro": 30.0, "protobuf": 18.0, "cloudpickle": 25.0}),
        ("vibration", {"json": 15000, "orjson": 15000, "msgpack": 3200, "avro": 3150, "protobuf": 3300,
                       "cloudpickle": 3400},
         {"json": 9000.0, "orjson": 900.0, "msgpack": 100.0, "avro": 6000.0, "protobuf": 150.0, "cloudpickle": 90.0}),
    ):
        for codec in sizes:
            rows.append({"message_type": message_type, "codec": codec, "encode_us": times[codec] / 2,
                         "decode_us": times[codec] / 2, "bytes": sizes[codec],
                         "bytes_vs_json": sizes[codec] / sizes["json"]})
    return pd.DataFrame(rows).set_index(["message_type", "codec"])


@pytest.fixture
def wide() -> pd.DataFrame:
    assert {"json", "orjson", "msgpack", "avro", "protobuf"} <= set(SAFE_CODEC_NAMES)
    return codec_choice.with_round_trip(_summary())


def test_round_trip_is_encode_plus_decode(wide):
    row = wide[(wide["message_type"] == "telemetry") & (wide["codec"] == "json")].iloc[0]
    assert row["round_trip_us"] == pytest.approx(20.0)


def test_recommend_takes_the_fastest_within_ten_percent_of_the_smallest(wide):
    # telemetry: avro (55) and protobuf (53) are within 10 % of 53; protobuf is faster
    assert codec_choice.recommend(codec_choice.safe_codecs(wide, "telemetry")) == "protobuf"
    # vibration: msgpack, avro and protobuf (≤ 3465) are compact; msgpack is the fastest of them
    assert codec_choice.recommend(codec_choice.safe_codecs(wide, "vibration")) == "msgpack"
    with pytest.raises(ValueError):
        codec_choice.recommend(codec_choice.safe_codecs(wide, "nothing"))


def test_unsafe_codecs_are_never_recommended_even_when_fastest(wide):
    compared = codec_choice.comparison(wide)
    assert compared.loc["vibration", "fastest"] == "msgpack"  # cloudpickle (90 µs) is faster but unsafe
    assert compared.loc["vibration", "recommended"] == "msgpack"
    assert compared.loc["telemetry", "fastest vs json (× faster)"] == pytest.approx(20.0 / 12.0)
    assert compared.loc["telemetry", "smallest"] == "protobuf"
    assert compared.loc["telemetry", "per core per s, json"] == pytest.approx(1e6 / 20.0)


def test_contender_rank_and_byte_share(wide):
    assert codec_choice.contender_rank(wide) == (
        "telemetry: rank 6 of 6 by size, 5 of 6 by speed; vibration: rank 4 of 6 by size, 1 of 6 by speed")
    share = codec_choice.vibration_share_of_bytes(wide, telemetry_hz=10, vibration_hz=1)
    assert share == pytest.approx(100 * 15000 / (15000 + 1700))


def test_crafted_pickle_runs_code_when_loaded(capsys):
    pickle.loads(codec_choice.crafted_pickle())
    assert "printed by the payload" in capsys.readouterr().out
