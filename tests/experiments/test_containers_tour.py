"""The container tour's pure parts: podman's JSON parsed, runs compared, the kill/restart verdict."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from streamlab.experiments import containers as ct

STATS = json.dumps([
    {"id": "a1", "name": "streamlab-19092-kafka-1", "cpu_percent": "12.51%", "mem_usage": "402.3MB / 25.18GB",
     "mem_percent": "1.60%", "net_io": "1kB / 2kB", "block_io": "0B / 0B", "pids": "88"},
    {"id": "b2", "name": "streamlab-19092-health-processor", "cpu_percent": "3.00%",
     "mem_usage": "95.2MB / 1.074GB", "mem_percent": "8.86%", "pids": "7"},
])


def test_stats_become_numbers_per_container():
    frame = ct.parse_stats(STATS).set_index("container")
    assert frame.loc["streamlab-19092-kafka-1", "cpu_percent"] == pytest.approx(12.51)
    assert frame.loc["streamlab-19092-kafka-1", "mem_mb"] == pytest.approx(402.3)
    assert frame.loc["streamlab-19092-health-processor", "mem_limit_mb"] == pytest.approx(1074)
    assert frame.loc["streamlab-19092-kafka-1", "pids"] == 88
    assert ct.parse_stats("[]").empty


@pytest.mark.parametrize("text, mb", [("0B", 0.0), ("512kB", 0.512), ("1.5GiB", 1.5 * 1024**3 / 1e6), ("7MB", 7.0)])
def test_sizes_in_megabytes(text, mb):
    assert ct.parse_size(text) == pytest.approx(mb)


def test_unparseable_size_is_nan():
    assert math.isnan(ct.parse_size("lots"))


def test_containers_show_service_image_state_and_loopback_ports():
    text = json.dumps([{"Names": ["streamlab-19092-kafka-1"], "Image": "localhost/streamlab-kafka:4.4.0",
                        "State": "running", "Labels": {"io.streamlab.service": "kafka-1"},
                        "Ports": [{"host_ip": "127.0.0.1", "host_port": 19092, "container_port": 19092}],
                        "Networks": ["streamlab-19092"]}])
    row = ct.parse_containers(text).iloc[0]
    assert (row["service"], row["state"], row["ports"]) == ("kafka-1", "running", "127.0.0.1:19092->19092")


def test_runs_side_by_side():
    frame = ct.compare_runs([{"run": "local", "p50 end to end (ms)": 10.0},
                             {"run": "containers", "p50 end to end (ms)": 12.0}])
    assert list(frame.columns) == ["local", "containers"]
    assert frame.loc["p50 end to end (ms)", "containers"] == 12.0


def test_reaction_verdict_reads_the_timeline():
    timeline = pd.DataFrame([
        {"t_s": 0.0, "event": "killed", "unfenced": 3}, {"t_s": 2.0, "event": "sample", "unfenced": 3},
        {"t_s": 7.0, "event": "sample", "unfenced": 2}, {"t_s": 12.0, "event": "restarted", "unfenced": 2},
        {"t_s": 15.0, "event": "sample", "unfenced": 2}, {"t_s": 18.0, "event": "sample", "unfenced": 3},
    ])
    verdict = ct.reaction_verdict(timeline, nodes=3)
    assert verdict == {"noticed_s": 7.0, "whole_again_s": 6.0, "served_throughout": True}


def test_reaction_verdict_when_the_cluster_never_noticed():
    timeline = pd.DataFrame([{"t_s": 0.0, "event": "killed", "unfenced": 3},
                             {"t_s": 5.0, "event": "restarted", "unfenced": 3}])
    verdict = ct.reaction_verdict(timeline, nodes=3)
    assert math.isnan(verdict["noticed_s"])
    assert math.isnan(verdict["whole_again_s"])
    assert verdict["served_throughout"] is False


@pytest.mark.parametrize("text, seconds", [("20s", 20.0), ("2m", 120.0), ("45", 45.0), ("1.5m", 90.0)])
def test_durations(text, seconds):
    assert ct.parse_duration(text) == seconds


def test_bad_duration_is_a_user_error():
    from streamlab.errors import UserError

    with pytest.raises(UserError, match="is not a duration"):
        ct.parse_duration("soon")
