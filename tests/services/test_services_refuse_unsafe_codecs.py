"""No service reading from a broker accepts cloudpickle: one line naming the allowed codecs, exit 2 (issue 15)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from streamlab.codecs import SAFE_CODEC_NAMES, service_codec
from streamlab.errors import UserError

SERVICES = ["health_processor", "health_parquet_sink", "alert_csv_sink", "telemetry_generator",
            "vibration_generator"]


@pytest.mark.parametrize("name", ["cloudpickle", "yaml"])
def test_service_codec_refuses_unsafe_and_unknown_codecs(name):
    with pytest.raises(UserError, match="allowed codecs: " + ", ".join(SAFE_CODEC_NAMES)):
        service_codec(name)


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("how", ["flag", "env"])
def test_every_service_refuses_cloudpickle_in_one_line(service, how, tmp_path):
    env = {**os.environ, "KAFKA_BOOTSTRAP": "127.0.0.1:9"}   # never reached: the codec is refused first
    args = [sys.executable, "-m", f"streamlab.services.{service}", "--data-dir", str(tmp_path)]
    if how == "flag":
        args += ["--codec", "cloudpickle"]
    else:
        env["STREAMLAB_CODEC"] = "cloudpickle"
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cloudpickle" in lines[0] and "orjson" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
