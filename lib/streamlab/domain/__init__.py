"""The predictive-maintenance domain: messages, the simulated fleet, its faults, health scoring.

Nothing here knows about brokers or byte encodings; the generators, the
processor and the tests all build on these pure pieces.
"""

from .faults import Fault, FaultMode, FaultSchedule, machine_id_for
from .fleet import Fleet, MachineProfile
from .health import (
    DEFAULT_BANDS_HZ,
    DEFAULT_LIMITS,
    AlertTracker,
    Assessment,
    HealthModel,
    Limit,
    TelemetryFeatures,
    band_feature_name,
    vibration_band_energies,
)
from .messages import (
    HEALTH_STATES,
    MESSAGE_TYPES,
    AccelAxes,
    Alert,
    HealthRecord,
    Message,
    SequenceCounter,
    TelemetryReading,
    VibrationMetadata,
    VibrationWindow,
    message_type,
)

__all__ = [
    "DEFAULT_BANDS_HZ", "DEFAULT_LIMITS", "HEALTH_STATES", "MESSAGE_TYPES",
    "AccelAxes", "Alert", "AlertTracker", "Assessment", "Fault", "FaultMode", "FaultSchedule", "Fleet",
    "HealthModel", "HealthRecord", "Limit", "MachineProfile", "Message", "SequenceCounter",
    "TelemetryFeatures", "TelemetryReading", "VibrationMetadata", "VibrationWindow",
    "band_feature_name", "machine_id_for", "message_type", "vibration_band_energies",
]
