"""The chart builders of chapters 00, 01 and 04 return charts with the encodings the chapters rely on.

Each chart is turned into its Vega-Lite spec (``to_dict``), which validates it
against the schema, and the fields of its encodings are checked.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from streamlab.experiments.application import architecture, codec_choice, metrics
from streamlab.plots import application
from streamlab.plots import cluster_tour as tour

sys.path.insert(0, str(Path(__file__).parents[1] / "experiments" / "cluster_tour"))
sys.path.insert(0, str(Path(__file__).parent))
import chartfit
from synthetic_tour import make_result


def _fields(spec: dict, channel: str) -> set[str]:
    return {enc[channel]["field"] for enc in chartfit.encodings(spec) if isinstance(enc.get(channel), dict)
            and "field" in enc[channel]}


def test_tour_time_charts_share_the_tour_axis():
    result = make_result()
    leaders = tour.leadership_chart(result).to_dict()
    assert {"t_s"} <= _fields(leaders, "x") and "leader" in _fields(leaders, "color")
    assert "row" in _fields(leaders, "y")
    isr = tour.isr_chart(result).to_dict()
    assert "partitions" in _fields(isr, "y") and "series" in _fields(isr, "color")
    throughput = tour.throughput_chart(result).to_dict()
    assert "per_s" in _fields(throughput, "y") and "outcome" in _fields(throughput, "strokeDash")
    latency = tour.latency_chart(result).to_dict()
    assert "seconds" in _fields(latency, "y")
    for spec in (leaders, isr, throughput, latency):
        assert "start" in _fields(spec, "x") or "t_s" in _fields(spec, "x")  # the outage overlay


def test_connections_chart_is_a_grid_with_counts():
    connections = pd.DataFrame({"from": ["kafka node 1", "this notebook"], "to": ["kafka node 2", "kafka node 1"],
                                "listener": ["PLAINTEXT", "PLAINTEXT"], "connections": [2, 1]})
    spec = tour.connections_chart(connections).to_dict()
    assert _fields(spec, "x") == {"target"} and _fields(spec, "y") == {"from"}
    assert "connections" in _fields(spec, "text")


def test_application_charts():
    fleet_window = architecture.band_energy_demo(7)
    bands = application.band_energy_chart(fleet_window, list(architecture.BAND_DEMO_CONDITIONS.values())).to_dict()
    assert _fields(bands, "x") == {"rms"} and "condition" in _fields(bands, "color")

    from streamlab.services.generator_loop import build_fleet

    window = build_fleet(2, 7, 10).vibration("M000", t_s=0.0)
    axes = application.vibration_window_chart(architecture.window_axes(window), "M000").to_dict()
    assert _fields(axes, "x") == {"t_ms"} and _fields(axes, "y") == {"accel"}

    rates = pd.DataFrame({"t_s": [1.0, 2.0, 1.0], "rate": [200.0, 201.0, 20.0],
                          "series": ["telemetry generator: sent", "telemetry generator: sent",
                                     "vibration generator: sent"]})
    flow = application.stage_rates_chart(metrics.stage_flow(rates), metrics.STAGE_ORDER).to_dict()
    assert _fields(flow, "y") == {"rate"} and "stage" in _fields(flow, "color")

    over_time = pd.DataFrame({"t_s": [0.0, 1.0], "stage": ["end to end (send → durable)"] * 2,
                              "statistic": ["p50", "p50"], "latency_ms": [5.0, 6.0]})
    spec = application.latency_over_time_chart(over_time).to_dict()
    assert _fields(spec, "y") == {"latency_ms"} and _fields(spec, "strokeDash") == {"statistic"}

    lag = pd.DataFrame({"t_s": [1.0, 2.0], "group": ["health-processor"] * 2, "lag": [10, 0]})
    assert "lag" in _fields(application.consumer_lag_chart(lag).to_dict(), "y")


def test_alerts_chart_layers_faults_and_alerts():
    faults = pd.DataFrame({"machine_id": ["M001"], "mode": ["overheating"], "start_s": [5.0], "ramp_s": [5.0],
                           "developed_s": [10.0], "failure_s": [20.0]})
    timeline = pd.DataFrame({"machine_id": ["M001", "M004"], "t_s": [7.0, 1.0], "state": ["warning", "warning"],
                             "during_fault": [True, False]})
    spec = application.alerts_chart(faults, timeline, 30.0).to_dict()
    assert {"start_s", "developed_s", "failure_s", "t_s"} <= _fields(spec, "x")
    assert _fields(spec, "color") == {"state"} and _fields(spec, "shape") == {"during_fault"}


@pytest.fixture
def wide() -> pd.DataFrame:
    rows = [{"message_type": m, "codec": c, "encode_us": float(i + 1), "decode_us": 1.0, "bytes": 100.0 * (i + 1),
             "bytes_vs_json": (i + 1) / 1.0} for m in ("telemetry", "vibration")
            for i, c in enumerate(["json", "orjson", "msgpack"])]
    return codec_choice.with_round_trip(pd.DataFrame(rows).set_index(["message_type", "codec"]))


def test_codec_charts(wide):
    timing = application.codec_timing_chart(wide, "telemetry").to_dict()
    assert _fields(timing, "x") == {"us"} and _fields(timing, "y") == {"codec"}
    assert "operation" in _fields(timing, "color")
    size = application.codec_size_chart(wide).to_dict()
    assert _fields(size, "x") == {"percent"} and "message_type" in _fields(size, "color")
    data = size["datasets"][next(iter(size["datasets"]))]
    assert np.isclose(max(row["percent"] for row in data), 300.0)


def test_scoring_crossover_chart_marks_where_auto_vectorises():
    from streamlab.plots.profiling import scoring_crossover

    samples = pd.DataFrame([{"path": path, "readings_per_machine": n, "us_per_reading": us}
                            for path, n, us in (("per-record", 1, 10.0), ("per-record", 64, 12.0),
                                                ("vectorised", 1, 250.0), ("vectorised", 64, 8.0))])
    spec = scoring_crossover(samples, 48).to_dict()
    assert _fields(spec, "x") == {"readings_per_machine"}
    assert _fields(spec, "color") == {"path"}
    rule = [layer for layer in spec["layer"] if layer["mark"]["type"] == "rule"]
    assert rule and spec["datasets"][rule[0]["data"]["name"]][0]["readings_per_machine"] == 48
