"""Static checks of the docker compose stacks (compose/kafka.yml, compose/rabbitmq.yml).

The project's machines have no Docker engine, so the compose files cannot be
run here. Instead they are checked the two ways that need no engine:

* against the Compose Specification JSON schema (the copy vendored by the
  `check-jsonschema` package, so no download at test time): catches typos and
  wrong shapes that `docker compose config` would reject;
* against the code that drives them and the stack they mirror: service names
  as `docker.py` builds them, host ports from `StackConfig`, broker settings
  from `kafka_local.py`, listener / quorum / cluster wiring that must agree
  across nodes.

Every check returns a list of problems (empty = fine), one readable line each,
so a test can assert both that the real files pass and that a broken copy is
caught. `python -m streamlab.stack.compose_check` prints the problems.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from .config import KAFKA_VERSION, StackConfig, StackError

LOOPBACK = "127.0.0.1"
KAFKA_IMAGE = f"apache/kafka:{KAFKA_VERSION}"
KAFKA_ROLES = "broker,controller"
RABBIT_CLUSTER_PROFILE = "cluster"
RABBIT_CONF_DIR = "/etc/rabbitmq/conf.d/"
RABBIT_DATA_DIR = "/var/lib/rabbitmq"

# Environment variables the apache/kafka image passes to the JVM or its scripts
# instead of turning them into server properties (KafkaDockerWrapper's list).
KAFKA_NON_PROPERTY_ENV = {
    "KAFKA_VERSION", "KAFKA_HEAP_OPTS", "KAFKA_LOG4J_OPTS", "KAFKA_OPTS", "KAFKA_JMX_OPTS",
    "KAFKA_JVM_PERFORMANCE_OPTS", "KAFKA_GC_LOG_OPTS", "KAFKA_LOG4J_ROOT_LOGLEVEL",
    "KAFKA_LOG4J_LOGGERS", "KAFKA_TOOLS_LOG4J_LOGLEVEL", "KAFKA_JMX_HOSTNAME",
}

# Properties of the local stack that are per node or per network: the compose
# file sets its own (container hostnames, two listeners) and they are checked
# separately; every other local property must appear with the same value.
KAFKA_WIRING_PROPERTIES = {
    "node.id", "controller.quorum.voters", "listeners", "advertised.listeners",
    "controller.listener.names", "inter.broker.listener.name",
    "listener.security.protocol.map", "log.dirs",
}


# ---- loading -----------------------------------------------------------------

def load_compose(path: Path) -> dict[str, Any]:
    """The file as compose sees it before interpolation (YAML merge keys resolved)."""
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise StackError(f"cannot read compose file {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise StackError(f"compose file {path} is not a mapping")
    return doc


def compose_schema() -> dict[str, Any]:
    """The Compose Specification schema vendored by check-jsonschema (`vendor.compose-spec`)."""
    # Locate the package without importing it: its __init__ loads the whole CLI (~1 s).
    from importlib.util import find_spec

    try:
        spec = find_spec("check_jsonschema")
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError("check_jsonschema is not installed")
        path = Path(spec.origin).parent / "builtin_schemas" / "vendor" / "compose-spec.json"
        return json.loads(path.read_text(encoding="utf-8"))
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise StackError("the Compose Specification schema comes from the `check-jsonschema` package: "
                         f"pip install check-jsonschema (it is in the dev extra) ({exc})") from None


def schema_problems(doc: dict[str, Any], schema: dict[str, Any] | None = None) -> list[str]:
    """Violations of the Compose Specification, as `path: message` lines."""
    import jsonschema

    schema = compose_schema() if schema is None else schema
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema)
    problems = []
    for error in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        problems.append(f"schema: {where}: {error.message}")
    return problems


# ---- small parsers -------------------------------------------------------------

def service_env(service: dict[str, Any]) -> dict[str, Any]:
    """`environment` as a dict; values are returned as written (to check they are strings)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        out: dict[str, Any] = {}
        for item in env:
            key, _, value = str(item).partition("=")
            out[key] = value
        return out
    return dict(env)


