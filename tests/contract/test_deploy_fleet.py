"""The fleet overlay (deploy/k8s/overlays/fleet, docs/deploy.md "Running a fleet") holds together:
the monitoring is a StatefulSet whose replicas share the homes (`auto/n` with n its replica count),
each replica registers at its own pod's DNS name under the headless Service, the homes file is
where every part that serves homes looks for it, the dashboard's accounts come from the Secret, no
secret value leaks into the rendered manifests, and the disruption budgets select real pods.

Rendered with the real `kubectl kustomize`; the generic checks of every kustomization (schemas,
secrets as files, network policies) are in test_deploy.py. The pod-side values Kubernetes fills in
(the downward API, `$(NAME)` expansion) are applied here as the Kubernetes API documents them and
then handed to HomeTwin's own settings code.
"""

from __future__ import annotations

import base64
import re
import secrets as random_keys
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from hometwin.components.dashboard.accounts import AccountsFileError, hash_password, load_accounts, token_digest
from hometwin.config import MonitoringSettings
from hometwin.sdk.address import callback_base
from hometwin.sdk.settings import SdkSettings
from hometwin.services.homes import load_homes, replica_of
from tests.contract.test_deploy import K8S, SECRET_DIR, _selects, kubectl, objects, workloads

HOMES_PARTS = ("monitoring", "modeling", "actuation", "dashboard")
Docs = list[dict[str, Any]]


def render(tmp_path: Path, *, edit: Callable[[Path], None] | None = None) -> Docs:
    """The fleet overlay rendered from a copy of deploy/k8s whose git-ignored files are their
    committed `*.example`s; `edit` may change the copy's overlay first (as a user would)."""
    binary = kubectl()
    examples = {p.name.removesuffix(".example") for p in K8S.rglob("*.example")}
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy, ignore=shutil.ignore_patterns(*examples))
    for example in copy.rglob("*.example"):
        shutil.copy(example, example.with_name(example.name.removesuffix(".example")))
    if edit is not None:
        edit(copy / "overlays" / "fleet")
    result = subprocess.run([binary, "kustomize", str(copy / "overlays" / "fleet")], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, f"kubectl kustomize overlays/fleet failed:\n{result.stderr}"
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Docs:
    return render(tmp_path_factory.mktemp("fleet"))


def named(docs: Docs, kind: str, prefix: str) -> dict[str, Any]:
    """The one object of `kind` whose name is `prefix` plus kustomize's hash suffix (if any)."""
    (found,) = (o for n, o in objects(docs, kind).items() if re.fullmatch(rf"{re.escape(prefix)}(-[a-z0-9]+)?", n))
    return found


def container_of(docs: Docs, part: str) -> tuple[dict[str, Any], dict[str, Any]]:
    pod = workloads(docs)[part]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return pod, container


def pod_environment(docs: Docs, part: str, *, pod_name: str, namespace: str) -> dict[str, str]:
    """The environment a pod of `part` named `pod_name` gets: its ConfigMaps (envFrom), then its env in
    order, with the downward API's fields and `$(NAME)` references expanded as Kubernetes does (a
    reference to a variable defined earlier is replaced, `$$` is a literal `$`, others stay as they
    are). Secret references are left out: their values are files or placeholders here."""
    _, container = container_of(docs, part)
    configs = objects(docs, "ConfigMap")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(configs[source["configMapRef"]["name"]]["data"])
    fields = {"metadata.name": pod_name, "metadata.namespace": namespace}
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                                        lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)),
                                        entry["value"])
        elif "fieldRef" in entry.get("valueFrom", {}):
            env[entry["name"]] = fields[entry["valueFrom"]["fieldRef"]["fieldPath"]]
    return env


