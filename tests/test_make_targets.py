"""The Makefile as a user meets it: `make help` in a log, `make lab` as root."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_make_help_writes_no_colour_codes_when_not_a_terminal():
    out = subprocess.run(["make", "-s", "help"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "\x1b" not in out
    assert "  test " in out and "  book " in out and "  lab " in out


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""


@pytest.mark.timeout(180)
def test_jupyterlab_starts_as_root_on_loopback_with_a_token(tmp_path):
    if not (REPO / ".venv" / "bin" / "jupyter").exists():
        pytest.skip("no .venv with JupyterLab: run `make setup`")
    port, token = _free_port(), secrets.token_hex(8)
    log = (tmp_path / "lab.log").open("w")
    proc = subprocess.Popen(["make", "-s", "lab-server", f"LAB_PORT={port}", f"LAB_TOKEN={token}"], cwd=REPO,
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config")})
    try:
        status, page = 0, ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, page = _get(f"http://127.0.0.1:{port}/lab?token={token}")
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(1)
        output = (tmp_path / "lab.log").read_text()
        assert status == 200, f"JupyterLab did not serve /lab (exit {proc.poll()}):\n{output[-2000:]}"
        assert "JupyterLab" in page
        assert f"http://127.0.0.1:{port}/lab?token={token}" in output   # the URL a user clicks is printed
        unauthenticated, _ = _get(f"http://127.0.0.1:{port}/api/contents")
        assert unauthenticated == 403
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
