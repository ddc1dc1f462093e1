"""The application's wiring, written once: which service reads and writes which stream, in which group.

Everything else derives from `SERVICES`: the runner's start order and the groups
it drains (`GENERATORS`, `PROCESSOR`, `SINKS`, `GROUPS`, `GROUP_TOPICS`), the
declaration of queues on brokers that need a queue per group, the component
diagram, and the chapters' tables. `tests/pipeline/test_diagram.py` checks it
against the topic constants each service module actually references, so a
service that starts reading a new topic without this table knowing fails a test.
"""

from __future__ import annotations

from dataclasses import dataclass

from .topics import ALERTS, DEAD_LETTER, MACHINE_HEALTH, MACHINE_HEALTH_LATEST, TELEMETRY, VIBRATION


@dataclass(frozen=True)
class ServiceIO:
    """One service of the pipeline and its interfaces."""

    name: str                      # module under streamlab.services
    role: str                      # generator | processor | sink
    task: str                      # one line: what it does per message
    reads: tuple[str, ...] = ()    # topic names (un-namespaced)
    writes: tuple[str, ...] = ()
    dead_letters: bool = False     # publishes undecodable input to the dead-letter topic
    files: tuple[str, ...] = ()    # paths under the data directory
    group: str | None = None       # consumer group (un-namespaced); None for a service that only writes
    #: joins its inputs by key (the processor: a machine's telemetry with its vibration, per-machine state):
    #: all of a key's records, from every input, must reach one instance (`TopicTable.co_partitioned`)
    co_partitioned: bool = False

    @property
    def module(self) -> str:
        return f"streamlab.services.{self.name}"

    @property
    def command(self) -> str:
        return f"python -m {self.module}"


#: The pipeline's services in data-flow order: generators, processor, sinks.
SERVICES: tuple[ServiceIO, ...] = (
    ServiceIO(
        "telemetry_generator", "generator",
        "simulates the fleet's process sensors; one flat reading per machine per tick (≥ 10 Hz)",
        writes=(TELEMETRY.name,), files=("ground_truth.json",)),
    ServiceIO(
        "vibration_generator", "generator",
        "simulates a 3-axis accelerometer; one window of 3 × 256 samples per machine per tick (1–2 Hz)",
        writes=(VIBRATION.name,)),
    ServiceIO(
        "health_processor", "processor",
        "rolling telemetry statistics + FFT band energies → health score per reading; alerts on state changes",
        reads=(TELEMETRY.name, VIBRATION.name),
        writes=(MACHINE_HEALTH.name, MACHINE_HEALTH_LATEST.name, ALERTS.name), dead_letters=True,
        group="health-processor", co_partitioned=True),
    ServiceIO(
        "health_parquet_sink", "sink",
        "buffers health records, writes them as Parquet per UTC hour (atomic rename), then commits",
        reads=(MACHINE_HEALTH.name,), dead_letters=True, files=("health/date=…/hour=…/part-*.parquet",),
        group="health-parquet-sink"),
    ServiceIO(
        "alert_csv_sink", "sink",
        "appends alerts to one CSV file (rewritten atomically per flush), then commits",
        reads=(ALERTS.name,), dead_letters=True, files=("alerts/alerts.csv",),
        group="alert-csv-sink"),
)

BY_SERVICE = {svc.name: svc for svc in SERVICES}
GENERATORS = tuple(svc.name for svc in SERVICES if svc.role == "generator")
PROCESSOR = next(svc.name for svc in SERVICES if svc.role == "processor")
SINKS = tuple(svc.name for svc in SERVICES if svc.role == "sink")
#: service → its consumer group
GROUPS = {svc.name: svc.group for svc in SERVICES if svc.group}
#: consumer group → the topics it consumes
GROUP_TOPICS = {svc.group: svc.reads for svc in SERVICES if svc.group}
#: the groups whose inputs are joined by key, so each key's records of every input reach one member
CO_PARTITIONED_GROUPS = tuple(svc.group for svc in SERVICES if svc.group and svc.co_partitioned)


def services() -> tuple[ServiceIO, ...]:
    """The pipeline's services in data-flow order: generators, processor, sinks."""
    return SERVICES


def consumers_of(topic: str) -> list[ServiceIO]:
    return [svc for svc in SERVICES if topic in svc.reads]


def producers_of(topic: str) -> list[ServiceIO]:
    return [svc for svc in SERVICES if topic in svc.writes or (svc.dead_letters and topic == DEAD_LETTER.name)]


def consumer_groups(namespace: str = "") -> dict[str, list[str]]:
    """A run's consumer groups and the topics each reads, with the run's namespace prefix applied."""
    prefix = f"{namespace}." if namespace else ""
    return {prefix + group: [prefix + topic for topic in topics] for group, topics in GROUP_TOPICS.items()}


def unread_streams(namespace: str = "") -> list[str]:
    """The streams the app writes that no group of the app reads (the dead-letter stream,
    `machine-health-latest`), namespaced: a broker must hold them itself (`Transport.ensure_held`)."""
    prefix = f"{namespace}." if namespace else ""
    written = [t for svc in SERVICES for t in (*svc.writes, *((DEAD_LETTER.name,) if svc.dead_letters else ()))]
    read = {t for svc in SERVICES for t in svc.reads}
    return [prefix + t for t in dict.fromkeys(written) if t not in read]