def test_the_monitoring_is_a_statefulset_whose_replicas_are_n_of_auto_n(fleet: Docs) -> None:
    assert "monitoring" not in objects(fleet, "Deployment"), "the base's one-replica Deployment is replaced"
    monitoring = objects(fleet, "StatefulSet")["monitoring"]
    replicas = monitoring["spec"]["replicas"]
    assert replicas >= 2
    env = pod_environment(fleet, "monitoring", pod_name="monitoring-0", namespace="hometwin")
    assert env["HOMETWIN_MONITORING_REPLICA"] == f"auto/{replicas}"
    assert monitoring["spec"]["updateStrategy"]["type"] == "RollingUpdate"
    assert monitoring["spec"].get("updateStrategy", {}).get("rollingUpdate", {}).get("maxUnavailable", 1) == 1


def test_changing_the_replica_count_in_one_place_changes_n_too(tmp_path: Path) -> None:
    def three_replicas(overlay: Path) -> None:
        text = (overlay / "kustomization.yaml").read_text(encoding="utf-8")
        changed = re.sub(r"(- name: monitoring\n\s+count:) 2", r"\1 3", text)
        assert changed != text, "kustomization.yaml sets the monitoring's count under `replicas:`"
        (overlay / "kustomization.yaml").write_text(changed, encoding="utf-8")

    docs = render(tmp_path, edit=three_replicas)
    assert objects(docs, "StatefulSet")["monitoring"]["spec"]["replicas"] == 3
    env = pod_environment(docs, "monitoring", pod_name="monitoring-2", namespace="hometwin")
    assert env["HOMETWIN_MONITORING_REPLICA"] == "auto/3"


def test_each_replica_registers_at_its_own_pod_under_the_headless_service(
        fleet: Docs, monkeypatch: pytest.MonkeyPatch) -> None:
    monitoring = objects(fleet, "StatefulSet")["monitoring"]
    service = objects(fleet, "Service")[monitoring["spec"]["serviceName"]]
    assert service["spec"]["clusterIP"] == "None", "pod DNS names need a headless Service"
    assert service["spec"]["publishNotReadyAddresses"] is True, "an unready replica must still be called"
    pod_labels = monitoring["spec"]["template"]["metadata"]["labels"]
    assert _selects({"matchLabels": service["spec"]["selector"]}, pod_labels)
    namespace = monitoring["metadata"]["namespace"]
    _, container = container_of(fleet, "monitoring")
    (port,) = container["ports"]
    replicas = monitoring["spec"]["replicas"]
    urls = set()
    for ordinal in range(replicas):
        pod = f"monitoring-{ordinal}"  # a StatefulSet pod's name, which is also its host name
        env = pod_environment(fleet, "monitoring", pod_name=pod, namespace=namespace)
        dns = f"{pod}.{service['metadata']['name']}.{namespace}.svc"
        assert env["PUBLIC_URL"] == f"http://{dns}:{port['containerPort']}"
        # HomeTwin's own code, given that environment: replica `ordinal` of n, calling back at its pod.
        monkeypatch.setenv("HOSTNAME", pod)
        settings = MonitoringSettings(monitoring_replica=env["HOMETWIN_MONITORING_REPLICA"])
        assert settings.replica() == (ordinal, replicas)
        base = callback_base(SdkSettings(public_url=env["PUBLIC_URL"]), environ={"HOSTNAME": pod})
        assert base.url == f"http://{dns}:{port['containerPort']}" and base.source == "PUBLIC_URL"
        urls.add(base.url)
    assert len(urls) == replicas, "every replica has an address of its own"


def test_a_host_name_without_an_ordinal_is_refused_with_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTNAME", "monitoring-7d9c5b-x2x4q")  # a Deployment's pod: no stable ordinal
    with pytest.raises(ValueError, match="ends in no StatefulSet ordinal"):
        MonitoringSettings(monitoring_replica="auto/2").replica()
    monkeypatch.setenv("HOSTNAME", "monitoring-2")  # a pod beyond n: the count and n disagree
    with pytest.raises(ValueError, match="replica 2 of 2 does not exist"):
        MonitoringSettings(monitoring_replica="auto/2").replica()


