"""Every measuring primitive, once: the layer under everything that measures.

`latency` (end-to-end latency in HdrHistogram), `process` (a process's CPU seconds and resident
memory), `machine` (the machine's facts and load), `order` (records out of order, by two stated
rules) and `results` (tidy tables and their companions written to a result folder). Pure code over
the kernel's counters and files: no broker, so the services, the bench and the experiments all use it.
"""
