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
from plugins.capabilities import missing

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


def _get_when_served(url: str, proc: subprocess.Popen, timeout_s: float) -> tuple[int, str]:
    """`_get(url)` once the server started by `proc` answers 200, polled until `timeout_s` or its exit;
    the last answer otherwise ((0, "") if it never answered)."""
    status, page = 0, ""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            status, page = _get(url)
            if status == 200:
                break
        except OSError:
            pass
        time.sleep(0.2)
    return status, page


@pytest.mark.timeout(180)
def test_jupyterlab_starts_as_root_on_loopback_with_a_token(tmp_path):
    if not (REPO / ".venv" / "bin" / "jupyter").exists():
        missing("no .venv with JupyterLab: run `make setup`")
    port, token = _free_port(), secrets.token_hex(8)
    log = (tmp_path / "lab.log").open("w")
    proc = subprocess.Popen(["make", "-s", "lab-server", f"LAB_PORT={port}", f"LAB_TOKEN={token}"], cwd=REPO,
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config")})
    try:
        status, page = _get_when_served(f"http://127.0.0.1:{port}/lab?token={token}", proc, timeout_s=120)
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


def test_make_serve_serves_the_built_book_and_its_downloads_on_loopback(tmp_path):
    html = tmp_path / "html"
    (html / "book").mkdir(parents=True)
    (html / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=book/intro.html">')
    (html / "book" / "intro.html").write_text("<h1>streamlab</h1>")
    (html / "book" / "results.csv").write_text("a,b\n1,2\n")
    port = _free_port()
    proc = subprocess.Popen(["make", "-s", "serve", f"SERVE_PORT={port}", f"BOOK_HTML={html}"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            text=True, start_new_session=True)
    try:
        status, page = _get_when_served(f"http://127.0.0.1:{port}/book/intro.html", proc, timeout_s=30)
        assert (status, page) == (200, "<h1>streamlab</h1>"), proc.poll()
        assert _get(f"http://127.0.0.1:{port}/book/results.csv") == (200, "a,b\n1,2\n")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        output = proc.communicate(timeout=20)[0]
    assert f"http://127.0.0.1:{port}/" in output


def test_make_serve_without_a_build_says_what_to_run(tmp_path):
    proc = subprocess.run(["make", "-s", "serve", f"BOOK_HTML={tmp_path / 'nothing'}"], cwd=REPO,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    # our one line first; make adds its own "*** [serve] Error 2" after it
    assert proc.stderr.splitlines()[0] == f"error: no book in {tmp_path / 'nothing'}: build it with `make book` first"
    assert "Traceback" not in proc.stderr
