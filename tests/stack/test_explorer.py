"""The explorer's pure parts, and its one-line answer when no Kafka is there."""

from __future__ import annotations

import pytest

from streamlab.errors import UserError
from streamlab.stack.explorer import GROUP_COLUMNS, PARTITION_COLUMNS, describe_groups, describe_topics, preview


def test_preview_shows_text_as_text_and_bytes_as_hex():
    assert preview(None) == "(null)"
    assert preview(b'{"machine_id": "M001"}') == '{"machine_id": "M001"}'
    assert preview(b"x" * 30, width=10) == "x" * 9 + "…"
    assert preview(bytes([0, 1, 2, 255])) == "<4 bytes> 00 01 02 ff"
    assert preview("é".encode() + b"\x00") == "<3 bytes> c3 a9 00"      # decodable but not printable


def test_tables_have_fixed_columns():
    assert PARTITION_COLUMNS[:3] == ["topic", "partition", "leader"]
    assert GROUP_COLUMNS[-1] == "lag" and "committed" in GROUP_COLUMNS


@pytest.mark.parametrize("describe", [describe_topics, describe_groups])
def test_no_kafka_is_one_line_that_says_what_to_do(describe):
    with pytest.raises(UserError, match=r"Kafka does not answer at 127\.0\.0\.1:9 .*streamlab stack up") as info:
        describe("127.0.0.1:9")
    assert "\n" not in str(info.value)
