"""Experiments: workloads, load drivers and measurements behind the book's figures.

Each experiment is a function that returns a tidy pandas DataFrame (one row
per run and metric) and has a ``save_results`` companion that writes it as CSV
and Parquet under the run's output folder. Modules are imported explicitly
(``from streamlab.bench.codec_bench import run_codec_benchmark``) so that
importing this package stays cheap.

The chapters' experiments are packages with one module per concept:
`streamlab.experiments.cluster_tour` (chapter 00, the cluster tour: sampler, load,
probes, failover, listeners, endpoints) and `streamlab.experiments.application`
(chapter 01, one run of the application: its analysis, kept apart from the
live probes). Each package's docstring says which module holds what.
"""