def test_the_monitoring_keeps_its_state_in_shared_stores_and_its_data_dir_per_pod(fleet: Docs) -> None:
    monitoring = objects(fleet, "StatefulSet")["monitoring"]
    assert not monitoring["spec"].get("volumeClaimTemplates"), "no per-replica claim: nothing of its own to keep"
    pod, container = container_of(fleet, "monitoring")
    env = pod_environment(fleet, "monitoring", pod_name="monitoring-0", namespace="hometwin")
    for store in ("HOMETWIN_STATE_STORE", "HOMETWIN_MODEL_STORE"):  # alert books, outboxes, models
        assert env[store].startswith("s3://"), f"{store} must be shared by the replicas: {env[store]}"
    data_dir = PurePosixPath(env["HOMETWIN_DATA_DIR"])
    (mount,) = (m for m in container["volumeMounts"] if data_dir.is_relative_to(m["mountPath"]))
    (volume,) = (v for v in pod["volumes"] if v["name"] == mount["name"])
    assert "emptyDir" in volume, "the data dir is the pod's own, never a volume shared by replicas"


def test_the_homes_file_is_mounted_where_every_part_looks_for_it(fleet: Docs, tmp_path: Path) -> None:
    homes_map = named(fleet, "ConfigMap", "hometwin-homes")
    for part in HOMES_PARTS:
        pod, container = container_of(fleet, part)
        env = pod_environment(fleet, part, pod_name=f"{part}-0", namespace="hometwin")
        path = PurePosixPath(env["HOMETWIN_HOMES_FILE"])
        (mount,) = (m for m in container["volumeMounts"] if m["mountPath"] == str(path.parent))
        assert mount.get("readOnly") is True, part
        (volume,) = (v for v in pod["volumes"] if v["name"] == mount["name"])
        assert volume["configMap"]["name"] == homes_map["metadata"]["name"], f"{part}: one homes file for all"
        assert path.name in homes_map["data"], f"{part}: no {path.name} in the ConfigMap"
    (tmp_path / "homes.yaml").write_text(homes_map["data"]["homes.yaml"], encoding="utf-8")
    homes = load_homes(tmp_path / "homes.yaml")  # the committed example is a valid homes file
    replicas = objects(fleet, "StatefulSet")["monitoring"]["spec"]["replicas"]
    assert len({replica_of(home_id, replicas) for home_id in homes.ids()}) == replicas, (
        "the example's homes spread over every replica, so a reader sees each one at work")


def _accounts_of(docs: Docs, tmp_path: Path) -> Path:
    """The file the dashboard reads as its accounts, written out of the rendered Secret."""
    pod, container = container_of(docs, "dashboard")
    env = {e["name"]: e.get("value") for e in container["env"]}
    path = env["HOMETWIN_DASHBOARD_ACCOUNTS_FILE"]
    assert path.startswith(SECRET_DIR), "the accounts come from the Secret, as a file"
    (volume,) = (v for v in pod["volumes"] if "secret" in v)
    (item,) = (i for i in volume["secret"]["items"] if i["path"] == path.removeprefix(SECRET_DIR))
    secret = objects(docs, "Secret")[volume["secret"]["secretName"]]
    accounts = tmp_path / "accounts.yaml"
    accounts.write_bytes(base64.b64decode(secret["data"][item["key"]]))
    return accounts


