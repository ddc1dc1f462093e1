"""Bonus 3: the system on Kubernetes — the app's manifests built from the wiring, checked offline, read back.

`deploy/k8s/` holds the whole system: the operators' resources (Strimzi
`Kafka`/`KafkaNodePool`/`KafkaTopic` in KRaft mode, the RabbitMQ operator's
`RabbitmqCluster`), the application's workloads for both back ends, and KEDA
`ScaledObject`s that scale the processor on consumer lag (Kafka) and queue depth
(RabbitMQ). The application's manifests are *generated* from
`pipeline.wiring.SERVICES` (`app_documents`) and committed; a test checks that
the committed files equal what the code generates, so the cluster runs exactly
the services, groups and queues the code has.

Validation is offline: core kinds against the Kubernetes OpenAPI schemas that
`kubernetes-validate` ships, custom kinds against the CRD schemas vendored in
`deploy/k8s/crds/`, strictly (a field the schema does not know is an error, as
`kubectl apply --validate=strict` would say).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ...paths import HOME
from ...pipeline.declare import rabbit_group_queues
from ...pipeline.topics import TELEMETRY
from ...pipeline.wiring import SERVICES, ServiceIO

K8S_DIR = HOME / "deploy" / "k8s"
NAMESPACE = "streamlab"
IMAGE = "streamlab-app:latest"
KAFKA_BOOTSTRAP = "streamlab-kafka-bootstrap.streamlab.svc:9092"
RABBIT_HOST = "rabbitmq.streamlab.svc"
#: KEDA's target per processor replica: lag (Kafka) or ready messages (RabbitMQ) one replica should own
TARGET_BACKLOG = 600
#: KEDA's ceiling for the processor: its inputs' partitions. A replica beyond them gets no partition on Kafka
#: (and no shard on RabbitMQ, where the group reads one single-active-consumer queue per partition), so it
#: would idle; chapter 03 measures where the processor stops scaling.
MAX_PROCESSORS = TELEMETRY.partitions
#: files the app's variants are written to
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # the vendored CRDs are large: libyaml when present
APP_FILES = {"kafka": "30-app-kafka.yaml", "rabbitmq": "31-app-rabbitmq.yaml"}


# --------------------------------------------------------------------------- the app's manifests


def _name(svc: ServiceIO, broker: str) -> str:
    base = svc.name.replace("_", "-")
    return base if broker == "kafka" else f"{base}-rabbitmq"


def _env(broker: str) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "STREAMLAB_INSTANCE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "STREAMLAB_BROKER", "value": broker},
        {"name": "STREAMLAB_CODEC", "value": "orjson"},
        {"name": "STREAMLAB_DATA_DIR", "value": "/data"},
        {"name": "STACK", "value": "external"},
    ]
    if broker == "kafka":
        return env + [{"name": "STREAMLAB_CLIENT", "value": "confluent"},
                      {"name": "KAFKA_BOOTSTRAP", "value": KAFKA_BOOTSTRAP}]
    secret = "rabbitmq-default-user"            # created by the RabbitMQ operator for the cluster `rabbitmq`
    return env + [
        {"name": "STREAMLAB_CLIENT", "value": "pika"},
        {"name": "RABBIT_USER", "valueFrom": {"secretKeyRef": {"name": secret, "key": "username"}}},
        {"name": "RABBIT_PASS", "valueFrom": {"secretKeyRef": {"name": secret, "key": "password"}}},
        {"name": "AMQP_URL", "value": f"amqp://$(RABBIT_USER):$(RABBIT_PASS)@{RABBIT_HOST}:5672/%2F"},
    ]


def _container(svc: ServiceIO, broker: str) -> dict[str, Any]:
    heavy = svc.role == "processor"
    # Liveness: every service appends a metrics line every STREAMLAB_METRICS_INTERVAL (2 s), also when idle;
    # a file older than 30 s means the loop is stuck, and the kubelet restarts the container.
    heartbeat = ["sh", "-c", 'test $(( $(date +%s) - $(stat -c %Y "/data/metrics/$STREAMLAB_INSTANCE.jsonl") )) -lt 30']
    args = [svc.module]
    if svc.name == "telemetry_generator":
        args += ["--machines", "20", "--rate", "10"]
    elif svc.name == "vibration_generator":
        args += ["--machines", "20", "--rate", "1"]
    return {
        "name": svc.name.replace("_", "-"),
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "env": _env(broker),
        "resources": {"requests": {"cpu": "500m" if heavy else "100m", "memory": "256Mi" if heavy else "128Mi"},
                      "limits": {"cpu": "1" if heavy else "500m", "memory": "512Mi" if heavy else "256Mi"}},
        "startupProbe": {"exec": {"command": ["sh", "-c", 'test -s "/data/metrics/$STREAMLAB_INSTANCE.jsonl"']},
                         "periodSeconds": 2, "failureThreshold": 30},
        "livenessProbe": {"exec": {"command": heartbeat}, "periodSeconds": 10, "failureThreshold": 3},
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }


def _workload(svc: ServiceIO, broker: str) -> dict[str, Any]:
    """Generators and the processor: Deployments (stateless; the processor scales). Sinks: StatefulSets,
    each replica with its own volume for its files (in a cloud: object storage instead, see the chapter)."""
    name = _name(svc, broker)
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "streamlab",
              "app.kubernetes.io/component": svc.role, "streamlab/broker": broker}
    pod = {"metadata": {"labels": labels},
           "spec": {"terminationGracePeriodSeconds": 30, "containers": [_container(svc, broker)]}}
    spec: dict[str, Any] = {"replicas": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                            "template": pod}
    if svc.role == "sink":
        spec["serviceName"] = name
        spec["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}}]
        kind = "StatefulSet"
    else:
        pod["spec"]["volumes"] = [{"name": "data", "emptyDir": {}}]
        spec["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
        kind = "Deployment"
    return {"apiVersion": "apps/v1", "kind": kind,
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels}, "spec": spec}


def _headless_service(svc: ServiceIO, broker: str) -> dict[str, Any]:
    name = _name(svc, broker)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"clusterIP": "None", "selector": {"app.kubernetes.io/name": name}}}


def _pdb(svc: ServiceIO, broker: str) -> dict[str, Any]:
    """The processor keeps at least one replica through a node drain; a single-replica sink may be moved
    (maxUnavailable 1: `minAvailable: 1` on one replica would block every drain for ever)."""
    name = _name(svc, broker)
    budget = {"minAvailable": 1} if svc.role == "processor" else {"maxUnavailable": 1}
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {**budget, "selector": {"matchLabels": {"app.kubernetes.io/name": name}}}}


def _scaled_object(svc: ServiceIO, broker: str) -> dict[str, Any]:
    """KEDA scales the processor between 1 and MAX_PROCESSORS replicas: ceil(backlog / TARGET_BACKLOG)."""
    name = _name(svc, broker)
    if broker == "kafka":
        trigger = {"type": "kafka", "metadata": {
            "bootstrapServers": KAFKA_BOOTSTRAP, "consumerGroup": svc.group,
            "lagThreshold": str(TARGET_BACKLOG), "offsetResetPolicy": "earliest"}}
        triggers = [trigger]        # no topic: the group's lag summed over every topic it reads
    else:
        triggers = [{"type": "rabbitmq", "metadata": {
            "host": f"amqp://{RABBIT_HOST}:5672/%2F", "protocol": "amqp", "mode": "QueueLength",
            "value": str(TARGET_BACKLOG), "queueName": queue,
            "usernameFromEnv": "RABBIT_USER", "passwordFromEnv": "RABBIT_PASS"}}
            for queue in rabbit_group_queues(svc.group)]
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"scaleTargetRef": {"name": name}, "minReplicaCount": 1, "maxReplicaCount": MAX_PROCESSORS,
                     "pollingInterval": 15, "cooldownPeriod": 300, "triggers": triggers}}


def _declare_job() -> dict[str, Any]:
    """RabbitMQ has no KafkaTopic counterpart here: a Job declares the app's exchanges, queues and bindings."""
    container = {"name": "declare", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                 "args": ["streamlab.pipeline.declare", "--broker", "rabbitmq"], "env": _env("rabbitmq")[1:]}
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "declare-rabbitmq", "namespace": NAMESPACE},
            "spec": {"backoffLimit": 10, "template": {"spec": {"restartPolicy": "OnFailure",
                                                               "containers": [container]}}}}


