"""The MQTT ingest's deployment files hold together: the Kubernetes overlay `home-assistant` (rendered
with the real `kubectl kustomize`) and the Compose override run the ingest with a durable buffer, the
broker password from a file, and a mapping that loads; the generic checks of every kustomization
(schemas, secrets, network policies) are in test_deploy.py."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from hometwin.adapters.mqtt_mapping import load_mapping
from tests.contract.test_deploy import DEPLOY, K8S, SECRET_DIR, documented_variables, kubectl, objects


@pytest.fixture(scope="module")
def overlay(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    binary = kubectl()
    copy = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, copy, ignore=shutil.ignore_patterns("secrets.env"))
    for example in copy.rglob("secrets.env.example"):
        shutil.copy(example, example.with_name("secrets.env"))
    result = subprocess.run([binary, "kustomize", str(copy / "overlays" / "home-assistant")], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def test_the_overlay_runs_one_ingest_with_a_durable_buffer_and_its_mapping(overlay: list[dict[str, Any]],
                                                                          tmp_path: Path) -> None:
    ingest = objects(overlay, "Deployment")["ingest"]
    assert ingest["spec"]["replicas"] == 1 and ingest["spec"]["strategy"]["type"] == "Recreate"
    pod = ingest["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"][:2] == ["component", "ingest"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    (config,) = (c for name, c in objects(overlay, "ConfigMap").items() if name.startswith("hometwin-config"))
    settings = {**config["data"], **{k: v for k, v in env.items() if v is not None}}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    buffer_dir = str(Path(settings["HOMETWIN_INGEST_BUFFER"]).parent)
    (buffer_volume,) = (name for name, path in mounts.items() if path == buffer_dir)
    claim = volumes[buffer_volume]["persistentVolumeClaim"]["claimName"]
    assert claim in objects(overlay, "PersistentVolumeClaim"), "the buffer must outlive the pod"
    mapping_path = Path(settings["HOMETWIN_INGEST_MAPPING"])
    (mapping_volume,) = (name for name, path in mounts.items() if path == str(mapping_path.parent))
    mapping_map = objects(overlay, "ConfigMap")[volumes[mapping_volume]["configMap"]["name"]]
    (tmp_path / mapping_path.name).write_text(mapping_map["data"][mapping_path.name])
    assert len(load_mapping(tmp_path / mapping_path.name)) >= 1
    assert env["HOMETWIN_MQTT_PASSWORD_FILE"] == f"{SECRET_DIR}mqtt-password"
    assert settings["HOMETWIN_MQTT_URL"].startswith(("mqtt://", "mqtts://"))
    assert settings["INFLUXDB_WRITE_BUCKET"] == "hometwin"  # the bucket InfluxDB creates at its first start
    influx = objects(overlay, "Deployment")["influxdb"]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "DOCKER_INFLUXDB_INIT_BUCKET", "value": "hometwin"} in influx["env"]


def test_the_compose_override_adds_a_broker_and_the_ingest() -> None:
    base = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    override = yaml.safe_load((DEPLOY / "compose.home-assistant.yaml").read_text(encoding="utf-8"))
    services = override["services"]
    assert services["mosquitto"]["image"].startswith("eclipse-mosquitto:2.")
    ingest = services["ingest"]
    assert ingest["command"][:2] == ["component", "ingest"]
    environment = ingest["environment"]
    assert set(environment) <= documented_variables(), set(environment) - documented_variables()
    assert environment["HOMETWIN_MQTT_URL"] == "mqtt://mosquitto:1883"
    volumes = dict(str(v).split(":")[:2][::-1] for v in ingest["volumes"])
    assert volumes[str(Path(environment["HOMETWIN_INGEST_BUFFER"]).parent)] in override["volumes"]
    assert len(load_mapping(DEPLOY / volumes[environment["HOMETWIN_INGEST_MAPPING"]])) >= 1
    init_bucket = base["services"]["influxdb"]["environment"]["DOCKER_INFLUXDB_INIT_BUCKET"]
    assert environment["INFLUXDB_WRITE_BUCKET"] == init_bucket
    for reader in ("monitoring", "modeling", "dashboard"):  # they read what the ingest writes: values too
        assert reader in base["services"]
        assert services[reader]["environment"]["INFLUXDB_VALUE_FIELD"] == environment["INFLUXDB_VALUE_FIELD"]
    conf = (DEPLOY / "mqtt" / "mosquitto.conf").read_text(encoding="utf-8")
    assert "persistence true" in conf and "listener 1883" in conf
