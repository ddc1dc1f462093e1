"""Every measuring primitive, once: the layer under everything that measures.

`latency` (end-to-end latency in HdrHistogram), `process` (a process's CPU seconds and resident
memory), `machine` (the machine's facts and load), `order` (records out of order, by two stated
rules), `results` (tidy tables and their companions written to a result folder), `rules` (the validity
rules of a measurement and its "no conclusion" verdict), `noise` (how busy the machine was with other
work during a run) and `results_db` (the book's own history of headline figures, SQLite). Pure code over
the kernel's counters and files: no broker, so the services, the bench and the experiments all use it.
"""
