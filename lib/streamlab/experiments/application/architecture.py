"""The application's design as chapter 01 describes it, read from the code so the text cannot drift from it.

Settings the prose quotes (window sizes, flush intervals, partitions,
retention), the fault modes and the run's fault schedule, the message types'
fields, every service's command-line options, the client configurations and
the topics as the cluster reports them: each is one function returning a value
or a table.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...domain import (
    MESSAGE_TYPES,
    AccelAxes,
    Fault,
    FaultMode,
    FaultSchedule,
    Fleet,
    TelemetryFeatures,
    VibrationMetadata,
    vibration_band_energies,
)
from ...domain import fleet as fleet_model
from ...pipeline import diagram, wiring
from ...pipeline.topics import (
    ALERTS,
    ALL_TOPICS,
    DEAD_LETTER,
    MACHINE_HEALTH,
    MACHINE_HEALTH_LATEST,
    TELEMETRY,
    VIBRATION,
)
from ...transport.spec import TopicSpec


def command_params(command: Any) -> list[Any]:
    """The click parameters of a service's ``main`` (a click command, or a typer app turned into one)."""
    if not hasattr(command, "params"):
        import typer.main

        command = typer.main.get_command(command)
    return list(command.params)


def flag_defaults(command: Any) -> dict[str, Any]:
    """A service's flag defaults, by parameter name."""
    return {param.name: param.default for param in command_params(command)}


def _main_of(module: str) -> Any:
    return importlib.import_module(module).main


def design_settings(brokers: int) -> dict[str, Any]:
    """Every setting chapter 01's prose quotes, read from the code (and the cluster size)."""
    from ...services.common import ServiceOptions

    processor = flag_defaults(_main_of("streamlab.services.health_processor"))
    sink = flag_defaults(_main_of("streamlab.services.health_parquet_sink"))
    sized = TELEMETRY.for_cluster(brokers)
    return {
        "brokers": brokers, "window": processor["window"], "confirm": processor["confirm"],
        "archive_rotate_default_s": sink["flush_interval"], "archive_flush_size": sink["max_batch"],
        "archive_idle_s": sink["idle_close"], "metrics_s": ServiceOptions().metrics_interval_s,
        "min_readings": TelemetryFeatures().min_readings, "rf": sized.replication,
        "min_isr": int(sized.config["min.insync.replicas"]),
        "p_telemetry": TELEMETRY.partitions, "p_alerts": ALERTS.partitions, "p_dead": DEAD_LETTER.partitions,
        "ret_raw": diagram.retention_text(TELEMETRY), "ret_health": diagram.retention_text(MACHINE_HEALTH),
        "ret_alerts": diagram.retention_text(ALERTS),
        "segment_s": int(MACHINE_HEALTH_LATEST.config["segment.ms"]) / 1000,
        "dirty_ratio": float(MACHINE_HEALTH_LATEST.config["min.cleanable.dirty.ratio"]),
        "vib_max_mib": int(VIBRATION.config["max.message.bytes"]) / 2**20,
        "n_groups": len(wiring.GROUPS), "n_services": len(diagram.services()),
    }  # fmt: skip


# --------------------------------------------------------------------------- the data


def fault_modes_table() -> pd.DataFrame:
    """The three fault modes and how much each moves which signal once fully developed (the fleet's constants)."""
    return pd.DataFrame([
        {"fault mode": FaultMode.BEARING_WEAR.value,
         "telemetry": f"temperature +{fleet_model.BEARING_TEMP_RISE_C:g} °C",
         "vibration": f"tone at the machine's bearing-defect frequency, +{fleet_model.BEARING_TONE_AMPLITUDE:g} m/s² "
                      "per axis"},
        {"fault mode": FaultMode.OVERHEATING.value,
         "telemetry": f"temperature +{fleet_model.OVERHEAT_TEMP_RISE_C:g} °C, "
                      f"power +{fleet_model.OVERHEAT_POWER_GAIN:.0%}",
         "vibration": "—"},
        {"fault mode": FaultMode.IMBALANCE.value, "telemetry": "—",
         "vibration": f"once-per-revolution (1×) line on the radial axes, +{fleet_model.IMBALANCE_1X_GAIN:g} m/s²"},
    ]).set_index("fault mode")  # fmt: skip


def fault_schedule_table(fleet: Fleet) -> pd.DataFrame:
    """A fleet's fault schedule: the ground truth the detections are scored against (seconds after start)."""
    return pd.DataFrame([
        {"machine": f.machine_id, "mode": f.mode.value, "onset (s)": f.start_s, "fully developed (s)": f.developed_s,
         "failure (s)": f.failure_s} for f in fleet.schedule.faults
    ], columns=["machine", "mode", "onset (s)", "fully developed (s)", "failure (s)"]).set_index("machine").round(1)


def pretty_json(data: Any) -> str:
    return json.dumps(data, indent=2)


def vibration_overview(window: Any) -> dict[str, Any]:
    """A vibration window's fields with the sample arrays replaced by their type and length."""
    overview = {k: v for k, v in window.to_dict().items() if k != "axes"}
    overview["axes"] = {axis: f"float32[{values.size}]"
                        for axis, values in zip("xyz", (window.axes.x, window.axes.y, window.axes.z))}
    return overview


