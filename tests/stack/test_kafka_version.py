"""One Kafka release everywhere: the jars `make setup` fetches, the Kafka Streams build, the compose file's
image and the podman image all name `stack.config.KAFKA_VERSION`.

Why: the upgrade from 4.1.1 to 4.4.0 touched six files; a release named in one of them and not the others
would run the book on one Kafka and build the Streams topology or the image on another, silently.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from streamlab.paths import HOME
from streamlab.stack import compose_check, podman, podman_images
from streamlab.stack.config import KAFKA_VERSION

POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def pom_kafka_version(path: Path) -> str:
    node = ET.parse(path).getroot().find("m:properties/m:kafka.version", POM_NS)
    assert node is not None and node.text, f"{path} has no <kafka.version> property"
    return node.text.strip()


@pytest.mark.parametrize("pom", ["setup/pom.xml", "java/streams-aggregate/pom.xml"])
def test_poms_fetch_the_stacks_kafka(pom: str) -> None:
    assert pom_kafka_version(HOME / pom) == KAFKA_VERSION


def test_compose_file_and_images_name_the_same_release() -> None:
    services = yaml.safe_load((HOME / "compose" / "kafka.yml").read_text())["services"]
    images = {service["image"] for name, service in services.items() if name.startswith("kafka-")}
    assert images == {compose_check.KAFKA_IMAGE} == {f"apache/kafka:{KAFKA_VERSION}"}
    assert podman_images.KAFKA_IMAGE.endswith(f":{KAFKA_VERSION}")
    assert podman.IMAGE_MAP[compose_check.KAFKA_IMAGE] == podman_images.KAFKA_IMAGE


def test_the_strimzi_manifest_runs_the_same_release() -> None:
    """Bonus 3's Kubernetes manifest (chapter 03) asks the Strimzi operator for the release the stacks run."""
    docs = list(yaml.safe_load_all((HOME / "deploy" / "k8s" / "10-kafka.yaml").read_text()))
    kafka = next(doc for doc in docs if doc and doc.get("kind") == "Kafka")["spec"]["kafka"]
    assert kafka["version"] == KAFKA_VERSION
    assert kafka["metadataVersion"].startswith(".".join(KAFKA_VERSION.split(".")[:2]) + "-IV")


def test_the_pom_reader_sees_another_release(tmp_path: Path) -> None:
    text = (HOME / "setup" / "pom.xml").read_text().replace(KAFKA_VERSION, "3.9.1")
    (tmp_path / "pom.xml").write_text(text)
    assert pom_kafka_version(tmp_path / "pom.xml") == "3.9.1"


@pytest.mark.kafka
def test_data_from_an_older_release_gets_this_releases_features_once(kafka_stack):
    """A stack whose meta file names no feature release (data formatted before 4.4) has its features raised
    by `kafka-features upgrade` when it is next waited for, and the meta file says so afterwards."""
    import json

    from streamlab.stack.config import kafka_meta_file
    from streamlab.stack.kafka_local import FEATURE_RELEASE

    meta_file = kafka_meta_file(kafka_stack.config.stack_dir)
    meta = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps({k: v for k, v in meta.items() if k != "features"}))
    kafka_stack.part("kafka").wait_ready()
    assert json.loads(meta_file.read_text())["features"] == FEATURE_RELEASE == ".".join(KAFKA_VERSION.split(".")[:2])
