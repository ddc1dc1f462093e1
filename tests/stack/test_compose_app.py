"""Static checks of the application's container setup (containers/Dockerfile and */Containerfile, compose/app.yml and
compose/app-rabbitmq.yml).

No Docker engine here, so: the compose file against the Compose schema and
against the code (services = the app's services, commands = modules that
exist, brokers = the INTERNAL listeners of compose/kafka.yml), and the
Dockerfile against the rules the services rely on (exec-form entrypoint so
SIGTERM reaches Python, a non-root user, sources that exist). Each rule is
shown to fail on a broken copy.
"""

from __future__ import annotations

import copy
import importlib.util
import json

import pytest

from streamlab.paths import HOME
from streamlab.pipeline import wiring as pipeline
from streamlab.stack import compose_check as cc
from streamlab.stack.podman_images import BASE_IMAGE, image_specs

APP_FILE = HOME / "compose" / "app.yml"
KAFKA_FILE = HOME / "compose" / "kafka.yml"
RABBIT_APP_FILE = HOME / "compose" / "app-rabbitmq.yml"
RABBIT_FILE = HOME / "compose" / "rabbitmq.yml"
DOCKERFILE = HOME / "containers" / "Dockerfile"
SPECS = {spec.folder: spec for spec in image_specs()}


def app_problems(app_doc: dict, kafka_doc: dict) -> list[str]:
    problems = []
    services = app_doc.get("services", {})
    expected = {name.replace("_", "-") for name in (*pipeline.GENERATORS, pipeline.PROCESSOR, *pipeline.SINKS)}
    missing = expected - set(services)
    if missing:
        problems.append(f"app services missing: {sorted(missing)}")
    internal = sorted(
        addr.split("://", 1)[1]
        for svc in kafka_doc["services"].values()
        for addr in str(cc.service_env(svc).get("KAFKA_ADVERTISED_LISTENERS", "")).split(",")
        if addr.startswith("INTERNAL://"))
    for name, service in services.items():
        command = service.get("command") or []
        module = command[0] if command else ""
        if not module or importlib.util.find_spec(module) is None:
            problems.append(f"{name}: command runs {module!r}, which is not a module of the package")
        env = cc.service_env(service)
        bootstrap = sorted(str(env.get("KAFKA_BOOTSTRAP", "")).split(","))
        if bootstrap != internal:
            problems.append(f"{name}: KAFKA_BOOTSTRAP {bootstrap} is not the INTERNAL listeners {internal}")
        for dependency in service.get("depends_on", {}) or {}:
            if dependency not in services and dependency not in kafka_doc["services"]:
                problems.append(f"{name}: depends on unknown service {dependency!r}")
        if name in expected and "topics-init" not in (service.get("depends_on") or {}):
            problems.append(f"{name}: starts before the topics exist (no depends_on topics-init)")
        problems += restart_problems(name, service, expected)
    return problems


def restart_problems(name: str, service: dict, expected: set[str]) -> list[str]:
    """Every app service restarts when it crashes (issue 15): nothing else would bring it back."""
    if name in expected and str(service.get("restart", "no")) != "on-failure":
        return [f"{name}: no `restart: on-failure` (a crashed service would stay down)"]
    return []


def rabbit_app_problems(app_doc: dict, rabbit_doc: dict) -> list[str]:
    """The RabbitMQ variant: same services and modules, the rabbitmq transport, rabbitmq-1 healthy first."""
    from urllib.parse import urlsplit

    problems = []
    services = app_doc.get("services", {})
    expected = {name.replace("_", "-") for name in (*pipeline.GENERATORS, pipeline.PROCESSOR, *pipeline.SINKS)}
    if expected - set(services):
        problems.append(f"app services missing: {sorted(expected - set(services))}")
    for name, service in services.items():
        command = service.get("command") or []
        if not command or importlib.util.find_spec(command[0]) is None:
            problems.append(f"{name}: command runs {command[:1]}, which is not a module of the package")
        env = cc.service_env(service)
        if env.get("STREAMLAB_BROKER") != "rabbitmq" or env.get("STREAMLAB_CLIENT") != "pika":
            problems.append(f"{name}: not configured for the rabbitmq/pika transport")
        host = urlsplit(str(env.get("AMQP_URL", ""))).hostname
        if host not in rabbit_doc["services"]:
            problems.append(f"{name}: AMQP_URL host {host!r} is not a service of compose/rabbitmq.yml")
        depends = service.get("depends_on") or {}
        if (depends.get("rabbitmq-1") or {}).get("condition") != "service_healthy":
            problems.append(f"{name}: does not wait for rabbitmq-1 to be healthy")
        if name in expected and "topology-init" not in depends:
            problems.append(f"{name}: starts before the queues exist (no depends_on topology-init)")
        problems += restart_problems(name, service, expected)
    return problems


