"""The pipeline as containers (`make app STACK=podman`): each service in its own container.

The same run as :class:`AppRun` (sinks and processor first, generators once every consumer is in
its group; generators stopped first, then each stage once it has drained) with one difference:
a service is `podman run` of the app image, defined by compose/app.yml (Kafka) or
compose/app-rabbitmq.yml (RabbitMQ), on the stack's project network, reaching the brokers by
container name (kafka-1:9092, rabbitmq-1:5672). The host side (topics, group backlog) talks to the
same brokers through their published 127.0.0.1 ports. The podman client runs attached, so SIGTERM
to it reaches the service (podman's signal proxy, then --init's PID 1) and its exit code is the
service's: the drain-and-stop logic of AppRun works unchanged.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ..stack import StackConfig
from ..stack.podman import COMPOSE_DIR, Project, load_services, port_map, project_name
from ..stack.podman_images import APP_IMAGE, image_label, podman, podman_env
from .runner import AppConfig, AppRun, RunningService

CONTAINER_DATA_DIR = "/data"
APP_UID = 10001          # the app image's user (containers/app/Containerfile)
APP_FILES = {"kafka": COMPOSE_DIR / "app.yml", "rabbitmq": COMPOSE_DIR / "app-rabbitmq.yml"}


def service_key(service: str) -> str:
    """The compose service of a pipeline service: health_processor -> health-processor."""
    return service.replace("_", "-")


def container_args(config: AppConfig, service: str) -> list[str]:
    """The service's arguments with the host's data dir replaced by the container's."""
    host_dir = str(config.data_dir)
    return [CONTAINER_DATA_DIR if arg == host_dir else arg for arg in config.service_args(service)]


class ContainerAppRun(AppRun):
    """An AppRun whose services are containers of the app image."""

    def __init__(self, config: AppConfig, stack_config: StackConfig | None = None) -> None:
        super().__init__(config)
        if config.broker not in APP_FILES:
            raise ValueError(f"STACK=podman runs the app on kafka or rabbitmq, not {config.broker!r}")
        stack_config = stack_config or StackConfig.from_env()
        self.stack_config = stack_config
        self.project = Project(project_name(stack_config), port_map(stack_config))
        self.definitions = load_services(APP_FILES[config.broker])

    @property
    def transport(self):
        """The host's view of the brokers (topics, group backlog): this stack's published ports."""
        if self._transport is None:
            from ..stack import endpoints
            from .declare import app_transport

            self._transport = app_transport(self.config.broker, self.config.client, endpoints(self.stack_config))
        return self._transport

    def start(self) -> None:
        from ..stack import StackError

        if image_label(APP_IMAGE) is None:
            raise StackError(f"image {APP_IMAGE} is missing: run `make images` first")
        if podman("network", "exists", self.project.network, check=False).returncode != 0:
            raise StackError(f"network {self.project.network} does not exist: start the stack with "
                             "`make up STACK=podman` first")
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        # the image runs as an unprivileged user: give it the bind-mounted data dir
        for path in [self.config.data_dir, *self.config.data_dir.rglob("*")]:
            os.chown(path, APP_UID, APP_UID)
        super().start()

    def container(self, service: str) -> str:
        return self.project.container(service_key(service))

    def _spawn(self, service: str) -> None:
        key = service_key(service)
        definition = self.definitions[key]
        module = f"streamlab.services.{service}"
        args = self.project.run_args(
            key, definition, detach=False, remove=True, command=[module, *container_args(self.config, service)],
            volumes=[f"{self.config.data_dir}:{CONTAINER_DATA_DIR}"])
        podman("rm", "-f", self.container(service), check=False)      # a leftover of a killed run
        log_file = self.config.data_dir / "logs" / f"{service}.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(log_file, "ab") as log:
            process = subprocess.Popen(["podman", *args], stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, env=podman_env(), start_new_session=True)
        self.services[service] = RunningService(service, process, log_file)

    def _stop(self, service: str, timeout: float = 30.0) -> int | None:
        code = super()._stop(service, timeout)
        podman("rm", "-f", self.container(service), check=False)    # only if the client was killed
        return code

    def kill_all(self) -> None:
        names = [self.container(s) for s in self.services]
        if names:
            podman("rm", "-f", "-t", "0", *names, check=False)
        super().kill_all()


def data_dir_default() -> Path:
    from ..paths import DATA_DIR

    return DATA_DIR / "app-podman"
