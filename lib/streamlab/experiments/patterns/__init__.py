"""Chapter 03's experiments: the application on each back end, the patterns compared, known issues, scaling.

Every experiment is bounded in count and time, names its topics/queues
uniquely (``ch03-<what>-<hex>``) and deletes them when it ends. Each returns a
tidy DataFrame (one row per back end / variant and metric) that the chapter
saves, plots and quotes; the integration tests under ``tests/experiments/patterns/``
assert the effect each one shows.

Modules: ``brokers`` (where the brokers are; raw pika and Kafka helpers the
transport interface does not offer), ``rewrite`` (the app on Kafka and
RabbitMQ, topology read back from the brokers), ``issues`` (known issues
provoked, then mitigated), ``compare`` (replay, fan-out, ordering, routing),
``scaling`` (competing consumers vs partitions; 1 vs 3 nodes).
"""
