"""The latest stream's freshness: publish time minus the reading's send time, per record; steady-state summary."""

from __future__ import annotations

import math

from streamlab.codecs import get_codec
from streamlab.domain import HealthRecord
from streamlab.experiments.application import freshness
from streamlab.transport import Record

T0 = 1_790_000_000_000_000_000


def _record(seq: int, sent_ns: int, published_ms: int) -> Record:
    health = HealthRecord("M001", seq, sent_ns + 5_000_000, sent_ns, 1.0, "ok", {})
    return Record("ns.machine-health-latest", b"M001", get_codec("orjson").encode(health), {}, 0, seq, published_ms)


def test_freshness_is_publish_time_minus_send_time():
    records = [_record(0, T0, T0 // 1_000_000 + 40), _record(1, T0 + 10**9, T0 // 1_000_000 + 1_100),
               Record("ns.machine-health-latest", b"M001", b"not a record", {}, 0, 2, 0)]
    fresh = freshness.rows_of(records, "orjson")
    assert list(fresh["seq"]) == [0, 1]                      # the stranger is left out
    assert list(fresh["freshness_ms"]) == [40.0, 100.0]


def test_the_summary_leaves_out_the_start_up():
    fresh = freshness.rows_of([_record(0, T0, T0 // 1_000_000 + 900), _record(1, T0 + 10**9, T0 // 1_000_000 + 1_020)],
                              "orjson")
    steady = freshness.summary(fresh, T0, after_s=0.5)
    assert steady["records"] == 1 and steady["p50_ms"] == steady["max_ms"] == 20.0
    assert math.isnan(freshness.summary(fresh, T0, after_s=5.0)["p50_ms"])
