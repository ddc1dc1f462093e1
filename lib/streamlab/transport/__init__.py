"""Transports: one interface (`base.Transport`), a back end per broker and client.

`get_transport("kafka", client="confluent")` is the fast path,
`client="kafka-python"` the pure-Python reference; RabbitMQ, ZeroMQ and MQTT
back ends register here as they arrive. Services choose a back end by name
only and never import a broker client themselves.
"""

from __future__ import annotations

from ..stack import Endpoints, StackError, endpoints as stack_endpoints
from .base import Consumer, Publisher, Record, Transport, TransportError

KAFKA_CLIENTS = ("confluent", "kafka-python")
BROKERS = ("kafka",)

__all__ = ["Consumer", "Publisher", "Record", "Transport", "TransportError", "get_transport",
           "KAFKA_CLIENTS", "BROKERS"]


def get_transport(broker: str = "kafka", client: str = "confluent", ep: Endpoints | None = None) -> Transport:
    ep = ep or stack_endpoints()
    if broker == "kafka":
        if client == "confluent":
            from .kafka_confluent import ConfluentKafkaTransport
            return ConfluentKafkaTransport(ep.kafka_bootstrap)
        if client == "kafka-python":
            from .kafka_python import KafkaPythonTransport
            return KafkaPythonTransport(ep.kafka_bootstrap)
        raise StackError(f"Kafka client {client!r} is not known: use one of {', '.join(KAFKA_CLIENTS)}")
    raise StackError(f"broker {broker!r} has no transport yet: use one of {', '.join(BROKERS)}")
