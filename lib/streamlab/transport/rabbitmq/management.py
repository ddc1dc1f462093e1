"""RabbitMQ's management API (the HTTP interface behind its web UI): the one place that requests it.

The credentials are the AMQP URL's, so a caller that can publish can read what the UI would show.
Used by the RabbitMQ back end (bindings of a cluster), the tour's view of the node, the patterns'
topology read-back and the RabbitMQ speed experiment's memory readings.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any


def mgmt_get(url: str, amqp_url: str, timeout: float = 5) -> Any:
    """GET a management-API URL as JSON, with the credentials of `amqp_url`."""
    import pika

    creds = pika.URLParameters(amqp_url).credentials
    request = urllib.request.Request(url)
    token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def mgmt_api(mgmt_url: str, amqp_url: str, path: str, timeout: float = 5) -> Any:
    """GET ``path`` (``/api/overview``, ``/api/queues/%2F``, ...) of the management API at ``mgmt_url``."""
    return mgmt_get(mgmt_url.rstrip("/") + path, amqp_url, timeout)