def published_ports(service: dict[str, Any]) -> list[dict[str, Any]]:
    """Each `ports` entry as {host_ip, published, target, raw}; host_ip '' means all interfaces."""
    out = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            out.append({"host_ip": str(entry.get("host_ip", "")), "published": _int(entry.get("published")),
                        "target": _int(entry.get("target")), "raw": entry})
            continue
        spec = str(entry).split("/", 1)[0]
        parts = spec.rsplit(":", 2)
        if len(parts) == 3:
            host_ip, published, target = parts
        elif len(parts) == 2:
            host_ip, (published, target) = "", parts
        else:
            host_ip, published, target = "", None, parts[0]
        out.append({"host_ip": host_ip.strip("[]"), "published": _int(published), "target": _int(target),
                    "raw": entry})
    return out


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def service_volumes(service: dict[str, Any]) -> list[dict[str, Any]]:
    """Each `volumes` entry as {source, target, read_only, bind}."""
    out = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            source, target = str(entry.get("source", "")), str(entry.get("target", ""))
            read_only = bool(entry.get("read_only", False))
            bind = entry.get("type") == "bind"
        else:
            parts = str(entry).split(":")
            source, target = (parts[0], parts[1]) if len(parts) >= 2 else ("", parts[0])
            read_only = len(parts) >= 3 and "ro" in parts[2].split(",")
            bind = source.startswith((".", "/", "~"))
        out.append({"source": source, "target": target, "read_only": read_only, "bind": bind})
    return out


def parse_listeners(value: str) -> dict[str, tuple[str, int | None]]:
    """'NAME://host:port,...' -> {NAME: (host, port)}."""
    out: dict[str, tuple[str, int | None]] = {}
    for item in filter(None, (part.strip() for part in str(value).split(","))):
        name, sep, address = item.partition("://")
        host, _, port = address.rpartition(":")
        out[name.upper() if sep else item] = (host.strip("[]"), _int(port))
    return out


def parse_voters(value: str) -> dict[int, tuple[str, int | None]]:
    """'1@host:9093,...' -> {1: (host, 9093)}."""
    out: dict[int, tuple[str, int | None]] = {}
    for item in filter(None, (part.strip() for part in str(value).split(","))):
        node_id, _, address = item.partition("@")
        host, _, port = address.rpartition(":")
        parsed = _int(node_id)
        out[-1 - len(out) if parsed is None else parsed] = (host, _int(port))
    return out


def kafka_env_to_property(name: str) -> str:
    """The apache/kafka image's rule: strip KAFKA_, '_' -> '.', '___' -> '-', '__' -> '_'."""
    return name[len("KAFKA_"):].lower().replace("_", ".").replace("...", "-").replace("..", "_")


def kafka_properties(env: dict[str, Any]) -> dict[str, str]:
    """The server properties a node's environment turns into."""
    return {kafka_env_to_property(k): str(v) for k, v in env.items()
            if k.startswith("KAFKA_") and k not in KAFKA_NON_PROPERTY_ENV}


def parse_rabbit_conf(text: str) -> dict[str, str]:
    """rabbitmq.conf (sysctl format): key = value, '#' comments."""
    out = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def cluster_id_problem(cluster_id: str) -> str | None:
    """Kafka's cluster id is 16 bytes, url-safe base64 without padding (22 characters)."""
    try:
        raw = base64.urlsafe_b64decode(cluster_id + "=" * (-len(cluster_id) % 4))
    except (ValueError, TypeError):
        return f"CLUSTER_ID {cluster_id!r} is not url-safe base64"
    if len(raw) != 16 or base64.urlsafe_b64encode(raw).decode().rstrip("=") != cluster_id:
        return f"CLUSTER_ID {cluster_id!r} is not a 16-byte id in url-safe base64 (22 characters)"
    if raw == bytes(16) or cluster_id.startswith("-"):
        return f"CLUSTER_ID {cluster_id!r} is a reserved or CLI-unfriendly id"
    return None


# ---- checks shared by both files ---------------------------------------------------

