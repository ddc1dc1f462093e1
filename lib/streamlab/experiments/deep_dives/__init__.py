"""The Kafka deep dives of chapter 02, one module per deep dive, each an experiment on a live cluster.

Every experiment creates its own uniquely named topics and deletes them at the
end (`common.scratch_topics`), is bounded in count and time, restores any
broker it stopped (`common.restored_brokers`) even when it fails, and returns
tidy DataFrames for the chapter to save, plot and quote. Bad parameters raise
`streamlab.errors.UserError` with one line that says what to change.

The deep dives by the number chapter 02 gives them (its glue keys say `dd<N>_...`):

| # | chapter 02's section | modules |
| --- | --- | --- |
| 1 | Consumer groups | `consumer_groups`, `rebalance`, `group_member` (a member in its own process) |
| 2 | Limits of send and receive | `limits` |
| 3 | Distribution of brokers and partitions | `distribution` |
| 4 | Replication factors and partition counts | `replication` |
| 5 | Offsets and reprocessing | `offsets`, `offsets_worker` (the crashing consumer's process) |
| 6 | Retention and compaction | `retention` |
| 7 | Kafka Streams | `streams`, `streams_handwritten`, `streams_quix` (the three ways, each its own process) |
| 8 | Retries | `retries` |
| 9 | What a key has to look like | `keys` |
| – | Effective use cases (the closing table) | `summary`; `common` (scratch topics, restored brokers) for all |
"""
