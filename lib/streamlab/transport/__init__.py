"""Transports: one interface (`base.Transport`), a back end per broker and client.

`get_transport("kafka", client="confluent")` is the fast path,
`client="kafka-python"` the pure-Python reference; `get_transport("rabbitmq",
client="pika")` maps the same streams onto exchanges and quorum queues (see
`rabbitmq.py`); `"mqtt"` (paho, QoS 1, shared subscriptions) and `"zeromq"`
(brokerless PUB/SUB) implement the same contract as far as their patterns allow,
for Part 3's comparison (see their module docstrings for what they lack).
Services choose a back end by name only and never import a broker client
themselves.
"""

from __future__ import annotations

from ..stack import Endpoints, StackError, endpoints as stack_endpoints
from .base import Consumer, Publisher, Record, Transport, TransportError

KAFKA_CLIENTS = ("confluent", "kafka-python")
RABBITMQ_CLIENTS = ("pika",)
BROKERS = ("kafka", "rabbitmq", "mqtt", "zeromq")

__all__ = ["Consumer", "Publisher", "Record", "Transport", "TransportError", "get_transport",
           "KAFKA_CLIENTS", "RABBITMQ_CLIENTS", "BROKERS", "default_client"]


def default_client(broker: str) -> str:
    """The client a broker uses when none is named: confluent for Kafka, pika for RabbitMQ."""
    return "pika" if broker == "rabbitmq" else "confluent"


def get_transport(broker: str = "kafka", client: str = "confluent", ep: Endpoints | None = None) -> Transport:
    if broker == "rabbitmq":
        # "confluent" is the shared default of the services' and CLI's --client flag, not a choice of client
        if client not in (*RABBITMQ_CLIENTS, "", "confluent"):
            raise StackError(f"RabbitMQ client {client!r} is not known: use one of {', '.join(RABBITMQ_CLIENTS)}")
        from ..stack import StackConfig
        from .rabbitmq import RabbitMQTransport
        if ep is None:
            config = StackConfig.from_env()
            return RabbitMQTransport(config.amqp_urls, config.rabbit_mgmt_url)
        return RabbitMQTransport(list(getattr(ep, "amqp_urls", ()) or [ep.amqp_url]), ep.rabbit_mgmt_url)
    ep = ep or stack_endpoints()
    if broker == "kafka":
        if client == "confluent":
            from .kafka_confluent import ConfluentKafkaTransport
            return ConfluentKafkaTransport(ep.kafka_bootstrap)
        if client == "kafka-python":
            from .kafka_python import KafkaPythonTransport
            return KafkaPythonTransport(ep.kafka_bootstrap)
        raise StackError(f"Kafka client {client!r} is not known: use one of {', '.join(KAFKA_CLIENTS)}")
    if broker == "mqtt":
        from .mqtt import MqttTransport
        return MqttTransport(ep.mqtt_url)
    if broker == "zeromq":
        from .zeromq import ZmqTransport
        return ZmqTransport()
    raise StackError(f"broker {broker!r} has no transport: use one of {', '.join(BROKERS)}")