def first_samples(window: Any, count: int = 5) -> pd.DataFrame:
    """The first ``count`` samples of each axis of a vibration window."""
    matrix = window.axes.as_matrix()
    return pd.DataFrame(matrix[:, :count].T, columns=["x (m/s²)", "y (m/s²)", "z (m/s²)"]).rename_axis(
        "sample").round(4)


def window_axes(window: Any) -> pd.DataFrame:
    """A vibration window tidy for plotting: ``t_ms``, ``axis``, ``accel``."""
    matrix = window.axes.as_matrix()
    n = window.n_samples
    return pd.DataFrame({
        "t_ms": np.tile(np.arange(n) * 1000 / window.sample_rate_hz, 3),
        "axis": np.repeat(["x (radial)", "y (radial)", "z (axial, with gravity)"], n),
        "accel": matrix.reshape(-1),
    })


#: The illustration fleet's machines and their condition (every fault fully developed at t = 10 s).
BAND_DEMO_CONDITIONS = {"M000": "healthy", "M001": "bearing wear", "M002": "imbalance", "M003": "overheating"}


def band_energy_demo(seed: int, t_s: float = 10.0) -> pd.DataFrame:
    """Vibration band energies of four machines, one healthy and one per fault mode, every fault fully developed."""
    demo = Fleet(4, seed, FaultSchedule([
        Fault("M001", FaultMode.BEARING_WEAR, 0.0, 1.0, 100.0),
        Fault("M002", FaultMode.IMBALANCE, 0.0, 1.0, 100.0),
        Fault("M003", FaultMode.OVERHEATING, 0.0, 1.0, 100.0),
    ]))
    return pd.DataFrame([
        {"condition": label, "band": name.removeprefix("vib_rms_").replace("_", "–") + " Hz", "rms": value}
        for machine, label in BAND_DEMO_CONDITIONS.items()
        for name, value in vibration_band_energies(demo.vibration(machine, t_s=t_s)).items()
        if name != "vib_rms_total"
    ])


# --------------------------------------------------------------------------- interfaces


def _fields_of(cls: type, prefix: str = "") -> Iterator[dict[str, str]]:
    for field in dataclasses.fields(cls):
        kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
        yield {"field": prefix + field.name, "type": kind}


def message_fields() -> pd.DataFrame:
    """Every message type's fields, nested ones (the vibration window's axes and metadata) spelled out."""
    nested = {"axes": AccelAxes, "metadata": VibrationMetadata}
    rows = []
    for cls in MESSAGE_TYPES.values():
        for row in _fields_of(cls):
            inner = nested.get(row["field"])
            rows += ([{"message": cls.__name__, **r} for r in _fields_of(inner, row["field"] + ".")] if inner
                     else [{"message": cls.__name__, **row}])
    return pd.DataFrame(rows, columns=["message", "field", "type"])


def message_field_summary() -> pd.DataFrame:
    """One row per message type: its fields in order."""
    return message_fields().groupby("message", sort=False).agg(fields=("field", lambda f: ", ".join(f)))


def service_options(repo_root: Path | None = None) -> pd.DataFrame:
    """Every command-line option of every service: environment variable, default, meaning, which services have it."""
    rows: dict[str, dict[str, Any]] = {}
    all_services = diagram.services()
    for svc in all_services:
        for param in command_params(_main_of(svc.module)):
            key = param.opts[0]
            # no default stays missing (the book shows "–" and says why), not the word "None"
            default = None if param.default is None else str(param.default)
            if repo_root is not None and default is not None:
                default = default.replace(str(repo_root), "<repo>")
            entry = rows.setdefault(key, {"option": key, "environment": param.envvar or "", "default": default,
                                          "meaning": param.help, "services": []})
            entry["services"].append(svc.name)
    options = pd.DataFrame(rows.values())
    options["services"] = options["services"].map(lambda s: "all" if len(s) == len(all_services) else ", ".join(s))
    return options.set_index("option")


def client_settings() -> str:
    """The Kafka producer's and consumer's configuration, as written in the confluent-kafka transport."""
    from ...transport.kafka_confluent import ConfluentConsumer, ConfluentPublisher

    return ("# producer (ConfluentPublisher)\n" + diagram.dict_literal(ConfluentPublisher.__init__)
            + "\n\n# consumer (ConfluentConsumer)\n" + diagram.dict_literal(ConfluentConsumer.__init__))


def reported_topics(cluster_view: pd.DataFrame, namespace: str) -> pd.DataFrame:
    """The run's topics as the cluster reports them (`kafka_probes.cluster_topics`), in the declared table's words."""
    frame = cluster_view.assign(
        topic=cluster_view["topic"].str.removeprefix(f"{namespace}."),
        retention=[diagram.retention_text(TopicSpec("t", "raw", config={"retention.ms": r, "cleanup.policy": c}))
                   for r, c in zip(cluster_view["retention.ms"], cluster_view["cleanup.policy"])],
    ).rename(columns={"min ISR size seen": "in sync (fewest)", "leaders on brokers": "leaders on"})
    return frame.set_index("topic")[["partitions", "replication", "in sync (fewest)", "leaders on", "messages",
                                     "min.insync.replicas", "retention"]]


def namespaced_topics(namespace: str) -> list[str]:
    """The names of the application's topics in a run's namespace."""
    return [f"{namespace}.{spec.name}" for spec in ALL_TOPICS]
