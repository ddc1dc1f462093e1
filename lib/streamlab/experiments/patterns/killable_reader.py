"""A consumer as its own process that takes one batch, acknowledges part of it and waits to be SIGKILLed.

    python -m streamlab.experiments.patterns.killable_reader BACKEND TARGET NAME BATCH HANDLED

BACKEND is one of share_groups.BACKENDS; TARGET the bootstrap servers or the AMQP URL; NAME the topic (and
group) or queue. It takes one batch of up to BATCH records (max.poll.records / consume(n) / prefetch),
acknowledges the first HANDLED of them (a consumer group commits the offset after them; a share group
ACCEPTs them and commits the acknowledgements; RabbitMQ acks them), prints ``holding <value> ...`` (every
record taken, in order) and then sleeps, heartbeating where the client does so in the background, until
killed (or 120 s pass, so a forgotten reader cannot live forever).
"""

from __future__ import annotations

import sys
import time


def main(argv: list[str]) -> None:
    backend, target, name, batch_text, handled_text = argv
    batch, handled = int(batch_text), int(handled_text)
    from . import share_groups as sg

    deadline = time.monotonic() + 120
    if backend == sg.QUORUM_QUEUE:
        import pika

        parameters = pika.URLParameters(target)
        parameters.heartbeat = sg.HEARTBEAT_S
        connection = pika.BlockingConnection(parameters)
        channel = connection.channel()
        channel.basic_qos(prefetch_count=batch)
        taken = []
        for method, _props, body in channel.consume(name, inactivity_timeout=1.0):
            if method is not None:
                taken.append((method.delivery_tag, body))
            if len(taken) >= batch or (method is None and taken) or time.monotonic() > deadline:
                break
        for tag, _body in taken[:handled]:
            channel.basic_ack(tag)
        print("holding", *(body.decode() for _tag, body in taken), flush=True)
        while time.monotonic() < deadline:
            connection.process_data_events(time_limit=1.0)
        return
    if backend == sg.SHARE_GROUP:
        from confluent_kafka import AcknowledgeType

        consumer = sg.share_consumer(target, name, explicit=True, max_poll_records=batch)
        consumer.subscribe([name])
        messages: list = []
        while not messages and time.monotonic() < deadline:
            messages = [m for m in consumer.poll(0.5) if m.error() is None]
        for msg in messages[:handled]:
            consumer.acknowledge(msg, AcknowledgeType.ACCEPT)
        consumer.commit_sync(10)
    else:
        from .brokers import kafka_consumer

        consumer = kafka_consumer(target, name, **{"session.timeout.ms": sg.SESSION_MS})
        consumer.subscribe([name])
        messages = []
        while not messages and time.monotonic() < deadline:
            messages = [m for m in consumer.consume(num_messages=batch, timeout=0.5) if m.error() is None]
        if handled:
            consumer.commit(messages[handled - 1], asynchronous=False)
    print("holding", *(m.value().decode() for m in messages), flush=True)
    while time.monotonic() < deadline:
        time.sleep(0.5)


if __name__ == "__main__":
    main(sys.argv[1:])
