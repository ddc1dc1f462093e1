"""Generator: vibration windows (3 axes × 256 samples at 1 kHz, with metadata), 1–2 Hz per machine.

Run: python -m streamlab.services.vibration_generator --machines 20 --rate 1 --duration 60
"""

from __future__ import annotations

import logging
import time

import click

from ..pipeline.topics import VIBRATION
from .common import ServiceOptions, service_command
from .generator_loop import build_fleet, run_generator


@service_command("vibration-generator")
@click.option("--machines", default=20, show_default=True, type=click.IntRange(min=1), help="fleet size")
@click.option("--rate", default=1.0, show_default=True, type=click.FloatRange(min=0.1, max=50),
              help="windows per second per machine")
@click.option("--samples", default=256, show_default=True, type=click.IntRange(min=16), help="samples per axis")
@click.option("--seed", default=7, show_default=True, help="seed of the fleet and its fault schedule")
@click.option("--epoch-ns", default=0, help="wall-clock start of simulated time (shared by both generators)")
@click.option("--max-messages", default=0, help="stop after this many messages (0: no limit)")
def main(options: ServiceOptions, log: logging.Logger, machines: int, rate: float, samples: int, seed: int,
         epoch_ns: int, max_messages: int) -> None:
    """Send one vibration window per machine per tick, keyed by machine id."""
    fleet = build_fleet(machines, seed, options.duration_s)
    epoch_ns = epoch_ns or time.time_ns()
    run_generator(options, log, VIBRATION.name, "vibration", rate,
                  lambda machine, t_s: fleet.vibration(machine, t_s, n_samples=samples),
                  fleet.machine_ids, epoch_ns, max_messages)


if __name__ == "__main__":
    main()