def dockerfile_problems(text: str, folder: str = "app") -> list[str]:
    """The rules of every Containerfile in containers/ (`folder` names its staged build context)."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    problems = []
    entry = [line for line in lines if line.startswith("ENTRYPOINT")]
    if not entry or not entry[-1].split(None, 1)[1].startswith("["):
        problems.append("ENTRYPOINT must be exec form (JSON array) so the service receives SIGTERM as PID 1")
    else:
        json.loads(entry[-1].split(None, 1)[1])
    users = [line.split(None, 1)[1] for line in lines if line.startswith("USER")]
    if folder == "app" and (not users or users[-1] in ("root", "0")):
        problems.append("the image must run as a non-root USER")
    froms = [line for line in lines if line.startswith("FROM")]
    if f"ARG BASE={BASE_IMAGE}" not in lines or froms != ["FROM ${BASE}"]:
        problems.append(f"base image must be ARG BASE={BASE_IMAGE} (Docker: --build-arg BASE=debian:bookworm-slim)")
    staged = [rel for rel, _ in SPECS[folder].files()] + [f"{sub}/" for sub in SPECS[folder].extra]
    for line in lines:
        if line.startswith("COPY") and "--from" not in line:
            for source in line.split()[1:-1]:
                if not any(rel == source or rel.startswith(source.rstrip("/") + "/") for rel in staged):
                    problems.append(f"COPY source {source} is not in the staged build context")
    return problems


@pytest.fixture(scope="module")
def docs():
    return cc.load_compose(APP_FILE), cc.load_compose(KAFKA_FILE)


def test_app_and_kafka_files_merge_into_a_valid_compose_project(docs):
    app_doc, kafka_doc = docs
    merged = copy.deepcopy(kafka_doc)
    merged["services"].update(app_doc["services"])
    assert cc.schema_problems(merged) == []


def test_app_file_matches_the_code(docs):
    assert app_problems(*docs) == []


@pytest.fixture(scope="module")
def rabbit_docs():
    return cc.load_compose(RABBIT_APP_FILE), cc.load_compose(RABBIT_FILE)


def test_rabbitmq_app_and_rabbitmq_files_merge_into_a_valid_compose_project(rabbit_docs):
    app_doc, rabbit_doc = rabbit_docs
    merged = copy.deepcopy(rabbit_doc)
    merged["services"].update(app_doc["services"])
    assert cc.schema_problems(merged) == []
    assert rabbit_app_problems(app_doc, rabbit_doc) == []


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d["services"]["health-processor"]["environment"].update(AMQP_URL="amqp://rabbit-9:5672/"),
     "is not a service of compose/rabbitmq.yml"),
    (lambda d: d["services"]["alert-csv-sink"].update(depends_on={"topology-init": {}}), "rabbitmq-1 to be healthy"),
    (lambda d: d["services"]["telemetry-generator"]["environment"].update(STREAMLAB_BROKER="kafka"), "rabbitmq/pika"),
])
def test_rabbitmq_app_checker_catches(rabbit_docs, mutate, expected):
    app_doc = copy.deepcopy(rabbit_docs[0])
    for service in app_doc["services"].values():      # the YAML anchors share one mapping: unshare them
        service["environment"] = dict(service.get("environment") or {})
    mutate(app_doc)
    assert any(expected in p for p in rabbit_app_problems(app_doc, rabbit_docs[1]))


@pytest.mark.parametrize("folder", ["app", "kafka", "rabbitmq"])
def test_containerfiles_follow_the_rules(folder):
    assert dockerfile_problems(SPECS[folder].containerfile.read_text(), folder) == []


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d["services"].pop("health-processor"), "app services missing"),
    (lambda d: d["services"]["alert-csv-sink"].update(command=["streamlab.services.nope"]), "not a module"),
    (lambda d: d["services"]["telemetry-generator"].update(environment={"KAFKA_BOOTSTRAP": "127.0.0.1:19092"}),
     "is not the INTERNAL listeners"),
    (lambda d: d["services"]["health-parquet-sink"].update(depends_on={}), "no depends_on topics-init"),
    (lambda d: d["services"]["health-processor"].pop("restart"), "no `restart: on-failure`"),
    (lambda d: d["services"]["alert-csv-sink"].update(restart="no"), "no `restart: on-failure`"),
])
def test_app_checker_catches(docs, mutate, expected):
    app_doc, kafka_doc = copy.deepcopy(docs[0]), docs[1]
    mutate(app_doc)
    assert any(expected in p for p in app_problems(app_doc, kafka_doc))


@pytest.mark.parametrize("old, new, expected", [
    ('ENTRYPOINT ["python", "-m"]', "ENTRYPOINT python -m", "exec form"),
    ("USER streamlab", "USER root", "non-root"),
    ("COPY deps/ /wheels/", "COPY src/ /wheels/", "COPY source src/"),
    ("FROM ${BASE}", "FROM python:3.11-slim", "base image must be ARG BASE"),
])
def test_dockerfile_checker_catches(old, new, expected):
    text = DOCKERFILE.read_text()
    assert old in text
    problems = dockerfile_problems(text.replace(old, new))
    assert any(expected in p for p in problems)
