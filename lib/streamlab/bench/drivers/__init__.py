"""Load drivers with one result schema: Python clients in child processes and the brokers' Java tools.

`get_driver("confluent-kafka").run(workload, endpoints)` returns a `RunResult`;
`driver_names("kafka,pika")` expands aliases. See `base.py` for the schema.
"""

from .base import ALIASES, DRIVERS, REFERENCE, Driver, DriverError, Progress, driver_names, get_driver
from .results import RESULT_COLUMNS, RoleResult, RunResult

__all__ = ["ALIASES", "DRIVERS", "REFERENCE", "RESULT_COLUMNS", "Driver", "DriverError", "Progress", "RoleResult",
           "RunResult", "driver_names", "get_driver"]
