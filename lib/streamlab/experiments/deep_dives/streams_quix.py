"""Deep dive 7, way (b): the windowed temperature aggregation as a quixstreams application.

Run as its own process by the Python of a separate venv (`make setup` builds
`.cache/quix-venv`: quixstreams pins confluent-kafka below the project's version),
so this file imports nothing but the standard library and quixstreams, and the
harness starts it by path. Arguments: bootstrap input output group state-dir window-ms.
Its events (start, state recovery) go to stdout as JSON lines, like the Java topology's.
"""

from __future__ import annotations

import json
import logging
import sys
import time


def static_member(group: str) -> dict[str, object]:
    """A restarted instance takes over its predecessor's partitions at once (static membership, KIP-345)."""
    return {"group.instance.id": f"{group}-0", "session.timeout.ms": 6000}


def event(kind: str, **fields: object) -> None:
    print(json.dumps({"event": kind, "time_ms": int(time.time() * 1000), **fields}), flush=True)


class RecoveryEvents(logging.Handler):
    """quixstreams reports its changelog recovery only in its log: turn those lines into events."""

    MARKERS = {"Beginning recovery check": "restore-start", "Recovery process complete": "restore-end"}

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        for marker, kind in self.MARKERS.items():
            if text.startswith(marker):
                event(kind, message=text)


def main(bootstrap: str, source_topic: str, sink_topic: str, group: str, state_dir: str, window_ms: int) -> None:
    from quixstreams import Application
    from quixstreams.dataframe.windows import Count, Max, Mean

    # --- aggregation
    app = Application(broker_address=bootstrap, consumer_group=group, auto_offset_reset="earliest",
                      state_dir=state_dir, processing_guarantee="exactly-once", commit_interval=0.1,
                      consumer_extra_config=static_member(group), loglevel="INFO")
    source = app.topic(source_topic, key_deserializer="str", value_deserializer="json")
    sink = app.topic(sink_topic, key_serializer="str", value_serializer="json")
    windows = (app.dataframe(source)
               .tumbling_window(window_ms)
               .agg(count=Count(), temp_mean=Mean("temperature_c"), temp_max=Max("temperature_c"))
               .final())
    windows = windows.apply(lambda w, key, _ts, _headers: {
        "machine_id": key, "window_start_ms": w["start"], "count": w["count"],
        "temp_mean": w["temp_mean"], "temp_max": w["temp_max"]}, metadata=True)
    windows.to_topic(sink)
    # --- end of aggregation
    logging.getLogger("quixstreams").addHandler(RecoveryEvents(logging.INFO))  # after the app set up its logging
    event("start", window_ms=window_ms)
    app.run()


if __name__ == "__main__":
    if len(sys.argv) != 7:
        sys.exit("usage: streams_quix.py bootstrap input output group state-dir window-ms")
    main(*sys.argv[1:6], int(sys.argv[6]))