def common_problems(doc: dict[str, Any], services: list[str]) -> list[str]:
    """Services exist, have healthchecks, publish on loopback only, stay down when killed."""
    problems: list[str] = []
    defined = doc.get("services") or {}
    for name in services:
        if name not in defined:
            problems.append(f"service {name} is missing (lib/streamlab/stack/docker.py drives it by that name)")
    declared_volumes = set((doc.get("volumes") or {}).keys())
    for name, service in defined.items():
        service = service or {}
        check = service.get("healthcheck")
        test = check.get("test") if isinstance(check, dict) else None
        if not check or not test or (isinstance(check, dict) and str(check.get("disable", "")).lower() == "true"):
            problems.append(f"{name}: no healthcheck (`docker compose up --wait` needs one)")
        elif (test if isinstance(test, str) else " ".join(map(str, test))).split()[0] == "NONE":
            problems.append(f"{name}: healthcheck is NONE (`docker compose up --wait` needs a real one)")
        for port in published_ports(service):
            if not isinstance(port["raw"], (dict, str)):
                problems.append(f"{name}: port {port['raw']!r} must be a quoted string (YAML reads a:b as a number)")
            if port["host_ip"] != LOOPBACK:
                problems.append(f"{name}: port {port['raw']!r} is not published on {LOOPBACK} only")
            if port["published"] is None:
                problems.append(f"{name}: port {port['raw']!r} has no fixed host port")
        restart = str(service.get("restart", "no"))
        if restart not in ("no", "False", "false"):
            problems.append(f"{name}: restart: {restart} would revive nodes the failure experiments kill")
        for key, value in service_env(service).items():
            if not isinstance(value, str):
                problems.append(f"{name}: environment {key} must be a quoted string, not {type(value).__name__}")
        for volume in service_volumes(service):
            if not volume["bind"] and volume["source"] and volume["source"] not in declared_volumes:
                problems.append(f"{name}: volume {volume['source']} is not declared under top-level volumes")
    return problems


def _host_ports(service: dict[str, Any]) -> dict[int | None, dict[str, Any]]:
    return {p["target"]: p for p in published_ports(service)}


# ---- Kafka ---------------------------------------------------------------------------

