"""The cluster tour of chapter 00: a live view of a 3-broker Kafka cluster losing and regaining brokers.

What Kafdrop shows by clicking, measured instead: while a bounded background
load produces to and consumes from replicated topics, a sampler records which
brokers are alive, who leads the KRaft controller quorum and each partition's
leader and ISR; a scripted outage kills brokers, probes which writes the
cluster still accepts, restarts everything and waits until it is whole again.

Where things live (one concept per module):

* `clock` — one clock for every thread of an experiment (bounded polling: `streamlab.polling.holds_within`);
* `topics` — the tour's topics and the admin calls it makes on them: live config
  changes, preferred leader election, the group coordinator;
* `sampler` — `ClusterSampler`: the cluster's metadata and quorum sampled over time;
* `load` — `BackgroundLoad`: numbered messages produced and read by two readers, and
  its timelines (messages per second, acknowledgement latency);
* `probes` — `probe_writes`: which writes the cluster accepts under an ``acks`` setting;
  librdkafka error names;
* `plan` — `TourPlan` (what a tour is told) and `TourResult` (every frame it recorded);
* `failover` — `FailoverTour`, `failover_tour` (the outage itself, phase by phase) and
  `restore_cluster`;
* `milestones` — what the tour's frames say: when each state was reached, the longest
  gaps, the outage phases;
* `quorum` — the controller quorum as the cluster describes it (DescribeQuorum);
* `listeners` — the brokers' listeners (local stack, compose file) and the advertised view;
* `endpoints` — every port of the local stack: reachability, live connections, process facts;
* `rabbitmq` — RabbitMQ's node and listeners from its management API;
* `verdicts` — the result-dependent phrases chapter 00 quotes (glued into its prose).

The charts of the tour are in `streamlab.plots.cluster_tour`. Every wait is bounded and
`failover_tour` restores the cluster in a ``finally``.
"""
