"""What every broker stack offers, whatever runs it (local processes, Docker, or someone else's cluster)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class NodeStatus:
    """One broker node as `stack status` shows it."""

    broker: str          # "kafka" | "rabbitmq"
    node: int            # 1-based index within its cluster
    pid: int | None
    state: str           # running | paused | stopped | external | unknown
    address: str         # host:port clients use
    detail: str = ""     # e.g. "controller (quorum leader)" or "cluster member"


class BrokerStack(Protocol):
    """One broker kind's cluster; nodes are numbered from 1."""

    name: str

    def start(self) -> None:
        """Launch what is not running and return at once."""

    def wait_ready(self) -> None:
        """Block until the cluster serves clients, or raise StackError saying why not."""

    def up(self) -> None:
        """start() then wait_ready()."""

    def down(self) -> None: ...
    def status(self) -> list[NodeStatus]: ...
    def is_ready(self) -> bool: ...
    def kill_node(self, node: int) -> None: ...
    def pause_node(self, node: int) -> None: ...
    def resume_node(self, node: int) -> None: ...
    def restart_node(self, node: int) -> None: ...