def test_the_dashboard_reads_its_accounts_from_the_secret_and_the_example_is_refused(
        fleet: Docs, tmp_path: Path) -> None:
    homes_map = named(fleet, "ConfigMap", "hometwin-homes")
    (tmp_path / "homes.yaml").write_text(homes_map["data"]["homes.yaml"], encoding="utf-8")
    home_ids = load_homes(tmp_path / "homes.yaml").ids()
    # As committed, the placeholders are refused: the dashboard does not start before they are filled in.
    with pytest.raises(AccountsFileError, match="accounts file .*account 'maria', field password_hash"):
        load_accounts(_accounts_of(fleet, tmp_path), home_ids)

    def filled_in(overlay: Path) -> None:  # what a user makes with `python -m ...dashboard.accounts`
        text = (overlay / "dashboard-accounts.yaml").read_text(encoding="utf-8")
        text = text.replace('"scrypt$REPLACE_ME"', f'"{hash_password("a long passphrase of four words")}"')
        text = text.replace('"REPLACE_ME"', f'"{token_digest(random_keys.token_hex(32))}"')
        (overlay / "dashboard-accounts.yaml").write_text(text, encoding="utf-8")

    accounts = load_accounts(_accounts_of(render(tmp_path / "filled", edit=filled_in), tmp_path), home_ids)
    maria, office = accounts.get("maria"), accounts.get("office")
    assert maria is not None and maria.sees("anna") and not maria.sees("ben")
    assert office is not None and office.admin
    assert accounts.login("maria", "a long passphrase of four words") is maria


def test_no_secret_value_is_in_the_rendered_manifests_outside_the_secret(tmp_path: Path) -> None:
    """Render with every secret filled in with a recognisable random value: none of them may appear in
    any other object (a ConfigMap, an env value, an annotation), only base64-encoded in the Secret."""
    planted: dict[str, str] = {}

    def fill(overlay: Path) -> None:
        lines = []
        for line in (overlay / "secrets.env").read_text(encoding="utf-8").splitlines():
            key, sep, _ = line.partition("=")
            if sep and not line.lstrip().startswith("#"):
                planted[key] = f"planted{random_keys.token_hex(12)}"
                line = f"{key}={planted[key]}"
            lines.append(line)
        (overlay / "secrets.env").write_text("\n".join(lines) + "\n", encoding="utf-8")
        planted["password_hash"] = hash_password("another long passphrase here")
        text = (overlay / "dashboard-accounts.yaml").read_text(encoding="utf-8")
        (overlay / "dashboard-accounts.yaml").write_text(
            text.replace('"scrypt$REPLACE_ME"', f'"{planted["password_hash"]}"'), encoding="utf-8")

    docs = render(tmp_path, edit=fill)
    assert {"scheduler-state-url", "dispatch-secret", "dashboard-token"} <= set(planted)
    for doc in docs:
        text = yaml.safe_dump(doc)
        if doc["kind"] == "Secret":
            decoded = "".join(base64.b64decode(v).decode() for v in doc["data"].values())
            assert all(value in decoded for value in planted.values()), "the Secret holds them all"
            continue
        leaked = [key for key, value in planted.items() if value in text]
        assert not leaked, f"{doc['kind']}/{doc['metadata']['name']} holds {leaked}"


def test_the_disruption_budgets_select_existing_pods_and_leave_one_down_at_most(fleet: Docs) -> None:
    labels = {name: w["spec"]["template"]["metadata"]["labels"] for name, w in workloads(fleet).items()}
    budgets = objects(fleet, "PodDisruptionBudget")
    assert set(budgets) == {"sif-edge", "monitoring"}
    for name, budget in budgets.items():
        selected = {part for part, pod in labels.items() if _selects(budget["spec"]["selector"], pod)}
        assert selected == {name}, f"PodDisruptionBudget {name} selects {selected}"
        replicas = workloads(fleet)[name]["spec"]["replicas"]
        spec = budget["spec"]
        allowed_down = spec["maxUnavailable"] if "maxUnavailable" in spec else replicas - spec["minAvailable"]
        assert 1 <= allowed_down < replicas, f"{name}: a drain may evict one pod, never all"
    assert budgets["monitoring"]["spec"]["maxUnavailable"] == 1, "one share of the homes unwatched at a time"