def kafka_problems(doc: dict[str, Any], config: StackConfig, services: list[str],
                   local_properties: dict[str, str] | None = None) -> list[str]:
    """compose/kafka.yml: quorum, listeners and ports agree with each other and with the local stack."""
    problems = common_problems(doc, services)
    defined = doc.get("services") or {}
    nodes = [(i, name, defined[name] or {}) for i, name in enumerate(services, start=1) if name in defined]
    envs = {name: service_env(service) for _, name, service in nodes}

    cluster_ids = {str(env.get("CLUSTER_ID", "")) for env in envs.values()}
    if len(cluster_ids) != 1:
        problems.append(f"nodes disagree on CLUSTER_ID: {sorted(cluster_ids)} (one cluster needs one id)")
    for cluster_id in cluster_ids:
        problem = cluster_id_problem(cluster_id)
        if problem:
            problems.append(problem)

    voter_strings = {str(env.get("KAFKA_CONTROLLER_QUORUM_VOTERS", "")) for env in envs.values()}
    if len(voter_strings) != 1:
        problems.append(f"nodes disagree on KAFKA_CONTROLLER_QUORUM_VOTERS: {sorted(voter_strings)}")
    voters = parse_voters(next(iter(voter_strings))) if voter_strings else {}
    if len(voters) != len(services):
        problems.append(f"the quorum has {len(voters)} voter(s), the file {len(services)} node(s)")

    for index, name, service in nodes:
        env = envs[name]
        props = kafka_properties(env)
        where = f"{name}:"
        if service.get("image") != KAFKA_IMAGE:
            problems.append(f"{where} image is {service.get('image')!r}, expected {KAFKA_IMAGE}")
        if props.get("process.roles") != KAFKA_ROLES:
            problems.append(f"{where} process.roles is {props.get('process.roles')!r}, expected {KAFKA_ROLES}")
        node_id = _int(props.get("node.id"))
        if node_id != index:
            problems.append(f"{where} KAFKA_NODE_ID is {props.get('node.id')!r}, expected {index} (its service number)")
        hostname = service.get("hostname", name)
        if hostname != name:
            problems.append(f"{where} hostname {hostname!r} differs from the service name")

        listeners = parse_listeners(props.get("listeners", ""))
        advertised = parse_listeners(props.get("advertised.listeners", ""))
        protocols = dict(item.strip().upper().partition(":")[::2]
                         for item in props.get("listener.security.protocol.map", "").split(",") if item.strip())
        controller_names = [
            n.strip().upper() for n in props.get("controller.listener.names", "").split(",") if n.strip()
        ]
        inter_broker = props.get("inter.broker.listener.name", "").upper()
        for listener in listeners:
            if listener not in protocols:
                problems.append(f"{where} listener {listener} has no entry in the security protocol map")
        for listener in advertised:
            if listener not in listeners:
                problems.append(f"{where} advertised listener {listener} is not in KAFKA_LISTENERS")
            if advertised[listener][0] in ("", "0.0.0.0"):
                problems.append(f"{where} advertised listener {listener} has no routable host")
        if len(controller_names) != 1 or controller_names[0] not in listeners:
            problems.append(f"{where} controller listener {controller_names} is not among KAFKA_LISTENERS")
        else:
            controller = controller_names[0]
            if controller in advertised:
                problems.append(f"{where} the controller listener should not be advertised to clients")
            host, port = listeners[controller]
            if host in ("", "0.0.0.0"):
                problems.append(f"{where} controller listener binds {host or '(all)'}: Kafka refuses to "
                                "advertise that for the quorum; bind the container hostname")
            voter = voters.get(node_id if node_id is not None else -999)
            if voter is None:
                problems.append(f"{where} node id {node_id} has no entry in the quorum voters")
            elif voter != (name, port):
                problems.append(f"{where} its voter entry {voter} does not match its controller listener "
                                f"({name}, {port})")
            if port in _host_ports(service):
                problems.append(f"{where} the controller port {port} should not be published on the host")
        if inter_broker not in advertised:
            problems.append(f"{where} inter-broker listener {inter_broker!r} is not advertised")
        elif advertised[inter_broker][0] != name:
            problems.append(f"{where} inter-broker listener advertises {advertised[inter_broker][0]!r}; "
                            f"other containers reach this node as {name!r}")

        expected_port = config.kafka_port + index - 1
        ports = published_ports(service)
        if [p["published"] for p in ports] != [expected_port]:
            problems.append(f"{where} publishes {[p['raw'] for p in ports]}, expected one port "
                            f"{LOOPBACK}:{expected_port} (StackConfig.kafka_port + {index - 1})")
        for port in ports:
            host_listener = [n for n, (_, p) in listeners.items() if p == port["target"]]
            if not host_listener:
                problems.append(f"{where} published container port {port['target']} has no listener")
                continue
            name_ = host_listener[0]
            if advertised.get(name_) != (LOOPBACK, port["published"]):
                problems.append(f"{where} listener {name_} is published on the host as {port['published']} but "
                                f"advertises {advertised.get(name_)}; host clients need "
                                f"{LOOPBACK}:{port['published']}")

        heap = config.kafka_heap
        if env.get("KAFKA_HEAP_OPTS") != f"-Xmx{heap} -Xms{heap}":
            problems.append(f"{where} KAFKA_HEAP_OPTS is {env.get('KAFKA_HEAP_OPTS')!r}, expected "
                            f"'-Xmx{heap} -Xms{heap}' (the local stack's heap)")

        log_dirs = props.get("log.dirs", "")
        data = [v for v in service_volumes(service) if v["target"] == log_dirs and not v["bind"] and v["source"]]
        if not data:
            problems.append(f"{where} log.dirs {log_dirs!r} is not on a named volume")

        if local_properties is not None:
            for key, value in local_properties.items():
                if key in KAFKA_WIRING_PROPERTIES:
                    continue
                if props.get(key) != value:
                    problems.append(f"{where} {key} is {props.get(key)!r}, the local stack uses {value!r}")

        test = (service.get("healthcheck") or {}).get("test") or ""
        test_text = test if isinstance(test, str) else " ".join(map(str, test))
        match = re.search(r"--bootstrap-server\s+(localhost|127\.0\.0\.1):(\d+)", test_text)
        if match is None:
            problems.append(f"{where} healthcheck does not ask the broker itself (--bootstrap-server localhost:PORT)")
        else:
            port = int(match.group(2))
            if not any(p == port and h in ("", "0.0.0.0", "localhost", LOOPBACK) for h, p in listeners.values()):
                problems.append(f"{where} healthcheck port {port} is not a listener bound on localhost")

    data_volumes = [v["source"] for _, _, s in nodes for v in service_volumes(s) if not v["bind"]]
    if len(data_volumes) != len(set(data_volumes)):
        problems.append(f"nodes share a data volume: {data_volumes}")
    return problems


