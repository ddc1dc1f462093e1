"""The book's experiments, one package per chapter, named as the book names it.

`cluster_tour` (00: the cluster losing and regaining brokers), `application` (01: one run of the
application, analysed), `deep_dives` (02: the nine Kafka deep dives; its index gives each one's number),
`patterns` (03: the RabbitMQ rewrite, the patterns compared, known issues, scaling, RabbitMQ at its own
speed), `profiling` (04), `reflection` (05: the project's record and its targets), `faults` (06: faults,
counted); `containers` serves the podman sections of 01 and 03. Each package's docstring says which
module holds what.

An experiment returns tidy pandas DataFrames (one row per run and metric); the chapter saves them
(`streamlab.book.save_table`, or `streamlab.measure.results` for a bundle). The reusable benchmark
harness they build on is `streamlab.bench`. Modules are imported explicitly
(``from streamlab.experiments.deep_dives import keys``) so that importing this package stays cheap.
"""
