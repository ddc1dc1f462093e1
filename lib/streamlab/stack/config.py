"""Where the stack lives and which ports it uses, read once from the environment.

Every knob is an environment variable so that `make`, the CLI, the services, the
notebooks and the tests agree without passing flags around; the defaults keep a
developer's stack (data/stack) and the test suite's stack (data/stack-test, other
ports) apart so running the tests never disturbs a running book build.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..paths import JARS_DIR, STACK_DIR

STACK_KINDS = ("local", "docker", "podman", "external")
BROKER_KINDS = ("kafka", "rabbitmq", "mqtt", "all")   # all = kafka + rabbitmq; mqtt (Mosquitto) on request
#: The Apache Kafka release every stack runs: setup/pom.xml fetches its jars, the podman image carries them,
#: compose/kafka.yml names its official image, java/streams-aggregate builds against it (a unit test holds
#: the four in step). 4.4 rather than 4.1: share groups (KIP-932) are generally available since 4.2, and a
#: cluster formatted by 4.4's storage tool has `share.version` finalized, so no feature upgrade is needed.
KAFKA_VERSION = "4.4.0"


class StackError(UserError):
    """A problem with the stack the user can fix; the CLI prints it as one line, no traceback."""


def _env_int(env: dict[str, str], name: str, default: int, allowed: tuple[int, ...] | None = None) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise StackError(f"{name}={raw!r} is not a whole number") from None
    if allowed is not None and value not in allowed:
        raise StackError(f"{name}={value} is not supported: use one of {', '.join(map(str, allowed))}")
    if value <= 0:
        raise StackError(f"{name}={value} must be positive")
    return value


def _env_choice(env: dict[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower() or default
    if value not in allowed:
        raise StackError(f"{name}={value!r} is not known: use one of {', '.join(allowed)}")
    return value


def kafka_meta_file(stack_dir: Path) -> Path:
    """Where a local Kafka stack records the cluster id and the broker count it was formatted for."""
    return stack_dir / "kafka" / "cluster.json"


def formatted_brokers(stack_dir: Path) -> int | None:
    """How many brokers the Kafka data under `stack_dir` was formatted for; None before the first `up`.

    The stack's data is the source of truth for its size: after `make up BROKERS=1` every later command
    (`stack env`, bench, app, down) talks to one broker without being told again. BROKERS overrides it."""
    try:
        brokers = json.loads(kafka_meta_file(stack_dir).read_text())["brokers"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return brokers if isinstance(brokers, int) and brokers > 0 else None


@dataclass(frozen=True)
class StackConfig:
    """Settings of one stack; `from_env()` is the only constructor most code needs."""

    stack: str = "local"
    brokers: int = 3
    rabbit_nodes: int = 1
    stack_dir: Path = STACK_DIR
    jars_dir: Path = JARS_DIR
    kafka_port: int = 19092
    kafka_controller_port: int = 19192
    amqp_port: int = 5682
    rabbit_dist_port: int = 25682
    rabbit_mgmt_port: int = 15682
    rabbit_epmd_port: int = 4379
    mqtt_port: int = 1884
    kafka_heap: str = "512m"
    kafka_bootstrap_override: str = ""
    amqp_url_override: str = ""
    java: str = "java"
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> StackConfig:
        env = dict(os.environ if env is None else env)
        stack_dir = Path(env.get("STREAMLAB_STACK_DIR") or STACK_DIR)
        stack = _env_choice(env, "STACK", "local", STACK_KINDS)
        # a local stack is as big as its data says; the container stacks are always 3 brokers
        brokers = (formatted_brokers(stack_dir.resolve()) if stack == "local" else None) or 3
        values: dict[str, object] = dict(
            stack=stack,
            brokers=_env_int(env, "BROKERS", brokers, (1, 3)),
            rabbit_nodes=_env_int(env, "RABBIT_NODES", 1, (1, 3)),
            stack_dir=stack_dir.resolve(),
            jars_dir=Path(env.get("STREAMLAB_JARS_DIR") or JARS_DIR).resolve(),
            kafka_port=_env_int(env, "KAFKA_PORT", 19092),
            kafka_controller_port=_env_int(env, "KAFKA_CONTROLLER_PORT", 19192),
            amqp_port=_env_int(env, "AMQP_PORT", 5682),
            rabbit_dist_port=_env_int(env, "RABBIT_DIST_PORT", 25682),
            rabbit_mgmt_port=_env_int(env, "RABBIT_MGMT_PORT", 15682),
            rabbit_epmd_port=_env_int(env, "RABBIT_EPMD_PORT", 4379),
            mqtt_port=_env_int(env, "MQTT_PORT", 1884),
            kafka_heap=env.get("KAFKA_HEAP", "512m"),
            kafka_bootstrap_override=env.get("KAFKA_BOOTSTRAP", ""),
            amqp_url_override=env.get("AMQP_URL", ""),
            java=env.get("JAVA", "java"),
        )
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def kafka_bootstrap(self) -> str:
        if self.kafka_bootstrap_override:
            return self.kafka_bootstrap_override
        return ",".join(f"127.0.0.1:{self.kafka_port + i}" for i in range(self.brokers))

    @property
    def amqp_url(self) -> str:
        if self.amqp_url_override:
            return self.amqp_url_override
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/%2F"

    @property
    def amqp_urls(self) -> list[str]:
        """Every node's URL (node N listens on amqp_port + N - 1), for clients that fail over; AMQP_URL wins."""
        if self.amqp_url_override:
            return [self.amqp_url_override]
        return [f"amqp://guest:guest@127.0.0.1:{self.amqp_port + i}/%2F" for i in range(self.rabbit_nodes)]

    @property
    def mqtt_address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.mqtt_port)

    @property
    def rabbit_mgmt_url(self) -> str:
        return f"http://127.0.0.1:{self.rabbit_mgmt_port}"