def app_documents(broker: str) -> list[dict[str, Any]]:
    """Every manifest of the application on one back end, in apply order."""
    docs: list[dict[str, Any]] = [_declare_job()] if broker == "rabbitmq" else []
    for svc in SERVICES:
        if svc.role == "sink":
            docs.append(_headless_service(svc, broker))
        docs.append(_workload(svc, broker))
        if svc.role != "generator":
            docs.append(_pdb(svc, broker))
        if svc.role == "processor":
            docs.append(_scaled_object(svc, broker))
    return docs


def render_app(broker: str) -> str:
    header = (
        f"# GENERATED by `python -m streamlab.experiments.patterns.k8s` from pipeline/wiring.py: do not edit.\n"
        f"# The application on {'Kafka' if broker == 'kafka' else 'RabbitMQ'}: generators and processor as "
        "Deployments, sinks as StatefulSets,\n# PodDisruptionBudgets, and a KEDA ScaledObject for the processor.\n"
    )
    return header + yaml.safe_dump_all(app_documents(broker), sort_keys=False, width=120)


# --------------------------------------------------------------------------- loading and validation


@dataclass(frozen=True)
class Problem:
    file: str
    kind: str
    name: str
    error: str


def load(folder: Path = K8S_DIR) -> list[tuple[str, dict[str, Any]]]:
    """(file name, document) of every manifest under `folder` (not the vendored CRDs)."""
    docs = []
    for path in sorted(folder.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path.name, doc))
    return docs


