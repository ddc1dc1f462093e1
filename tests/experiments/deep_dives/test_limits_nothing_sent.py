"""A send-grid run that reported neither a record nor an error is run once more, and never becomes the ceiling.

On a machine running three stacks, confluent-kafka's run at the grid's centre once came back with 0 records
and no error; the ceiling was 0 records/s and the knee after it refused to start (issue 35's chapter 02 run).
"""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from streamlab.errors import UserError
from streamlab.experiments.deep_dives import limits


def _result(records: int, error: str = "") -> SimpleNamespace:
    producer = SimpleNamespace(total_records=records, records_per_s=records / 2.0, mb_per_s=records / 2e4,
                               latency=None, errors=0)
    return SimpleNamespace(roles={"producer": producer}, replication=3, brokers=3, error=error, machine_state={})


def _grid(monkeypatch, results: list[SimpleNamespace]) -> tuple[pd.DataFrame, list[SimpleNamespace]]:
    left = list(results)
    monkeypatch.setattr(limits, "get_driver", lambda name: SimpleNamespace(name=name, check=lambda _e: None))
    monkeypatch.setattr(limits.bench, "run_one", lambda *_a, **_k: left.pop(0))
    frame = limits.send_limits(None, [limits.SendPoint(100, "all", 5.0)], drivers=["confluent-kafka"])
    return frame, left


def test_a_run_that_sent_nothing_without_an_error_is_tried_once_more(monkeypatch):
    frame, left = _grid(monkeypatch, [_result(0), _result(40_000)])
    assert not left and frame["records"].tolist() == [40_000]
    assert limits.ceiling(frame) == 20_000.0


def test_a_run_that_failed_with_an_error_is_kept_as_it_is(monkeypatch):
    frame, left = _grid(monkeypatch, [_result(0, error="KafkaException: no broker"), _result(40_000)])
    assert len(left) == 1 and frame["error"].tolist() == ["KafkaException: no broker"]


def test_a_zero_rate_is_no_ceiling(monkeypatch):
    frame, _left = _grid(monkeypatch, [_result(0), _result(0)])
    with pytest.raises(UserError, match="no confluent-kafka result at 100 B, acks=all"):
        limits.ceiling(frame)
