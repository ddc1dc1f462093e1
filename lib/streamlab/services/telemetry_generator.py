"""Generator: flat telemetry readings (temperature, rpm, load, power), ≥ 10 Hz per machine.

Run: python -m streamlab.services.telemetry_generator --machines 20 --rate 10 --duration 60
"""

from __future__ import annotations

import logging
import time

import click

from ..pipeline.topics import TELEMETRY
from .common import ServiceOptions, service_command
from .generator_loop import build_fleet, run_generator, write_ground_truth


@service_command("telemetry-generator")
@click.option("--machines", default=20, show_default=True, type=click.IntRange(min=1), help="fleet size")
@click.option("--rate", default=10.0, show_default=True, type=click.FloatRange(min=0.1),
              help="readings per second per machine")
@click.option("--seed", default=7, show_default=True, help="seed of the fleet and its fault schedule")
@click.option("--epoch-ns", default=0, help="wall-clock start of simulated time (shared by both generators)")
@click.option("--max-messages", default=0, help="stop after this many messages (0: no limit)")
def main(options: ServiceOptions, log: logging.Logger, machines: int, rate: float, seed: int,
         epoch_ns: int, max_messages: int) -> None:
    """Send one telemetry reading per machine per tick, keyed by machine id."""
    fleet = build_fleet(machines, seed, options.duration_s)
    epoch_ns = epoch_ns or time.time_ns()
    write_ground_truth(options, fleet, epoch_ns)
    run_generator(options, log, TELEMETRY.name, "telemetry", rate, fleet.telemetry, fleet.machine_ids,
                  epoch_ns, max_messages)


if __name__ == "__main__":
    main()