@functools.lru_cache(maxsize=4)
def crd_schemas(folder: Path = K8S_DIR / "crds") -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) → openAPIV3Schema, from every vendored CustomResourceDefinition."""
    schemas = {}
    for path in sorted(folder.glob("*.yaml")):
        for crd in yaml.load_all(path.read_text(), Loader=_LOADER):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                schemas[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = \
                    version["schema"]["openAPIV3Schema"]
    return schemas


def _unknown_fields(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields the schema does not declare (structural schemas prune them silently: a typo would vanish)."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    found = []
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            if key not in schema["properties"]:
                found.append(f"{path}.{key}: unknown field")
            else:
                found += _unknown_fields(item, schema["properties"][key], f"{path}.{key}")
    elif isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        for key, item in value.items():
            found += _unknown_fields(item, schema["additionalProperties"], f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            found += _unknown_fields(item, schema["items"], f"{path}[{i}]")
    return found


def validate(docs: list[tuple[str, dict[str, Any]]], k8s_version: str = "1.31.0",
             crds: dict[tuple[str, str], dict[str, Any]] | None = None) -> list[Problem]:
    """Every problem of every document; an empty list means all of them validate."""
    import jsonschema
    import kubernetes_validate

    crds = crd_schemas() if crds is None else crds
    problems = []
    for file, doc in docs:
        kind, name = str(doc.get("kind")), str(doc.get("metadata", {}).get("name"))
        key = (str(doc.get("apiVersion")), kind)
        errors: list[str] = []
        if key in crds:
            validator = jsonschema.Draft7Validator(crds[key])
            errors = [f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                      for e in validator.iter_errors(doc)]
            errors += _unknown_fields(doc, crds[key])
        else:
            try:
                kubernetes_validate.validate(doc, k8s_version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                errors = [f"{'.'.join(map(str, exc.path)) or '(root)'}: {exc.message}"]
            except kubernetes_validate.SchemaNotFoundError:
                errors = [f"no schema for {key[0]} {kind} (neither a core kind nor a vendored CRD)"]
        problems += [Problem(file, kind, name, e) for e in errors]
    return problems


# --------------------------------------------------------------------------- what runs where, and scaling


def inventory(docs: list[tuple[str, dict[str, Any]]]) -> pd.DataFrame:
    """One row per resource: kind, name, the workload's replicas and requests, what it scales or protects."""
    rows = []
    for file, doc in docs:
        spec = doc.get("spec", {})
        row = {"file": file, "kind": doc["kind"], "name": doc["metadata"]["name"], "replicas": spec.get("replicas"),
               "cpu request": None, "memory request": None, "broker": None, "targets": None}
        containers = spec.get("template", {}).get("spec", {}).get("containers", [])
        if containers:
            requests = containers[0].get("resources", {}).get("requests", {})
            row["cpu request"], row["memory request"] = requests.get("cpu"), requests.get("memory")
            row["broker"] = next((e["value"] for e in containers[0]["env"] if e["name"] == "STREAMLAB_BROKER"), None)
        if doc["kind"] in ("KafkaNodePool", "RabbitmqCluster"):
            requests = spec.get("resources", {}).get("requests", {})
            row["cpu request"], row["memory request"] = requests.get("cpu"), requests.get("memory")
        if doc["kind"] == "ScaledObject":
            row["targets"] = spec["scaleTargetRef"]["name"]
            row["replicas"] = f"{spec['minReplicaCount']}–{spec['maxReplicaCount']}"
        if doc["kind"] == "PodDisruptionBudget":
            row["targets"] = spec["selector"]["matchLabels"]["app.kubernetes.io/name"]
        if doc["kind"] == "KafkaTopic":
            row["replicas"] = spec.get("replicas")
        rows.append(row)
    return pd.DataFrame(rows)


