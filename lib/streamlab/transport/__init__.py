"""Transports: one interface (`base.Transport`), a back end per broker and client, side by side.

`get_transport("kafka", client="confluent", ep=...)` is the fast path,
`client="kafka-python"` the pure-Python reference; `get_transport("rabbitmq",
client="pika", ep=...)` maps the same streams onto exchanges and quorum queues (see
`rabbitmq.py`); `"mqtt"` (paho, QoS 1, shared subscriptions) and `"zeromq"`
(brokerless PUB/SUB) implement the same contract as far as their patterns allow,
for Part 3's comparison (see their module docstrings for what they lack).
`kafka_admin` is the one module that talks to Kafka's admin API; `spec` holds what
a caller tells a back end (`TopicSpec`, `TopicTable`, `Endpoints`); `memory` is an
in-process stand-in, for running a service's own code without a broker.

This layer knows no application and no stack: the caller passes the endpoints
(`streamlab.stack.open_transport` reads them from the running stack) and the table
of its streams (`streamlab.pipeline.declare.app_transport` passes the app's).
"""

from __future__ import annotations

from .base import Consumer, Publisher, Record, Transport, TransportError
from .spec import Endpoints, TopicSpec, TopicTable

KAFKA_CLIENTS = ("confluent", "kafka-python")
RABBITMQ_CLIENTS = ("pika",)
BROKERS = ("kafka", "rabbitmq", "mqtt", "zeromq")

__all__ = ["Consumer", "Publisher", "Record", "Transport", "TransportError", "get_transport", "Endpoints",
           "TopicSpec", "TopicTable", "KAFKA_CLIENTS", "RABBITMQ_CLIENTS", "BROKERS", "default_client"]


def default_client(broker: str) -> str:
    """The client a broker uses when none is named: confluent for Kafka, pika for RabbitMQ."""
    return "pika" if broker == "rabbitmq" else "confluent"


def get_transport(broker: str, client: str, ep: Endpoints, table: TopicTable | None = None) -> Transport:
    """The back end for `broker` and `client`, connecting to `ep`, told about the caller's streams by `table`."""
    table = table or TopicTable()
    if broker == "rabbitmq":
        # "confluent" is the shared default of the services' and CLI's --client flag, not a choice of client
        if client not in (*RABBITMQ_CLIENTS, "", "confluent"):
            raise TransportError(f"RabbitMQ client {client!r} is not known: use one of {', '.join(RABBITMQ_CLIENTS)}")
        from .rabbitmq import RabbitMQTransport
        return RabbitMQTransport(ep.all_amqp_urls, ep.rabbit_mgmt_url, table)
    if broker == "kafka":
        if client == "confluent":
            from .kafka_confluent import ConfluentKafkaTransport
            return ConfluentKafkaTransport(ep.kafka_bootstrap, table)
        if client == "kafka-python":
            from .kafka_python import KafkaPythonTransport
            return KafkaPythonTransport(ep.kafka_bootstrap, table)
        raise TransportError(f"Kafka client {client!r} is not known: use one of {', '.join(KAFKA_CLIENTS)}")
    if broker == "mqtt":
        from .mqtt import MqttTransport
        return MqttTransport(ep.mqtt_url)
    if broker == "zeromq":
        from .zeromq import ZmqTransport
        return ZmqTransport(table=table)
    raise TransportError(f"broker {broker!r} has no transport: use one of {', '.join(BROKERS)}")
