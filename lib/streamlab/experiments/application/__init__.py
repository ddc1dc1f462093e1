"""One bounded run of the application (chapter 01): sampling it while it runs, and analysing what it left.

A run of :class:`streamlab.pipeline.runner.AppRun` leaves, under its data
directory, ``metrics/<service>.jsonl`` (counters, rates and gauges every couple
of seconds), ``health/date=…/hour=…/part-*.parquet`` (one row per telemetry
reading, with the timestamps of every stage), ``alerts/alerts.csv`` and
``ground_truth.json`` (the injected faults).

Where things live (one concept per module):

* pure analysis, files in and frames out (unit-tested on small synthetic data):
  `ground_truth` (the faults and the run's time axis), `metrics` (rates and
  counters), `latency` (latency per stage), `delivery` (exactly once and in
  order, by sequence numbers), `detections` (alerts scored against the faults),
  `sink_output` (the Parquet and CSV files), `dead_letters` (malformed input and
  the dead-letter table);
* `scaling`: several processor instances, the busiest SIGKILLed mid-run, and the
  counts that say whether every reading was scored once and every record joined
  both streams (chapter 01 and tests/pipeline/test_processor_scaling.py);
* live, while the run goes on: `sampler` (consumer lag, CPU and memory of every
  process) and `kafka_probes` (lag, topics as the cluster reports them, records
  really readable, clean-up) — the only modules that talk to brokers;
* the chapter's other material: `architecture` (settings, fault modes, message
  fields, service options, read from the code), `docker_setup` (the compose files
  and the Dockerfile), `codec_choice` (Bonus 1: which codec to pick) and
  `verdicts` (the result-dependent phrases the prose quotes).

The charts are in `streamlab.plots.application`.
"""
