"""The reusable benchmark harness: workloads as data, load drivers, runs, broker warm-up.

Works against any cluster (`STACK=external` with `KAFKA_BOOTSTRAP` / `AMQP_URL`):
`workload` (the YAML workloads under `workloads/`), `drivers` (our Python clients
in child processes beside the brokers' own Java tools, one result schema), `run`
(`run_bench`: a workload × drivers, side by side, saved as tidy tables with the
machine's description), `broker_warmup` (load until the brokers' rate settles),
`pipeline_bench` (the application's processor and latency) and `codec_bench`
(serializer speed and size). Modules are imported explicitly, so importing this
package stays cheap.
"""