def keda_replicas(backlog: float, target: float = TARGET_BACKLOG, max_replicas: int = MAX_PROCESSORS,
                  partitions: int | None = None) -> int:
    """The replica count KEDA's HPA asks for: ceil(backlog / target) between 1 and max; KEDA's Kafka scaler
    also stops at the partition count (an extra member would idle), unless allowIdleConsumers is set."""
    wanted = max(1, math.ceil(backlog / target))
    cap = max_replicas if partitions is None else min(max_replicas, partitions)
    return min(wanted, cap)


def lag_to_replicas(scale: pd.DataFrame, partitions: int, backlogs: tuple[int, ...] = (300, 1200, 3000, 12000),
                    target: int = TARGET_BACKLOG) -> pd.DataFrame:
    """Backlog → replicas KEDA would run → drain time at the throughput *this chapter measured* for that many
    consumers (the nearest measured count at or below it; 'extrapolated' where the count was not run)."""
    rows = []
    for backend, group in scale.groupby("backend", sort=False):
        rates = group.set_index("consumers")["msgs_per_s"].dropna()
        for backlog in backlogs:
            n = keda_replicas(backlog, target, partitions=partitions if backend == "Kafka" else None)
            measured = [c for c in rates.index if c <= n]
            basis = max(measured) if measured else min(rates.index)
            rate = float(rates[basis]) * (n / basis if basis != n else 1.0)
            rows.append({"backend": backend, "backlog (messages)": backlog, "replicas (KEDA)": n,
                         "rate basis": "measured" if basis == n else f"extrapolated from {basis}",
                         "drain time (s)": backlog / rate if rate > 0 else float("nan")})
    return pd.DataFrame(rows)


def main() -> None:
    """Write the app's manifests (run after changing pipeline/wiring.py; the test checks they are current)."""
    for broker, file in APP_FILES.items():
        (K8S_DIR / file).write_text(render_app(broker))
        print(f"wrote {K8S_DIR / file}")


if __name__ == "__main__":
    main()
