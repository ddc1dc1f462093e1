"""Generator: flat telemetry readings (temperature, rpm, load, power), ≥ 10 Hz per machine.

Run: python -m streamlab.services.telemetry_generator --machines 20 --rate 10 --duration 60
"""

from __future__ import annotations

import logging
import time

import typer

from ..pipeline.topics import TELEMETRY
from .common import ServiceOptions, service_command
from .generator_loop import GENERATOR_LINGER_MS, build_fleet, pacing_option, run_generator, write_ground_truth


@service_command("telemetry-generator")
def main(options: ServiceOptions, log: logging.Logger,
         machines: int = typer.Option(20, min=1, show_default=True, help="fleet size"),
         rate: float = typer.Option(10.0, min=0.1, show_default=True, help="readings per second per machine"),
         seed: int = typer.Option(7, show_default=True, help="seed of the fleet and its fault schedule"),
         epoch_ns: int = typer.Option(0, help="wall-clock start of simulated time (shared by both generators)"),
         max_messages: int = typer.Option(0, help="stop after this many messages (0: no limit)"),
         linger_ms: float = typer.Option(GENERATOR_LINGER_MS, show_default=True, min=0.0,
                                         envvar="STREAMLAB_GENERATOR_LINGER_MS",
                                         help="Kafka producer linger: how long a reading waits to be batched"),
         pacing: str = pacing_option()) -> None:
    """Send one telemetry reading per machine per tick, keyed by machine id."""
    fleet = build_fleet(machines, seed, options.duration_s)
    epoch_ns = epoch_ns or time.time_ns()
    write_ground_truth(options, fleet, epoch_ns)
    run_generator(options, log, TELEMETRY.name, "telemetry", rate, fleet.telemetry, fleet.machine_ids,
                  epoch_ns, max_messages, linger_ms, pacing)


if __name__ == "__main__":
    main()