@pytest.mark.slow
def test_two_replicas_started_with_the_rendered_environment_register_at_their_pods(
        fleet: Docs, s3_server: Any, tmp_path: Path) -> None:
    """A real scheduler and two real monitoring processes, each started with exactly the environment
    the StatefulSet gives pod monitoring-<i> (its host name, the expanded PUBLIC_URL, the homes file
    from the ConfigMap; S3 moved to a local SeaweedFS): each registers its own function at its own
    pod's address."""
    import httpx

    from tests.servers import ServerProcess, free_port, wait_http, wait_until

    token = random_keys.token_hex(16)
    secret_dir = tmp_path / "secrets"
    secret_dir.mkdir()
    for key, value in {"scheduler-token": token, "dispatch-secret": random_keys.token_hex(32),
                       "s3-access-key": s3_server.access_key, "s3-secret-key": s3_server.secret_key,
                       "influxdb-token": "", "influxdb-password": ""}.items():
        (secret_dir / key).write_text(value, encoding="utf-8")
    homes_dir = tmp_path / "homes"
    homes_dir.mkdir()
    (homes_dir / "homes.yaml").write_text(named(fleet, "ConfigMap", "hometwin-homes")["data"]["homes.yaml"],
                                          encoding="utf-8")
    scheduler_port = free_port()
    scheduler_url = f"http://127.0.0.1:{scheduler_port}"
    processes = [ServerProcess(
        [sys.executable, "-m", "hometwin", "scheduler", "--host", "127.0.0.1", "--port", str(scheduler_port)],
        tmp_path / "scheduler.log",
        {"HOMETWIN_SCHEDULER_TOKEN_FILE": str(secret_dir / "scheduler-token"),
         "HOMETWIN_DISPATCH_SECRET_FILE": str(secret_dir / "dispatch-secret"),
         "HOMETWIN_SCHEDULER_STATE": f"sqlite:///{tmp_path}/scheduler.sqlite",
         "HOMETWIN_DATA_DIR": str(tmp_path / "scheduler-data")})]
    replicas = objects(fleet, "StatefulSet")["monitoring"]["spec"]["replicas"]
    expected = {}
    try:
        processes[0].start()
        wait_http(f"{scheduler_url}/healthz", timeout=90)
        for ordinal in range(replicas):
            pod = f"monitoring-{ordinal}"
            env = pod_environment(fleet, "monitoring", pod_name=pod, namespace="hometwin")
            env = {k: v.replace(SECRET_DIR, f"{secret_dir}/").replace("/etc/hometwin/homes", str(homes_dir))
                   for k, v in env.items()}
            port = free_port()
            env.update({"HOSTNAME": pod, "SCH_SERVICE_NAME": scheduler_url, "HOMETWIN_S3_ENDPOINT": s3_server.url,
                        "INFLUXDB_HOST": f"http://127.0.0.1:{free_port()}",  # unreachable, as when it is down
                        "HOMETWIN_DATA_DIR": str(tmp_path / pod)})
            function = f"check_emergency_{ordinal}of{replicas}"
            expected[function] = f"http://{pod}.monitoring.hometwin.svc:8000/api/{function}"
            process = ServerProcess([sys.executable, "-m", "hometwin", "component", "monitoring", "--host",
                                     "127.0.0.1", "--port", str(port)], tmp_path / f"{pod}.log", env)
            processes.append(process.start())
            wait_http(f"http://127.0.0.1:{port}/healthz", timeout=90)

        def registered() -> dict[str, str]:
            answer = httpx.get(f"{scheduler_url}/api/status", headers={"Authorization": f"Bearer {token}"}, timeout=5)
            answer.raise_for_status()
            body = answer.json()
            entries = body if isinstance(body, list) else body.get("functions", [])
            return {f["name"]: f.get("url", "") for f in entries}

        wait_until(lambda: set(expected) <= set(registered()), timeout=60, what="both replicas registered")
        urls = registered()
        for name, url in expected.items():  # the scheduler may keep a URL without its scheme (the course's form)
            assert urls[name].removeprefix("http://") == url.removeprefix("http://"), (name, urls[name])
    except BaseException:
        for process in processes:
            print(f"--- {process.log.name}\n{process.tail()}")
        raise
    finally:
        for process in reversed(processes):
            process.stop()
