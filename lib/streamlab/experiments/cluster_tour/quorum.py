"""The KRaft controller quorum as the cluster describes it (DescribeQuorum, through kafka-python).

confluent-kafka has no DescribeQuorum call, so the quorum is asked with
kafka-python's admin client; the one confluent AdminClient factory
(`streamlab.transport.kafka_admin.admin_client`) is not involved here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd

from ...transport.kafka_admin import quorum_client


@contextmanager
def quiet_kafka_python() -> Iterator[None]:
    """kafka-python logs every refused connection as a warning; a dead broker is the point here."""
    logger = logging.getLogger("kafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def quorum_table(bootstrap: str) -> pd.DataFrame:
    """The KRaft controller quorum as the cluster describes it (DescribeQuorum): voters, their lag, endpoints."""
    with quiet_kafka_python():
        client = quorum_client(bootstrap, "streamlab-tour", 5000)
        try:
            answer = client.describe_metadata_quorum()
        finally:
            client.close()
    part = answer["topics"][0]["partitions"][0]
    endpoints = {n["node_id"]: ", ".join(f"{lis['name']} {lis['host']}:{lis['port']}" for lis in n["listeners"])
                 for n in answer.get("nodes", [])}
    now_ms = time.time() * 1000
    rows = []
    for voter in part["current_voters"]:
        vid = voter["replica_id"]
        last = voter.get("last_fetch_timestamp", -1)
        rows.append({"voter": vid, "role": "leader" if vid == part["leader_id"] else "follower",
                     "controller endpoint": endpoints.get(vid, ""),
                     "metadata log end offset": voter["log_end_offset"],
                     "behind the leader (records)": part["high_watermark"] - voter["log_end_offset"],
                     "last fetch (ms ago)": round(now_ms - last) if last and last > 0 else None})
    frame = pd.DataFrame(rows)
    frame.attrs.update(leader=part["leader_id"], epoch=part["leader_epoch"], high_watermark=part["high_watermark"])
    return frame
