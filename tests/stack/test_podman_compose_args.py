"""STACK=podman without podman: the compose files turned into `podman run` arguments, the mirror
read from apt's sources, the inputs hash that decides a rebuild. Pure functions, no containers."""

from __future__ import annotations

import pytest

from streamlab.stack import StackConfig, StackError
from streamlab.stack import podman as pm
from streamlab.stack import podman_images as pi

SHIFTED = StackConfig(kafka_port=21600, amqp_port=21610, rabbit_mgmt_port=21630)


def args_of(file: str, service: str, config: StackConfig = SHIFTED, **kwargs) -> list[str]:
    project = pm.Project(pm.project_name(config), pm.port_map(config))
    return project.run_args(service, pm.load_services(pm.COMPOSE_DIR / file)[service], **kwargs)


def env_of(args: list[str]) -> dict[str, str]:
    return dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "-e")


def flag_values(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == flag]


def test_kafka_node_moves_its_published_port_and_the_listener_that_advertises_it():
    args = args_of("kafka.yml", "kafka-2")
    assert flag_values(args, "-p") == ["127.0.0.1:21601:21601"]
    env = env_of(args)
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "INTERNAL://kafka-2:9092,EXTERNAL://127.0.0.1:21601"
    assert env["KAFKA_LISTENERS"] == "INTERNAL://0.0.0.0:9092,EXTERNAL://0.0.0.0:21601,CONTROLLER://kafka-2:9093"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"  # untouched


def test_default_ports_are_the_compose_files_own():
    args = args_of("kafka.yml", "kafka-1", StackConfig())
    assert flag_values(args, "-p") == ["127.0.0.1:19092:19092"]


def test_names_network_labels_image_and_volumes_are_the_projects():
    args = args_of("kafka.yml", "kafka-3")
    project = "streamlab-21600"
    assert flag_values(args, "--name") == [f"{project}-kafka-3"]
    assert flag_values(args, "--network") == [project]
    assert flag_values(args, "--network-alias") == ["kafka-3"]       # how other containers find it
    assert f"{pm.PROJECT_LABEL}={project}" in flag_values(args, "--label")
    assert flag_values(args, "-v") == [f"{project}-kafka-3-data:/var/lib/kafka/data"]
    assert pi.KAFKA_IMAGE in args and "apache/kafka:4.4.0" not in args
    assert "--init" in args and flag_values(args, "--stop-timeout") == ["30"]


def test_rabbitmq_publishes_amqp_and_management_on_loopback_and_mounts_the_conf_read_only():
    args = args_of("rabbitmq.yml", "rabbitmq-1")
    assert flag_values(args, "-p") == ["127.0.0.1:21610:5672", "127.0.0.1:21630:15672"]
    conf = [v for v in flag_values(args, "-v") if v.endswith(":ro")]
    assert conf == [f"{pm.COMPOSE_DIR / 'rabbitmq' / 'rabbitmq.conf'}:/etc/rabbitmq/conf.d/90-streamlab.conf:ro",
                    # the consistent-hash exchange of the processor's shards, beside the management plugin
                    f"{pm.COMPOSE_DIR / 'rabbitmq' / 'enabled_plugins'}:/etc/rabbitmq/enabled_plugins:ro"]
    assert pi.RABBITMQ_IMAGE in args


def test_app_service_gets_its_command_and_the_run_data_dir():
    args = args_of("app.yml", "health-processor", detach=False, remove=True,
                   command=["streamlab.services.health_processor", "--data-dir", "/data"], volumes=["/tmp/x:/data"])
    assert "-d" not in args and "--rm" in args
    assert args[-3:] == ["streamlab.services.health_processor", "--data-dir", "/data"]
    assert flag_values(args, "-v") == ["/tmp/x:/data"]          # the run's dir replaces the file's ../data/app
    assert env_of(args)["KAFKA_BOOTSTRAP"] == "kafka-1:9092,kafka-2:9092,kafka-3:9092"


def test_a_port_published_beyond_loopback_is_refused():
    project = pm.Project("p", {})
    with pytest.raises(StackError, match="127.0.0.1 only"):
        project.run_args("x", {"image": "i", "ports": ["0.0.0.0:1:1"]})


def test_stack_kinds_include_podman_and_a_wrong_one_is_one_clear_error():
    assert StackConfig.from_env({"STACK": "podman"}).stack == "podman"
    with pytest.raises(StackError, match="STACK='podmn' is not known: use one of local, docker, podman, external"):
        StackConfig.from_env({"STACK": "podmn"})


def test_podman_stack_needs_the_three_node_quorum():
    with pytest.raises(StackError, match="3-node KRaft quorum"):
        pm.PodmanKafka(StackConfig(brokers=1))


@pytest.mark.parametrize("sources, expected", [
    ({"a.sources": "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n"
                   "Components: main\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\n"
                   "Suites: bookworm-security\n"}, "http://deb.debian.org/debian"),
    ({"sources.list": "# comment\ndeb [arch=amd64] http://mirror.example/debian/ bookworm main\n"},
     "http://mirror.example/debian"),
    ({"sources.list": "deb http://deb.debian.org/debian-security bookworm-security main\n"}, None),
    ({"x.sources": "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n"}, None),
])
def test_debian_mirror_is_read_from_apts_sources(sources, expected):
    assert pi.debian_mirror(sources) == expected


def test_inputs_hash_changes_with_content_not_with_order():
    a = pi.inputs_hash([("Containerfile", b"FROM x"), ("bin/run", b"echo")])
    assert a == pi.inputs_hash([("bin/run", b"echo"), ("Containerfile", b"FROM x")])
    assert a != pi.inputs_hash([("Containerfile", b"FROM y"), ("bin/run", b"echo")])
    assert a != pi.inputs_hash([("Containerfile", b"FROM x"), ("bin/run2", b"echo")])


def test_image_specs_stage_the_containerfile_and_their_inputs(tmp_path):
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "kafka_2.13-4.4.0.jar").write_bytes(b"jar")
    kafka = next(s for s in pi.image_specs(tmp_path) if s.folder == "kafka")
    staged = dict(kafka.files())
    assert "Containerfile" in staged and "bin/streamlab-kafka-run" in staged
    assert staged["jars/kafka_2.13-4.4.0.jar"] == tmp_path / "kafka" / "kafka_2.13-4.4.0.jar"
    before = kafka.digest("base1")
    assert kafka.digest("base2") != before            # a new base rebuilds what is above it
    (tmp_path / "kafka" / "kafka_2.13-4.4.0.jar").write_bytes(b"jar2")
    assert kafka.digest("base1") != before            # so does a changed jar


def test_the_rabbitmq_4_image_is_the_same_containerfile_on_debian_13():
    rabbits = {s.tag: s for s in pi.image_specs() if s.folder == "rabbitmq"}
    assert rabbits[pi.RABBITMQ_IMAGE].suite == pi.SUITE == "bookworm"        # Debian 12: rabbitmq-server 3.10
    assert rabbits[pi.RABBITMQ4_IMAGE].suite == pi.SUITE_RABBITMQ4 == "trixie"  # Debian 13: 4.0
    assert dict(rabbits[pi.RABBITMQ_IMAGE].files()) == dict(rabbits[pi.RABBITMQ4_IMAGE].files())
    assert pi.base_image("trixie") == "localhost/streamlab-base:trixie" and pi.base_image() == pi.BASE_IMAGE
    # the same files on another base: another digest, so each image is rebuilt only for its own base
    assert rabbits[pi.RABBITMQ4_IMAGE].digest("trixie-base") != rabbits[pi.RABBITMQ_IMAGE].digest("bookworm-base")
