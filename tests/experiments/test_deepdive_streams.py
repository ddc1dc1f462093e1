"""Deep dive 7: the three implementations of one windowed aggregation agree record by record, and Kafka Streams
restores its state from the changelog after a SIGKILL (the hand-written loop, holding it in memory, does not)."""

from __future__ import annotations

import pandas as pd
import pytest
from plugins.capabilities import missing

from streamlab.errors import UserError
from streamlab.experiments.deepdives import streams
from streamlab.experiments.deepdives.streams_handwritten import TumblingTemperature

KEY = ["machine_id", "window_start_ms"]


def _require_built() -> None:
    reasons = [reason for way in streams.WAYS if (reason := streams.missing(way))]
    if reasons:
        missing("deep dive 7 needs what `make setup` builds: " + "; ".join(reasons))


def test_the_hand_written_windows_equal_the_expected_ones_without_a_broker():
    readings = streams.fleet_readings(3, 4.0, 1000)
    expected = streams.expected_windows(readings, 1000)
    windows = TumblingTemperature(1000)
    emitted = [w for r in readings if (w := windows.add(r.machine_id, r.ts_ms, r.temperature_c))]
    assert len(expected) == 3 * 4            # 4 s from a window boundary; each closing reading's window stays open
    check = streams.compare(pd.DataFrame(emitted), expected)
    assert check["missing"] == check["extra"] == check["differing"] == check["duplicates"] == 0
    assert check["max_abs_diff"] == 0.0      # the same additions in the same order


def test_lines_of_code_counts_each_implementation():
    loc = streams.lines_of_code().set_index("implementation")
    assert list(loc.index) == list(streams.WAYS)
    assert (loc["aggregation_lines"] > 5).all() and (loc["aggregation_lines"] < loc["program_lines"]).all()


def test_too_short_an_input_is_a_user_error():
    with pytest.raises(UserError, match="two windows"):
        streams.fleet_readings(2, 1.0, 1000)


@pytest.mark.kafka
def test_three_ways_emit_the_same_windows_record_by_record(kafka_stack):
    _require_built()
    check, windows = streams.compare_ways(kafka_stack.endpoints.kafka_bootstrap, machines=4, seconds=6.0,
                                          window_ms=1000)
    assert check["complete"].all()
    assert (check["windows_received"] == check["windows_expected"]).all()
    assert (check[["missing", "extra", "duplicates", "differing"]] == 0).all().all()
    by_way = {way: frame.set_index(KEY)[["count", "temp_mean", "temp_max"]].sort_index()
              for way, frame in windows.groupby("implementation")}
    first = by_way["hand-written"]
    for way in ("quixstreams", "Kafka Streams"):
        assert by_way[way].index.equals(first.index)
        assert (by_way[way] == first).all().all()          # same windows, same values, bit for bit


@pytest.mark.kafka
def test_kafka_streams_restores_its_state_after_a_kill_and_the_hand_written_loop_loses_it(kafka_stack):
    _require_built()
    machines = 3
    frame = streams.restart(kafka_stack.endpoints.kafka_bootstrap, machines=machines, seconds=6.0, window_ms=1000,
                            ways=("Kafka Streams", "hand-written")).set_index("implementation")
    kstreams, hand = frame.loc["Kafka Streams"], frame.loc["hand-written"]
    assert kstreams["complete"] and kstreams["windows_before_kill"] > 0
    assert kstreams["restored_records"] > 0                 # read back from the changelog on an empty disk
    assert kstreams["identical"] == kstreams["windows_expected"]
    assert kstreams["missing"] == kstreams["duplicates"] == kstreams["differing"] == 0
    assert hand["differing"] == machines                    # one straddling window per machine, half of it lost
    assert hand["missing"] == hand["duplicates"] == 0


def test_only_a_failed_partition_assignment_earns_the_restarted_instance_a_relaunch():
    seen_in_ci = ("quixstreams (restarted) exited before its output was complete: ... | "
                  "quixstreams.exceptions.assignment.PartitionAssignmentError: Error during partition assignment")
    assert streams._failed_assignment(seen_in_ci)
    assert not streams._failed_assignment("quixstreams (restarted) exited before its output was complete: "
                                          "ValueError: a window went missing")
