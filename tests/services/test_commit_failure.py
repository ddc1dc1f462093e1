"""A service whose commit fails for good ends with one line and exit code 2 (issue 36); the in-memory transport
of conftest.py stands in for the broker."""

from __future__ import annotations

import sys

import pytest

from streamlab.transport.base import TransportError


def test_a_service_whose_commit_fails_for_good_exits_2_with_one_line(fake_transport, tmp_path,
                                                                    monkeypatch, caplog):
    """The sink's loop meets a TransportError from its commit: exit code 2, the reason on one line."""
    from streamlab.services import alert_csv_sink

    def refuse():
        raise TransportError("Kafka refused the offset commit: Broker: Group authorization failed")

    fake_transport.consumer_.batches = []
    monkeypatch.setattr(fake_transport.consumer_, "commit", refuse)
    monkeypatch.setattr(sys, "argv", ["alert-csv-sink", "--data-dir", str(tmp_path), "--duration", "0.3"])
    with caplog.at_level("ERROR"), pytest.raises(SystemExit) as stopped:
        alert_csv_sink.main()
    assert stopped.value.code == 2
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == ["Kafka refused the offset commit: Broker: Group authorization failed"]
    assert all(r.exc_info is None for r in caplog.records)                        # no traceback logged