def local_kafka_properties(config: StackConfig) -> dict[str, str]:
    """The properties the local stack writes for a node of a 3-node cluster."""
    from dataclasses import replace

    from .kafka_local import LocalKafka

    local = LocalKafka(replace(config, brokers=3))
    text = local._properties(local.nodes[0])
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


# ---- RabbitMQ ----------------------------------------------------------------------

def rabbitmq_problems(doc: dict[str, Any], config: StackConfig, services: list[str],
                      compose_dir: Path, conf_texts: dict[str, str] | None = None) -> list[str]:
    """compose/rabbitmq.yml: ports, profiles, node names, cookie and cluster config agree.

    `conf_texts` maps a mounted config file's source path (as written in the
    compose file) to its text; by default the files are read from compose_dir.
    """
    problems = common_problems(doc, services)
    defined = doc.get("services") or {}
    nodes = [(i, name, defined[name] or {}) for i, name in enumerate(services, start=1) if name in defined]
    envs = {name: service_env(service) for _, name, service in nodes}

    cookies = {str(env.get("RABBITMQ_ERLANG_COOKIE", "")) for env in envs.values()}
    if len(cookies) != 1 or "" in cookies:
        problems.append(f"nodes need one shared, non-empty RABBITMQ_ERLANG_COOKIE, found {sorted(cookies)}")

    node_names: dict[str, str] = {}
    conf_sources: set[str] = set()
    for index, name, service in nodes:
        where = f"{name}:"
        env = envs[name]
        image = str(service.get("image", ""))
        if not re.fullmatch(r"rabbitmq:[\w.-]*management[\w.-]*", image):
            problems.append(f"{where} image {image!r} is not an official rabbitmq *-management tag")
        hostname = service.get("hostname")
        if hostname != name:
            problems.append(f"{where} hostname is {hostname!r}; the node name rabbit@<hostname> needs it "
                            f"pinned to {name!r}")
        node_name = str(env.get("RABBITMQ_NODENAME", f"rabbit@{hostname}"))
        if node_name != f"rabbit@{hostname}":
            problems.append(f"{where} RABBITMQ_NODENAME {node_name!r} does not match its hostname {hostname!r}")
        node_names[name] = node_name

        profiles = list(service.get("profiles") or [])
        expected_profiles = [] if index == 1 else [RABBIT_CLUSTER_PROFILE]
        if profiles != expected_profiles:
            problems.append(f"{where} profiles {profiles}, expected {expected_profiles}")

        ports = _host_ports(service)
        expected = {"AMQP": (config.amqp_port + index - 1, "listeners.tcp.default", 5672),
                    "management": (config.rabbit_mgmt_port + index - 1, "management.tcp.port", 15672)}
        published = sorted(p["published"] or 0 for p in ports.values())
        if published != sorted(v[0] for v in expected.values()):
            problems.append(f"{where} publishes host ports {published}, expected "
                            f"{sorted(v[0] for v in expected.values())} (StackConfig amqp_port / "
                            f"rabbit_mgmt_port + {index - 1})")

        confs = [v for v in service_volumes(service) if v["bind"] and v["target"].startswith(RABBIT_CONF_DIR)]
        if len(confs) != 1:
            problems.append(f"{where} needs exactly one config file mounted into {RABBIT_CONF_DIR}")
            conf: dict[str, str] = {}
        else:
            mount = confs[0]
            conf_sources.add(mount["source"])
            if not mount["read_only"]:
                problems.append(f"{where} config mount {mount['source']} should be read-only")
            if not mount["target"].endswith(".conf"):
                problems.append(f"{where} RabbitMQ reads only *.conf from {RABBIT_CONF_DIR}")
            if conf_texts is not None and mount["source"] in conf_texts:
                text = conf_texts[mount["source"]]
            else:
                path = (compose_dir / mount["source"]).resolve()
                if not path.is_file():
                    problems.append(f"{where} config file {path} does not exist")
                    text = ""
                else:
                    text = path.read_text()
            conf = parse_rabbit_conf(text)
        for label, (host_port, key, default) in expected.items():
            container_port = _int(conf.get(key, default))
            port = ports.get(container_port)
            if port is None or port["published"] != host_port:
                problems.append(f"{where} {label} listener (container port {container_port}) must be published "
                                f"as {LOOPBACK}:{host_port}")
        if conf.get("loopback_users") != "none" and conf.get("loopback_users.guest") != "false":
            problems.append(f"{where} guest may only log in over loopback; host connections arrive through "
                            "port publishing: set loopback_users = none")
        if conf.get("cluster_formation.peer_discovery_backend") not in (
                "classic_config", "rabbit_peer_discovery_classic_config"):
            problems.append(f"{where} cluster formation is not classic config peer discovery")
        listed = {v for k, v in conf.items() if k.startswith("cluster_formation.classic_config.nodes.")}
        expected_names = {f"rabbit@{n}" for n in services}
        if listed != expected_names:
            problems.append(f"{where} classic config lists {sorted(listed)}, expected {sorted(expected_names)}")
        data = [v for v in service_volumes(service) if v["target"] == RABBIT_DATA_DIR and not v["bind"]]
        if not data:
            problems.append(f"{where} {RABBIT_DATA_DIR} is not on a named volume")
        test = (service.get("healthcheck") or {}).get("test") or ""
        if "rabbitmq-diagnostics" not in (test if isinstance(test, str) else " ".join(map(str, test))):
            problems.append(f"{where} healthcheck does not use rabbitmq-diagnostics")

    if len(conf_sources) > 1:
        problems.append(f"nodes mount different config files {sorted(conf_sources)}; the cluster needs one")
    data_volumes = [v["source"] for _, _, s in nodes for v in service_volumes(s) if not v["bind"]]
    if len(data_volumes) != len(set(data_volumes)):
        problems.append(f"nodes share a data volume: {data_volumes}")
    return problems


# ---- entry points ----------------------------------------------------------------------

def check_all(config: StackConfig | None = None, schema: bool = True) -> dict[str, list[str]]:
    """Problems per compose file, for the files and service names docker.py uses."""
    from dataclasses import replace

    from .docker import docker_kafka, docker_rabbitmq

    config = config or StackConfig()
    kafka = docker_kafka(replace(config, brokers=3))
    rabbit = docker_rabbitmq(replace(config, rabbit_nodes=3))
    results: dict[str, list[str]] = {}
    for broker in (kafka, rabbit):
        doc = load_compose(broker.compose_file)
        names = [f"{broker.prefix}-{i}" for i in range(1, broker.nodes + 1)]
        problems = schema_problems(doc) if schema else []
        if broker is kafka:
            problems += kafka_problems(doc, config, names, local_kafka_properties(config))
        else:
            problems += rabbitmq_problems(doc, config, names, broker.compose_file.parent)
        results[str(broker.compose_file)] = problems
    return results


def main() -> int:
    failed = False
    for path, problems in check_all().items():
        print(f"{path}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
        for problem in problems:
            print(f"  - {problem}")
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
