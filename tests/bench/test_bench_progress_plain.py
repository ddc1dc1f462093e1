"""Progress off a terminal (issue 19.3): one plain line per phase, no `\\r` frames, no ANSI codes."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import time
from streamlab.bench.drivers.base import Progress
p = Progress(total_s=12)
p.note("confluent-kafka: preparing")
for sent in range(0, 30_000, 1_000):
    p.note(f"confluent-kafka: warm-up, sent {sent:,}")
for sent in range(30_000, 90_000, 1_000):
    p.note(f"confluent-kafka: measuring, sent {sent:,}, received {sent - 7:,}")
    time.sleep(0.01)
p.note("confluent-kafka: cleaning up")
p.close()
"""


def _stderr(script: str) -> str:
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stderr


def test_bench_progress_is_one_line_per_phase_off_a_tty():
    err = _stderr(SCRIPT)
    assert "\r" not in err and "\x1b" not in err
    lines = err.splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == [
        "confluent-kafka: preparing", "confluent-kafka: warm-up, sent 0",
        "confluent-kafka: measuring, sent 30,000, received 29,993", "confluent-kafka: cleaning up", "done"]


def test_codec_bench_progress_has_no_frames_off_a_tty():
    err = _stderr("from streamlab.bench.codec_bench import run_codec_benchmark\n"
                  "run_codec_benchmark(n_messages=10, repeats=1, progress=True)")
    assert "\r" not in err and "\x1b" not in err
