"""The application's container setup as chapter 01 shows it: the compose files and the Dockerfile, read as they are.

The compose files are parsed by `streamlab.stack.compose_check`, the parser the
compose tests use, so the book and the tests read them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ...stack.compose_check import load_compose, service_env

PROCESSOR = "health-processor"


@dataclass(frozen=True)
class DockerFiles:
    """Where the container setup lives in a checkout."""

    app_compose: Path
    kafka_compose: Path
    dockerfile: Path

    @classmethod
    def under(cls, repo_root: Path) -> DockerFiles:
        return cls(repo_root / "compose" / "app.yml", repo_root / "compose" / "kafka.yml",
                   repo_root / "containers" / "Dockerfile")

    def present(self) -> bool:
        return self.app_compose.exists() and self.kafka_compose.exists() and self.dockerfile.exists()


def _depends(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return ", ".join(
        f"{name} ({(spec or {}).get('condition', '').removeprefix('service_').replace('_successfully', '')})"
        for name, spec in (value or {}).items()
    )


def compose_services(path: Path) -> pd.DataFrame:
    """One row per service of a compose file: image, command, replicas, dependencies, volumes, ports."""
    doc = load_compose(path)
    rows = []
    for name, svc in (doc.get("services") or {}).items():
        command = svc.get("command", "")
        rows.append({
            "service": name,
            "image": svc.get("image", ""),
            "command": " ".join(command) if isinstance(command, list) else str(command),
            "replicas": (svc.get("deploy") or {}).get("replicas", 1),
            "depends on": _depends(svc.get("depends_on")),
            "volumes": ", ".join(str(v) for v in svc.get("volumes") or []),
            "ports": ", ".join(str(p) for p in svc.get("ports") or []),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["service", "image", "command", "replicas", "depends on", "volumes", "ports"])


def processor_settings(app_compose: Path) -> dict[str, Any]:
    """What the prose quotes of the processor's compose service: image, bootstrap, grace period, replicas."""
    svc = (load_compose(app_compose).get("services") or {}).get(PROCESSOR, {})
    return {
        "image": svc.get("image", "?"),
        "bootstrap": service_env(svc).get("KAFKA_BOOTSTRAP", "?"),
        "grace": str(svc.get("stop_grace_period", "not set")),
        "replicas": int((svc.get("deploy") or {}).get("replicas", 1)),
    }


def dockerfile_instructions(dockerfile: Path) -> str:
    """The Dockerfile without comments and blank lines: the instructions as Docker reads them."""
    lines = dockerfile.read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines if line.strip() and not line.lstrip().startswith("#"))
