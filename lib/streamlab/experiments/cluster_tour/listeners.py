"""The brokers' listeners: as the local stack's ``server.properties`` and the compose file configure them,
and what a client learns from one bootstrap address (the advertised addresses)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ...stack.compose_check import load_compose, parse_listeners, published_ports, service_env
from ...transport.kafka_admin import admin_client


def _parse_properties(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def local_listener_table(kafka: Any) -> pd.DataFrame:
    """Each node's listeners as its ``server.properties`` configures them (local stack only)."""
    rows = []
    for node in getattr(kafka, "nodes", []):
        if not node.properties_file.exists():
            continue
        props = _parse_properties(node.properties_file)
        advertised = dict(item.split("://", 1) for item in props.get("advertised.listeners", "").split(",") if item)
        for item in props.get("listeners", "").split(","):
            name, address = item.split("://", 1)
            role = ("the KRaft quorum: controllers vote and brokers fetch metadata"
                    if name in props.get("controller.listener.names", "").split(",")
                    else "clients and replication between brokers"
                    if name == props.get("inter.broker.listener.name") else "clients")
            rows.append({"node": node.index, "listener": name, "binds": address,
                         "advertised": advertised.get(name, "(not advertised)"), "used by": role})
    return pd.DataFrame(rows, columns=["node", "listener", "binds", "advertised", "used by"])


def compose_listener_table(compose_file: Path | str) -> pd.DataFrame:
    """The same table for the Docker Compose stack, read from its file (the engine need not run).

    Parsed by `streamlab.stack.compose_check`, the parser the compose tests use.
    """
    doc = load_compose(Path(compose_file))
    rows = []
    for service, body in sorted((doc.get("services") or {}).items()):
        env = service_env(body)
        listeners = env.get("KAFKA_LISTENERS")
        if not listeners:
            continue
        advertised = parse_listeners(env.get("KAFKA_ADVERTISED_LISTENERS", ""))
        published = {p["target"]: f"{p['host_ip']}:{p['published']}" if p["host_ip"] else str(p["published"])
                     for p in published_ports(body)}
        for name, (host, port) in parse_listeners(listeners).items():
            ad = advertised.get(name)
            rows.append({"container": service, "listener": name, "binds (in the container)": f"{host}:{port}",
                         "advertised": f"{ad[0]}:{ad[1]}" if ad else "(not advertised)",
                         "published on the host": published.get(port, "no")})
    return pd.DataFrame(rows, columns=["container", "listener", "binds (in the container)", "advertised",
                                       "published on the host"])


def advertised_view(bootstrap_one: str) -> pd.DataFrame:
    """What a client learns from a single bootstrap address: every broker and the address it advertises."""
    metadata = admin_client(bootstrap_one).list_topics(timeout=10)
    return pd.DataFrame([{"broker": b.id, "advertised address": f"{b.host}:{b.port}",
                          "learnt from": bootstrap_one} for b in sorted(metadata.brokers.values(), key=lambda b: b.id)])
