"""STACK=podman given bad input: one clear line on stderr, a non-zero exit, no traceback.

Each case runs the real command line (`streamlab stack up`, `make images`' module) in a subprocess
with an environment that provokes the failure: podman not on PATH, a podman whose image store is
empty, a host port already held, a STACK that does not exist. None starts a container."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from plugins.capabilities import IN_CI
from streamlab.paths import HOME as REPO_ROOT

# CI: not skipped, so a missing podman fails the test
needs_podman = pytest.mark.skipif(
    shutil.which("podman") is None and not IN_CI, reason="podman not installed (make setup)"
)


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP", "AMQP_URL", "BROKER", "STACK")}
    base["PYTHONPATH"] = str(REPO_ROOT / "lib")
    return subprocess.run([sys.executable, *args], env={**base, **env}, capture_output=True, text=True, timeout=120)


def stack_up(env: dict[str, str], broker: str = "kafka") -> subprocess.CompletedProcess:
    return run(["-c", "from streamlab.cli import main; main()", "stack", "up", "--broker", broker], env)


def assert_one_clear_line(result: subprocess.CompletedProcess, *phrases: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert len(lines) == 1, result.stderr
    for phrase in phrases:
        assert phrase in lines[0]


def free_port(block: int = 3) -> int:
    """The first of `block` consecutive free ports (the stack's nodes listen on port, port + 1, …), below
    the kernel's ephemeral range: a port there is never taken at random by some client's connection, as
    the neighbours of an ephemeral port the kernel just handed out can be."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(21000, 24000)
        if all(_bindable(base + i) for i in range(block)):
            return base
    raise RuntimeError("no block of free ports in 21000–24000 on 127.0.0.1")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_wrong_stack_kind():
    assert_one_clear_line(stack_up({"STACK": "podmn"}), "STACK='podmn' is not known", "podman")


def test_podman_missing(tmp_path):
    bin_dir = tmp_path / "bin"                      # python only: no podman on this PATH
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    result = stack_up({"STACK": "podman", "PATH": str(bin_dir), "KAFKA_PORT": str(free_port())})
    assert_one_clear_line(result, "podman not found", "make setup")


def test_images_without_podman_say_what_to_do(tmp_path):
    result = run(["-m", "streamlab.stack.podman_images"], {"PATH": str(tmp_path)})
    assert_one_clear_line(result, "podman not found")


@pytest.fixture
def empty_image_store(tmp_path: Path) -> dict[str, str]:
    """A podman configuration whose image store is an empty temp dir: every image is missing."""
    conf = tmp_path / "storage.conf"
    conf.write_text(f'[storage]\ndriver = "vfs"\ngraphroot = "{tmp_path / "graph"}"\nrunroot = "{tmp_path / "run"}"\n')
    return {"CONTAINERS_STORAGE_CONF": str(conf)}


@needs_podman
def test_image_missing(empty_image_store):
    port = free_port()
    result = stack_up({"STACK": "podman", "KAFKA_PORT": str(port), **empty_image_store})
    assert_one_clear_line(result, "image localhost/streamlab-kafka:4.4.0 is missing", "make images")


@needs_podman
def test_port_taken(empty_image_store):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = stack_up({"STACK": "podman", "KAFKA_PORT": str(port), **empty_image_store})
    assert_one_clear_line(result, f"port already in use: kafka node 1 {port}")
