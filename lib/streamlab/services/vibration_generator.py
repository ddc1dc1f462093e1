"""Generator: vibration windows (3 axes × 256 samples at 1 kHz, with metadata), 1–2 Hz per machine.

Run: python -m streamlab.services.vibration_generator --machines 20 --rate 1 --duration 60
"""

from __future__ import annotations

import logging
import time

import typer

from ..pipeline.topics import VIBRATION
from .common import ServiceOptions, service_command
from .generator_loop import GENERATOR_LINGER_MS, build_fleet, pacing_option, run_generator


@service_command("vibration-generator")
def main(options: ServiceOptions, log: logging.Logger,
         machines: int = typer.Option(20, min=1, show_default=True, help="fleet size"),
         rate: float = typer.Option(1.0, min=0.1, max=50, show_default=True, help="windows per second per machine"),
         samples: int = typer.Option(256, min=16, show_default=True, help="samples per axis"),
         seed: int = typer.Option(7, show_default=True, help="seed of the fleet and its fault schedule"),
         epoch_ns: int = typer.Option(0, help="wall-clock start of simulated time (shared by both generators)"),
         max_messages: int = typer.Option(0, help="stop after this many messages (0: no limit)"),
         linger_ms: float = typer.Option(GENERATOR_LINGER_MS, show_default=True, min=0.0,
                                         envvar="STREAMLAB_GENERATOR_LINGER_MS",
                                         help="Kafka producer linger: how long a reading waits to be batched"),
         pacing: str = pacing_option()) -> None:
    """Send one vibration window per machine per tick, keyed by machine id."""
    fleet = build_fleet(machines, seed, options.duration_s)
    epoch_ns = epoch_ns or time.time_ns()
    run_generator(options, log, VIBRATION.name, "vibration", rate,
                  lambda machine, t_s: fleet.vibration(machine, t_s, n_samples=samples),
                  fleet.machine_ids, epoch_ns, max_messages, linger_ms, pacing)


if __name__ == "__main__":
    main()
