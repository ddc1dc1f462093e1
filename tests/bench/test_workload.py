"""The workload loader: shipped workloads load, bad input fails with a message naming the field."""

from __future__ import annotations

import pytest

from streamlab.bench.workload import (
    Workload,
    WorkloadError,
    list_workloads,
    load_workload,
    parse_duration,
    parse_rate,
    workload_from_dict,
)
from streamlab.errors import UserError


def write(tmp_path, text: str, name: str = "w.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_every_shipped_workload_loads():
    names = list_workloads()
    assert {"max-throughput-100b", "max-throughput-1kb", "fixed-rate-latency", "latency-half-max",
            "app-nominal-telemetry"} <= set(names)
    for name in names:
        wl = load_workload(name)
        assert wl.name == name
        assert wl.message_size >= 8 and wl.duration_s > 0


def test_shipped_values_are_what_the_files_say():
    wl = load_workload("max-throughput-100b")
    assert (wl.message_size, wl.rate, wl.acks, wl.replication, wl.phases) == (100, None, "all", 3, "sequential")
    assert wl.rate_label == "max"
    half = load_workload("latency-half-max")
    assert half.rate is None and half.rate_fraction == 0.5 and half.rate_label == "50% of max"
    fixed = load_workload("fixed-rate-latency")
    assert fixed.fixed_rate and fixed.rate == 2000 and fixed.per_producer_rate == 2000


def test_load_by_path_and_defaults(tmp_path):
    path = write(tmp_path, "message_size: 1KiB\nrate: 5k\nduration: 2m\nwarmup: 500ms\n", "my-load.yaml")
    wl = load_workload(path)
    assert wl.name == "my-load"                       # the file name when the file has none
    assert (wl.message_size, wl.rate, wl.duration_s, wl.warmup_s) == (1024, 5000.0, 120.0, 0.5)
    assert wl.partitions == 6 and wl.acks == "all" and wl.linger_ms == 5.0 and wl.batch_size == 16384


@pytest.mark.parametrize("text, field", [
    ("message_size: abc\n", "message_size"),
    ("message_size: 4\n", "message_size"),
    ("rate: fast\n", "rate"),
    ("rate: 0\n", "rate"),
    ("rate: 150%\n", "rate"),
    ("producers: 0\n", "producers"),
    ("partitions: 2.5\n", "partitions"),
    ("acks: 2\n", "acks"),
    ("compression: brotli\n", "compression"),
    ("duration: soon\n", "duration"),
    ("duration: 0s\n", "duration"),
    ("warmup: -1\n", "warmup"),
    ("persistent: maybe\n", "persistent"),
    ("queue_type: lazy\n", "queue_type"),
    ("phases: parallel\n", "phases"),
    ("codec: json\n", "codec"),
    ("max_records: 0\n", "max_records"),
    ("batch_size: big\n", "batch_size"),
    ("phases: sequential\nrate: 100\n", "phases"),
])
def test_bad_field_names_the_field_and_the_file(tmp_path, text, field):
    path = write(tmp_path, "name: bad\n" + text)
    with pytest.raises(WorkloadError) as info:
        load_workload(path)
    message = str(info.value)
    assert f"field {field!r}" in message
    assert str(path) in message
    assert "\n" not in message                       # one line: the CLI prints it as is


def test_unknown_field_is_an_error_listing_known_fields(tmp_path):
    path = write(tmp_path, "name: typo\nmesage_size: 100\n")
    with pytest.raises(WorkloadError, match=r"unknown field 'mesage_size'; known fields: .*message_size"):
        load_workload(path)


def test_invalid_yaml_says_where(tmp_path):
    path = write(tmp_path, "name: broken\nmessage_size: [100\n")
    with pytest.raises(WorkloadError, match=r"not valid YAML at line \d+, column \d+"):
        load_workload(path)


def test_not_a_mapping(tmp_path):
    path = write(tmp_path, "- 1\n- 2\n")
    with pytest.raises(WorkloadError, match="must be a mapping"):
        load_workload(path)


def test_unknown_name_lists_the_shipped_ones():
    with pytest.raises(WorkloadError, match="max-throughput-100b"):
        load_workload("no-such-workload")


def test_missing_file():
    with pytest.raises(WorkloadError, match="does not exist"):
        load_workload("/nonexistent/dir/x.yaml")


def test_workload_error_is_a_stack_error_for_the_cli():
    assert issubclass(WorkloadError, UserError)


def test_acks_spellings():
    assert workload_from_dict({"name": "a", "acks": -1}).acks == "all"
    assert workload_from_dict({"name": "a", "acks": 1}).acks == "1"
    assert workload_from_dict({"name": "a", "acks": "ALL"}).acks == "all"


def test_replace_validates_and_round_trips():
    wl = load_workload("max-throughput-1kb")
    short = wl.replace(duration="3s", warmup=1, partitions=1)
    assert (short.duration_s, short.warmup_s, short.partitions) == (3.0, 1.0, 1)
    assert short.message_size == wl.message_size and short.name == wl.name
    with pytest.raises(WorkloadError, match="field 'partitions'"):
        wl.replace(partitions=0)
    again = workload_from_dict(wl.to_dict())
    assert isinstance(again, Workload)
    assert again.to_dict() == wl.to_dict()
    half = load_workload("latency-half-max")
    assert workload_from_dict(half.to_dict()).rate_fraction == 0.5
    assert half.replace(rate=1234).rate == 1234 and half.replace(rate=1234).rate_fraction is None


def test_parsers():
    assert parse_duration("20s") == 20 and parse_duration("500ms") == 0.5 and parse_duration("2m") == 120
    assert parse_duration(3) == 3.0 and parse_duration("1.5") == 1.5
    assert parse_rate("max") == (None, None) and parse_rate(-1) == (None, None)
    assert parse_rate("5000/s") == (5000.0, None) and parse_rate("2.5k") == (2500.0, None)
    assert parse_rate("50%") == (None, 0.5)
    with pytest.raises(WorkloadError):
        parse_duration(True)


def test_settings_carry_the_load():
    settings = load_workload("fixed-rate-latency").settings()
    assert settings["rate"] == "2000/s" and settings["message_size"] == 100 and settings["acks"] == "all"
