"""Which codec to pick, read from the codec benchmark's table (Bonus 1); and why cloudpickle is never one.

The benchmark (`streamlab.bench.codec_bench`) times every codec on the
pipeline's real messages; the functions here turn its wide summary (one row
per message type and codec, with ``round_trip_us``, ``bytes`` and
``bytes_vs_json``) into the figures the chapter quotes.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence

import pandas as pd

from ...codecs import SAFE_CODEC_NAMES

MESSAGE_TYPES = ("telemetry", "vibration")
BASELINE = "json"
UNSAFE_CONTENDER = "cloudpickle"


def with_round_trip(summary: pd.DataFrame) -> pd.DataFrame:
    """The benchmark's summary (index message_type, codec) flat, with ``round_trip_us`` = encode + decode."""
    wide = summary.reset_index()
    wide["round_trip_us"] = wide["encode_us"] + wide["decode_us"]
    return wide


def safe_codecs(wide: pd.DataFrame, message_type: str) -> pd.DataFrame:
    """One message type's rows for the codecs a consumer may decode from untrusted input, indexed by codec."""
    part = wide[(wide["message_type"] == message_type) & wide["codec"].isin(SAFE_CODEC_NAMES)]
    return part.set_index("codec")


def recommend(part: pd.DataFrame, size_margin: float = 0.10) -> str:
    """The fastest codec among those whose encoding is within ``size_margin`` of the smallest."""
    if part.empty:
        raise ValueError("no codec to choose from")
    compact = part[part["bytes"] <= (1 + size_margin) * part["bytes"].min()]
    return str(compact["round_trip_us"].idxmin())


def comparison(wide: pd.DataFrame, message_types: Sequence[str] = MESSAGE_TYPES) -> pd.DataFrame:
    """Per message type: the fastest and the smallest safe codec against ``json``, and the recommendation.

    One row per message type; every number the chapter's recommendation quotes.
    """
    rows = []
    for message_type in message_types:
        part = safe_codecs(wide, message_type)
        fastest, smallest, pick = part["round_trip_us"].idxmin(), part["bytes"].idxmin(), recommend(part)
        base = part.loc[BASELINE]
        rows.append({
            "message type": message_type,
            "fastest": fastest, "fastest round trip (µs)": part.loc[fastest, "round_trip_us"],
            "fastest vs json (× faster)": base["round_trip_us"] / part.loc[fastest, "round_trip_us"],
            "fastest size (% of json)": 100 * part.loc[fastest, "bytes_vs_json"],
            "smallest": smallest, "smallest bytes": part.loc[smallest, "bytes"],
            "smallest size (% of json)": 100 * part.loc[smallest, "bytes_vs_json"],
            "smallest round trip (µs)": part.loc[smallest, "round_trip_us"],
            "per core per s, fastest": 1e6 / part.loc[fastest, "round_trip_us"],
            "per core per s, json": 1e6 / base["round_trip_us"],
            "recommended": pick, "recommended size (% of json)": 100 * part.loc[pick, "bytes_vs_json"],
            "recommended vs json (× faster)": base["round_trip_us"] / part.loc[pick, "round_trip_us"],
        })  # fmt: skip
    return pd.DataFrame(rows).set_index("message type")


def contender_rank(wide: pd.DataFrame, codec: str = UNSAFE_CONTENDER,
                   message_types: Sequence[str] = MESSAGE_TYPES) -> str:
    """Where a codec ranks among all codecs, by size and by speed, per message type: a phrase for the prose."""
    ranks = []
    for message_type in message_types:
        part = wide[wide["message_type"] == message_type].set_index("codec")
        size_rank = int(part["bytes"].rank(method="min")[codec])
        speed_rank = int(part["round_trip_us"].rank(method="min")[codec])
        ranks.append(f"{message_type}: rank {size_rank} of {len(part)} by size, {speed_rank} of {len(part)} by speed")
    return "; ".join(ranks)


def vibration_share_of_bytes(wide: pd.DataFrame, telemetry_hz: float, vibration_hz: float,
                             codec: str = BASELINE) -> float:
    """Percent of the input streams' bytes that are vibration windows, per machine at the given rates."""
    size = wide.set_index(["message_type", "codec"])["bytes"]
    vibration = vibration_hz * float(size.loc[("vibration", codec)])
    telemetry = telemetry_hz * float(size.loc[("telemetry", codec)])
    return 100 * vibration / (vibration + telemetry)


class _CallsPrint:
    """A pickle that calls ``print`` while it is loaded: what any writer to a topic could make a consumer run."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("this line was printed by the payload while it was being decoded",))


def crafted_pickle() -> bytes:
    """A harmless demonstration payload: unpickling it runs ``print`` before any decoder can object."""
    return pickle.dumps(_CallsPrint())
