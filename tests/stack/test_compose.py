"""The docker compose stacks, checked statically: no Docker engine, no network.

The project's machines cannot run compose/kafka.yml and compose/rabbitmq.yml, so
these tests are what keeps them honest: (a) both files validate against the
Compose Specification JSON schema (vendored by the check-jsonschema package);
(b) they agree with the code that drives them (service names of docker.py, ports
of StackConfig, broker settings of the local stack) and with themselves (one
cluster id, one voter list, node ids, advertised addresses); (c) every check is
shown to fire on a broken copy, so a green run means something.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from streamlab.paths import HOME
from streamlab.stack import StackConfig
from streamlab.stack import compose_check as cc
from streamlab.stack.docker import docker_kafka, docker_rabbitmq

CONFIG = StackConfig()
KAFKA = docker_kafka(replace(CONFIG, brokers=3))
RABBIT = docker_rabbitmq(replace(CONFIG, rabbit_nodes=3))
KAFKA_SERVICES = [f"kafka-{i}" for i in range(1, 4)]
RABBIT_SERVICES = [f"rabbitmq-{i}" for i in range(1, 4)]
RABBIT_CONF_SOURCE = "./rabbitmq/rabbitmq.conf"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return cc.compose_schema()


@pytest.fixture(scope="module")
def local_props() -> dict[str, str]:
    return cc.local_kafka_properties(CONFIG)


def kafka_doc() -> dict[str, Any]:
    return cc.load_compose(KAFKA.compose_file)


def rabbit_doc() -> dict[str, Any]:
    return cc.load_compose(RABBIT.compose_file)


def rabbit_conf() -> str:
    return (RABBIT.compose_file.parent / RABBIT_CONF_SOURCE).read_text()


def kafka_check(doc: dict[str, Any], local_props: dict[str, str]) -> list[str]:
    return cc.kafka_problems(doc, CONFIG, KAFKA_SERVICES, local_props)


def rabbit_check(doc: dict[str, Any], conf: str | None = None) -> list[str]:
    texts = None if conf is None else {RABBIT_CONF_SOURCE: conf}
    return cc.rabbitmq_problems(doc, CONFIG, RABBIT_SERVICES, RABBIT.compose_file.parent, texts)


# ---- (a) the Compose Specification ----------------------------------------------------

def test_schema_is_the_vendored_compose_spec(schema):
    assert schema["title"] == "Compose Specification"
    assert "services" in schema["properties"]


@pytest.mark.parametrize("load", [kafka_doc, rabbit_doc], ids=["kafka.yml", "rabbitmq.yml"])
def test_files_follow_the_compose_schema(load, schema):
    assert cc.schema_problems(load(), schema) == []


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d["services"]["kafka-1"].update(healtcheck=d["services"]["kafka-1"].pop("healthcheck")),
     "healtcheck"),
    (lambda d: d["services"]["kafka-2"]["healthcheck"].update(intervall="5s"), "intervall"),
    (lambda d: d["services"]["kafka-3"].update(ports="127.0.0.1:19094:19094"), "ports"),
    (lambda d: d.update(service=d.pop("services")), "service"),
], ids=["misspelt-key", "misspelt-healthcheck-option", "ports-not-a-list", "misspelt-top-level"])
def test_schema_catches_malformed_files(mutate, expected, schema):
    doc = kafka_doc()
    mutate(doc)
    problems = cc.schema_problems(doc, schema)
    assert any(expected in p for p in problems), problems


# ---- (b) the files agree with the code and with themselves -------------------------------

def test_compose_files_are_where_docker_py_looks():
    assert KAFKA.compose_file == HOME / "compose" / "kafka.yml"
    assert RABBIT.compose_file == HOME / "compose" / "rabbitmq.yml"
    assert set(kafka_doc()["services"]) == {KAFKA._service(i) for i in range(1, 4)}
    assert set(rabbit_doc()["services"]) == {RABBIT._service(i) for i in range(1, 4)}


def test_kafka_file_has_no_problems(local_props):
    assert kafka_check(kafka_doc(), local_props) == []


def test_rabbitmq_file_has_no_problems():
    assert rabbit_check(rabbit_doc()) == []


def test_host_clients_use_the_same_addresses_as_the_local_stack():
    doc = kafka_doc()
    advertised = []
    for name in KAFKA_SERVICES:
        env = cc.service_env(doc["services"][name])
        listeners = cc.parse_listeners(env["KAFKA_ADVERTISED_LISTENERS"])
        advertised += [f"{host}:{port}" for host, port in listeners.values() if host == cc.LOOPBACK]
    assert ",".join(advertised) == CONFIG.kafka_bootstrap
    rabbit = rabbit_doc()["services"]["rabbitmq-1"]
    assert {p["published"] for p in cc.published_ports(rabbit)} == {CONFIG.amqp_port, CONFIG.rabbit_mgmt_port}
    assert [p["published"] for p in cc.published_ports(rabbit) if p["target"] == 5672] == RABBIT.ports[:1]


def test_kafka_nodes_form_one_quorum():
    envs = [cc.service_env(kafka_doc()["services"][name]) for name in KAFKA_SERVICES]
    assert len({env["CLUSTER_ID"] for env in envs}) == 1
    assert cc.cluster_id_problem(envs[0]["CLUSTER_ID"]) is None
    voters = {env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in envs}
    assert voters == {"1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"}
    assert [int(env["KAFKA_NODE_ID"]) for env in envs] == [1, 2, 3]


def test_every_service_has_a_healthcheck():
    for doc in (kafka_doc(), rabbit_doc()):
        for name, service in doc["services"].items():
            assert service.get("healthcheck", {}).get("test"), name


def test_readme_documents_the_ports_and_what_runs_here():
    text = (HOME / "compose" / "README.md").read_text()
    ports = [CONFIG.kafka_port + i for i in range(3)]
    ports += [CONFIG.amqp_port + i for i in range(3)] + [CONFIG.rabbit_mgmt_port + i for i in range(3)]
    for port in ports:
        assert str(port) in text, port
    assert "STACK=podman" in text and "checked statically" in text   # what runs here, what does not


# ---- the small parsers the checks rest on --------------------------------------------------

def test_port_syntaxes():
    service = {"ports": ["127.0.0.1:19092:19092", "8080:80", "9000", "[::1]:5000:5000/udp",
                         {"target": 5672, "published": "5682", "host_ip": "127.0.0.1"}]}
    assert [(p["host_ip"], p["published"], p["target"]) for p in cc.published_ports(service)] == [
        ("127.0.0.1", 19092, 19092), ("", 8080, 80), ("", None, 9000), ("::1", 5000, 5000),
        ("127.0.0.1", 5682, 5672)]


def test_kafka_env_names_follow_the_image_rules():
    assert cc.kafka_env_to_property("KAFKA_AUTO_CREATE_TOPICS_ENABLE") == "auto.create.topics.enable"
    assert cc.kafka_env_to_property("KAFKA_ABC___DEF") == "abc-def"
    assert cc.kafka_env_to_property("KAFKA_ABC__DEF") == "abc_def"
    assert "heap.opts" not in cc.kafka_properties({"KAFKA_HEAP_OPTS": "-Xmx1g", "KAFKA_NODE_ID": "1"})


def test_env_list_form_and_conf_parsing():
    assert cc.service_env({"environment": ["A=1", "B=x=y"]}) == {"A": "1", "B": "x=y"}
    assert cc.parse_rabbit_conf("# c\nloopback_users = none  # why\n\na.b=1\n") == {
        "loopback_users": "none",
        "a.b": "1",
    }


@pytest.mark.parametrize("cluster_id, ok", [
    ("hBqwVe4GRPO3ipZ8a9BaHA", True), ("hBqwVe4GRPO3ipZ8a9BaH", False), ("not-an-id", False),
    ("AAAAAAAAAAAAAAAAAAAAAA", False)])
def test_cluster_id_format(cluster_id, ok):
    assert (cc.cluster_id_problem(cluster_id) is None) is ok


# ---- (c) every check fires on a broken copy -------------------------------------------------

def _env(doc: dict[str, Any], service: str) -> dict[str, Any]:
    return doc["services"][service]["environment"]


KAFKA_MUTATIONS: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    ("drop-healthcheck", lambda d: d["services"]["kafka-2"].pop("healthcheck"), "kafka-2: no healthcheck"),
    ("healthcheck-none", lambda d: d["services"]["kafka-2"].update(healthcheck={"test": ["NONE"]}),
     "healthcheck is NONE"),
    ("rename-service", lambda d: d["services"].update({"kafka-three": d["services"].pop("kafka-3")}),
     "service kafka-3 is missing"),
    ("port-on-all-interfaces", lambda d: d["services"]["kafka-1"].update(ports=["19092:19092"]),
     "not published on 127.0.0.1"),
    ("wrong-host-port", lambda d: d["services"]["kafka-3"].update(ports=["127.0.0.1:29094:19094"]),
     "expected one port 127.0.0.1:19094"),
    ("other-cluster-id", lambda d: _env(d, "kafka-2").update(CLUSTER_ID="zRPNQI5DRl2xRF_hbDXp-w"),
     "disagree on CLUSTER_ID"),
    ("other-voters", lambda d: _env(d, "kafka-1").update(
        KAFKA_CONTROLLER_QUORUM_VOTERS="1@kafka-1:9093,2@kafka-2:9093"), "disagree on KAFKA_CONTROLLER_QUORUM_VOTERS"),
    ("node-id-off", lambda d: _env(d, "kafka-3").update(KAFKA_NODE_ID="4"), "KAFKA_NODE_ID is '4'"),
    ("voter-port-off", lambda d: _env(d, "kafka-2").update(
        KAFKA_LISTENERS="INTERNAL://0.0.0.0:9092,EXTERNAL://0.0.0.0:19093,CONTROLLER://kafka-2:9094"),
     "does not match its controller listener"),
    ("controller-on-0.0.0.0", lambda d: _env(d, "kafka-1").update(
        KAFKA_LISTENERS="INTERNAL://0.0.0.0:9092,EXTERNAL://0.0.0.0:19092,CONTROLLER://0.0.0.0:9093"),
     "controller listener binds 0.0.0.0"),
    ("advertise-container-name-to-host", lambda d: _env(d, "kafka-1").update(
        KAFKA_ADVERTISED_LISTENERS="INTERNAL://kafka-1:9092,EXTERNAL://kafka-1:19092"),
     "host clients need 127.0.0.1:19092"),
    ("inter-broker-on-loopback", lambda d: _env(d, "kafka-2").update(
        KAFKA_ADVERTISED_LISTENERS="INTERNAL://127.0.0.1:9092,EXTERNAL://127.0.0.1:19093"),
     "other containers reach this node as 'kafka-2'"),
    ("auto-create-on", lambda d: _env(d, "kafka-1").update(KAFKA_AUTO_CREATE_TOPICS_ENABLE="true"),
     "auto.create.topics.enable is 'true'"),
    ("min-isr-1", lambda d: _env(d, "kafka-3").update(KAFKA_TRANSACTION_STATE_LOG_MIN_ISR="1"),
     "transaction.state.log.min.isr is '1'"),
    ("slow-failure-detection", lambda d: _env(d, "kafka-2").pop("KAFKA_BROKER_SESSION_TIMEOUT_MS"),
     "broker.session.timeout.ms is None"),
    ("unquoted-env", lambda d: _env(d, "kafka-1").update(KAFKA_NUM_IO_THREADS=4), "must be a quoted string"),
    ("big-heap", lambda d: _env(d, "kafka-1").update(KAFKA_HEAP_OPTS="-Xmx4g"), "KAFKA_HEAP_OPTS"),
    ("data-not-on-volume", lambda d: d["services"]["kafka-2"].update(volumes=[]), "not on a named volume"),
    ("shared-volume", lambda d: d["services"]["kafka-2"].update(volumes=["kafka-1-data:/var/lib/kafka/data"]),
     "share a data volume"),
    ("restart-always", lambda d: d["services"]["kafka-3"].update(restart="always"), "restart: always"),
    ("wrong-image", lambda d: d["services"]["kafka-1"].update(image="apache/kafka:latest"), "image is"),
    ("healthcheck-wrong-port", lambda d: d["services"]["kafka-1"].update(healthcheck={"test": [
        "CMD-SHELL", "/opt/kafka/bin/kafka-broker-api-versions.sh --bootstrap-server localhost:9999"]}),
     "healthcheck port 9999"),
]


@pytest.mark.parametrize("mutate, expected", [m[1:] for m in KAFKA_MUTATIONS], ids=[m[0] for m in KAFKA_MUTATIONS])
def test_kafka_checker_catches(mutate, expected, local_props):
    doc = copy.deepcopy(kafka_doc())
    mutate(doc)
    problems = kafka_check(doc, local_props)
    assert any(expected in p for p in problems), problems


RABBIT_MUTATIONS: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    ("drop-healthcheck", lambda d: d["services"]["rabbitmq-3"].pop("healthcheck"), "rabbitmq-3: no healthcheck"),
    ("amqp-port-off", lambda d: d["services"]["rabbitmq-2"].update(
        ports=["127.0.0.1:5699:5672", "127.0.0.1:15683:15672"]), "must be published as 127.0.0.1:5683"),
    ("mgmt-on-all-interfaces", lambda d: d["services"]["rabbitmq-1"].update(
        ports=["127.0.0.1:5682:5672", "15682:15672"]), "not published on 127.0.0.1"),
    ("no-cluster-profile", lambda d: d["services"]["rabbitmq-2"].pop("profiles"), "expected ['cluster']"),
    ("node-1-in-profile", lambda d: d["services"]["rabbitmq-1"].update(profiles=["cluster"]), "expected []"),
    ("other-cookie", lambda d: _env(d, "rabbitmq-3").update(RABBITMQ_ERLANG_COOKIE="x"), "RABBITMQ_ERLANG_COOKIE"),
    ("no-cookie", lambda d: [_env(d, s).pop("RABBITMQ_ERLANG_COOKIE") for s in RABBIT_SERVICES],
     "RABBITMQ_ERLANG_COOKIE"),
    ("unpinned-hostname", lambda d: d["services"]["rabbitmq-2"].pop("hostname"), "hostname is None"),
    ("nodename-off", lambda d: _env(d, "rabbitmq-2").update(RABBITMQ_NODENAME="rabbit@elsewhere"),
     "does not match its hostname"),
    ("conf-not-mounted", lambda d: d["services"]["rabbitmq-1"].update(volumes=["rabbitmq-1-data:/var/lib/rabbitmq"]),
     "exactly one config file"),
    ("conf-writable", lambda d: d["services"]["rabbitmq-1"].update(volumes=[
        "./rabbitmq/rabbitmq.conf:/etc/rabbitmq/conf.d/90-streamlab.conf", "rabbitmq-1-data:/var/lib/rabbitmq"]),
     "should be read-only"),
    ("conf-missing", lambda d: d["services"]["rabbitmq-1"].update(volumes=[
        "./rabbitmq/nope.conf:/etc/rabbitmq/conf.d/90-streamlab.conf:ro", "rabbitmq-1-data:/var/lib/rabbitmq"]),
     "does not exist"),
    ("not-management", lambda d: d["services"]["rabbitmq-1"].update(image="rabbitmq:3.13"), "-management tag"),
    ("undeclared-volume", lambda d: d["volumes"].pop("rabbitmq-2-data"), "not declared under top-level volumes"),
]


@pytest.mark.parametrize("mutate, expected", [m[1:] for m in RABBIT_MUTATIONS], ids=[m[0] for m in RABBIT_MUTATIONS])
def test_rabbitmq_checker_catches(mutate, expected):
    doc = copy.deepcopy(rabbit_doc())
    mutate(doc)
    problems = rabbit_check(doc)
    assert any(expected in p for p in problems), problems


CONF_MUTATIONS = [
    ("guest-loopback-only", lambda t: t.replace("loopback_users = none", ""), "set loopback_users = none"),
    (
        "node-missing-from-peers",
        lambda t: t.replace("cluster_formation.classic_config.nodes.3 = rabbit@rabbitmq-3", ""),
        "classic config lists",
    ),
    (
        "no-peer-discovery",
        lambda t: t.replace("peer_discovery_backend = classic_config", "peer_discovery_backend = k8s"),
        "not classic config",
    ),
    (
        "amqp-listener-moved",
        lambda t: t.replace("listeners.tcp.default = 5672", "listeners.tcp.default = 5673"),
        "container port 5673",
    ),
]


@pytest.mark.parametrize("mutate, expected", [m[1:] for m in CONF_MUTATIONS], ids=[m[0] for m in CONF_MUTATIONS])
def test_rabbitmq_conf_checker_catches(mutate, expected):
    conf = rabbit_conf()
    broken = mutate(conf)
    assert broken != conf
    problems = rabbit_check(rabbit_doc(), broken)
    assert any(expected in p for p in problems), problems


def test_other_stack_ports_are_checked_against_config(local_props):
    """The ports come from StackConfig, not from constants in the checker."""
    moved = replace(CONFIG, kafka_port=29092, amqp_port=5692)
    assert any("127.0.0.1:29092" in p for p in cc.kafka_problems(kafka_doc(), moved, KAFKA_SERVICES, local_props))
    assert any("5692" in p for p in cc.rabbitmq_problems(rabbit_doc(), moved, RABBIT_SERVICES,
                                                         RABBIT.compose_file.parent))


def test_check_all_reports_both_files_clean():
    assert cc.check_all() == {str(KAFKA.compose_file): [], str(RABBIT.compose_file): []}
