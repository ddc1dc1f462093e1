"""RabbitMQ's own view of itself, from the management API (the HTTP interface behind its web UI)."""

from __future__ import annotations

import pandas as pd

from ...transport.rabbitmq.management import mgmt_api


def rabbit_overview(mgmt_url: str, amqp_url: str, timeout_s: float = 5.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """RabbitMQ's own view of itself from the management API: the node(s) and the listeners.

    The credentials are the AMQP URL's; the management API is the same HTTP
    interface the web UI uses, so this is what the UI would show.
    """
    overview = mgmt_api(mgmt_url, amqp_url, "/api/overview", timeout_s)
    nodes = mgmt_api(mgmt_url, amqp_url, "/api/nodes", timeout_s)
    node_rows = [{
        "node": n.get("name"), "running": n.get("running"), "type": n.get("type"),
        "RabbitMQ": overview.get("rabbitmq_version"), "Erlang": overview.get("erlang_version"),
        "uptime (s)": round(n.get("uptime", 0) / 1000), "memory used (MiB)": round(n.get("mem_used", 0) / 2**20, 1),
        "memory alarm at (MiB)": round(n.get("mem_limit", 0) / 2**20), "file descriptors used": n.get("fd_used"),
        "Erlang processes": n.get("proc_used"), "network partitions": len(n.get("partitions", [])),
    } for n in nodes]
    listener_rows = [{"node": item.get("node"), "protocol": item.get("protocol"), "port": item.get("port")}
                     for item in overview.get("listeners", [])]
    return pd.DataFrame(node_rows), pd.DataFrame(listener_rows)
