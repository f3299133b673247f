"""Suite d, every service but the scheduler (whose suite is test_scheduler_openapi.py and
test_scheduler_hostile.py): generated and hostile requests to the real processes; none may get a
5xx, and each process stays under a memory bound.

The scheduler and the four components run as real processes (hometwin.launcher.Stack) with a
scheduler token, a dispatch secret and a dashboard token, as in a deployment. Requests carry
credentials, so they reach the handlers instead of stopping at the door (test_untrusted_network.py
checks the door): the dashboard's bearer token; for a component, the dispatch secret as bearer token
on its own routes and, on a deployed function's path, the scheduler's signature, made with the SDK's
signing rule (`hometwin.dispatch_signature.DispatchSigner`) over each generated request exactly as
it is sent - the same check the scheduler's invocations pass.

- Schemathesis over each service's OpenAPI, served at /openapi.json: positive and negative
  examples, `EXAMPLES` per operation and mode.
- Each deployed function (listed by the real scheduler) gets generated invocations: bodies keyed by
  its event with arbitrary JSON, or the real payload with fields dropped or replaced, as the event's
  data (Hypothesis), and the hostile cases of issue 13
  (nesting deeper than any parser limit, NaN and Infinity, lone surrogates, a non-object body, bytes
  that are no JSON, a body of 8 MiB).
- After all of it: no 5xx anywhere, no traceback in any log, every process still healthy and its
  resident memory under `RSS_BOUND` (docs/reliability.md).
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from hometwin.dispatch_signature import SIGNATURE_HEADER, DispatchSigner
from hometwin.domain.alerts import AlertBook, AlertPolicy
from hometwin.domain.findings import Finding, FindingKind, Severity
from hometwin.launcher import Stack
from tests.e2e.scheduler_helpers import rss_bytes

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

TOKEN = secrets.token_hex(16)
SECRET = secrets.token_hex(32)
DASHBOARD_TOKEN = secrets.token_hex(16)
SERVICES = ("monitoring", "modeling", "actuation", "dashboard")
EXAMPLES = 50  # per operation and generation mode
BODIES = 100  # generated invocation bodies per deployed function
RSS_BOUND = 200 * 2**20  # each component process; they start at about 90 MB

SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
           | st.text(max_size=20))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("openapi-services")
    env = {"HOMETWIN_DATA_DIR": str(tmp / "data"), "HOMETWIN_HOME_ID": "hostile",
           "HOMETWIN_SCHEDULER_TOKEN": TOKEN, "HOMETWIN_DISPATCH_SECRET": SECRET,
           "HOMETWIN_DASHBOARD_TOKEN": DASHBOARD_TOKEN, "HOMETWIN_ACK_SECRET": secrets.token_hex(16),
           "HOMETWIN_CAREGIVERS": "anna@example.org", "HOMETWIN_MONITORING_CHECK_EVERY": "1h",
           "HOMETWIN_SCHEDULER_BACKOFF_INITIAL": "0.05", "HOMETWIN_SCHEDULER_BACKOFF_MAX": "0.3",
           "HOMETWIN_DASHBOARD_LOGIN_FAILURES": "1000000", "HOMETWIN_DASHBOARD_LOGIN_FAILURES_TOTAL": "1000000"}
    stack = Stack(tmp, env)
    try:
        stack.start_all()
        yield stack
    finally:
        stack.stop_all()
        for name, process in stack.processes.items():
            print(f"--- {name} ---\n{process.tail(10)}")


class Client:
    """Sends a request to one service with that service's credentials; counts the answers."""

    def __init__(self, stack: Stack, service: str, function_paths: set[str]) -> None:
        self.base, self.service, self.function_paths = stack.url(service), service, function_paths
        self.session = requests.Session()
        self.statuses: Counter[int] = Counter()
        self.server_errors: list[str] = []
        self.signer = DispatchSigner(SECRET)

    def send(self, request: requests.Request) -> requests.Response:
        prepared = request.prepare()
        assert prepared.url is not None and prepared.method is not None
        if self.service == "dashboard":
            prepared.headers["Authorization"] = f"Bearer {DASHBOARD_TOKEN}"
        else:
            prepared.headers["Authorization"] = f"Bearer {SECRET}"
            path = prepared.path_url.split("?")[0]
            if path in self.function_paths:
                headers = {"Idempotency-Key": str(uuid.uuid4()), "X-Function-Name": path.rsplit("/", 1)[-1],
                           "X-Event-Ids": str(uuid.uuid4()), "X-Invocation-Attempt": "1"}
                prepared.headers.update(headers)
                body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
                prepared.headers[SIGNATURE_HEADER] = self.signer.sign(
                    prepared.method, prepared.url, {**headers}, body, time.time())
        response = self.session.send(prepared, timeout=60, allow_redirects=False)
        self.statuses[response.status_code] += 1
        if response.status_code >= 500:
            self.server_errors.append(f"{prepared.method} {prepared.path_url[:120]} -> {response.status_code}: "
                                      f"{response.text[:200]}")
        return response


def function_paths(stack: Stack, service: str) -> dict[str, list[str]]:
    """path -> subscribed events of every function this service registered at the real scheduler."""
    answer = httpx.get(f"{stack.url('scheduler')}/api/status", headers={"Authorization": f"Bearer {TOKEN}"},
                       timeout=10)
    answer.raise_for_status()
    base = stack.url(service)
    return {f["url"].removeprefix(base): list(f["subs"]) for f in answer.json()
            if str(f["url"]).startswith(base)}


def served_schema(stack: Stack, service: str) -> Any:
    """The OpenAPI description the service serves; the dashboard serves none (it is a web page
    first), so its schema is taken from the app built in-process from the stack's environment."""
    if service == "dashboard":
        from hometwin.commands.component import Component, build_app
        from tests.unit.test_sdk_support import reset_sdk

        with pytest.MonkeyPatch.context() as env:
            for key, value in stack.env.items():
                env.setenv(key, value)
            app = build_app(Component("dashboard"))
        reset_sdk()
        return schemathesis.openapi.from_dict(app.openapi())
    key = SECRET
    answer = httpx.get(f"{stack.url(service)}/openapi.json", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    answer.raise_for_status()
    return schemathesis.openapi.from_dict(answer.json())


def run_schema(client: Client, schema: Any) -> int:
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def send(case: Any) -> None:
                client.send(requests.Request(**case.as_transport_kwargs(base_url=client.base)))

            try:
                send()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation  # nothing in it can be made invalid
    return operations


def run_hostile_posts(client: Client, schema: Any) -> int:
    """The hostile bodies to every operation that takes one, path parameters filled in."""
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() not in ("POST", "PUT", "PATCH"):
            continue
        path = re.sub(r"\{[^}]+\}", "some-id", operation.path)
        for body in hostile_bodies("body"):
            client.send(requests.Request(operation.method.upper(), client.base + path, data=body,
                                         headers={"Content-Type": "application/json"}))
            sent += 1
    return sent


def hostile_bodies(event: str) -> list[bytes]:
    deep = 100_000
    return [
        b'{"' + event.encode() + b'": {"data": ' + b"[" * deep + b"]" * deep + b"}}",
        b'{"' + event.encode() + b'": {"data": ' + b'{"a":' * deep + b"1" + b"}" * deep + b"}}",
        b'{"' + event.encode() + b'": {"data": {"x": NaN, "y": Infinity, "z": -Infinity}}}',
        b'{"' + event.encode() + b'": {"data": {"text": "\\ud800 lone \\udfff"}}}',
        b'{"\\ud800": {"data": 1}}',
        b"[1, 2, 3]", b'"just a string"', b"\xff\xfe not json \x00", b"",
        b'{"' + event.encode() + b'": {"data": {"blob": "' + b"x" * (8 * 2**20) + b'"}}}',
        json.dumps({event: {"data": {"notification_id": "../../etc/passwd", "alert_id": "a" * 10_000,
                                     "recipients": ["x@y"] * 1000, "episode": -1}}}).encode(),
    ]


def valid_data(event: str) -> dict[str, Any]:
    """What the real senders put into `event` (a first emergency alert, a weekly report)."""
    if event == "EmergencyEvent":
        finding = Finding(FindingKind.PROLONGED_STAY, Severity.EMERGENCY, "bathroom",
                          datetime(2026, 3, 3, 8, 0, tzinfo=UTC), observed=3120, expected=360, threshold=1140,
                          percentile=99.7, message="In the bathroom for 52 min")
        [note] = AlertBook().advance([finding], datetime(2026, 3, 3, 8, 52, tzinfo=UTC),
                                     AlertPolicy(escalation=("anna@example.org",)))
        return note.to_event_data()
    if event == "ModelTrainedEvent":
        return {"version": "v2", "previous": "v1", "report": {
            "title": "Weekly report", "period": "a week", "lines": ["More kitchen visits."],
            "rooms": {"kitchen": {"lines": ["Longer visits."]}}}}
    return {}


def mutated(event: str) -> st.SearchStrategy[Any]:
    """The valid data of `event` with a few fields (also nested ones) dropped or replaced by any JSON."""
    valid = valid_data(event)

    def mutate(data: dict[str, Any], changes: list[tuple[str, bool, Any]]) -> dict[str, Any]:
        out = json.loads(json.dumps(data))
        for key, drop, value in changes:
            target = out
            for part in key.split(".")[:-1]:
                target = target.get(part) if isinstance(target.get(part), dict) else target
            leaf = key.split(".")[-1]
            if drop:
                target.pop(leaf, None)
            else:
                target[leaf] = value
        return out

    keys = sorted(_paths(valid)) or ["data"]
    return st.builds(mutate, st.just(valid), st.lists(st.tuples(st.sampled_from(keys), st.booleans(), JSON),
                                                      min_size=1, max_size=3))


def _paths(data: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in data.items():
        out.append(prefix + key)
        if isinstance(value, dict):
            out += _paths(value, prefix + key + ".")
    return out


def invoker(client: Client, url: str, event: str) -> Any:
    """Generated invocations of one function: its event with any JSON, or a real payload mutated, as data."""
    @settings(max_examples=BODIES, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(data=JSON | mutated(event), timestamp=st.none() | st.text(max_size=30))
    def invoke(data: Any, timestamp: str | None) -> None:
        payload: dict[str, Any] = {"data": data}
        if timestamp is not None:
            payload["timestamp"] = timestamp
        client.send(requests.Request("POST", url, json={event: payload}))

    return invoke


def run_functions(client: Client, functions: dict[str, list[str]]) -> int:
    sent = 0
    for path, events in functions.items():
        url = client.base + path
        for event in events:
            for body in hostile_bodies(event):
                client.send(requests.Request("POST", url, data=body, headers={"Content-Type": "application/json"}))
                sent += 1

            invoke = invoker(client, url, event)
            invoke()
            sent += BODIES
    return sent


@pytest.mark.parametrize("service", SERVICES)
def test_generated_and_hostile_requests_get_no_server_error(stack: Stack, service: str) -> None:
    functions = function_paths(stack, service) if service != "dashboard" else {}
    client = Client(stack, service, set(functions))
    schema = served_schema(stack, service)
    operations = run_schema(client, schema)
    run_hostile_posts(client, schema)
    invocations = run_functions(client, functions)
    total = sum(client.statuses.values())
    rss = rss_bytes(stack.processes[service].pid)
    print(f"{service}: {operations} operations, {total} requests ({invocations} invocations to "
          f"{len(functions)} functions), statuses {dict(sorted(client.statuses.items()))}, RSS {rss / 2**20:.0f} MiB")
    assert not client.server_errors, client.server_errors[:10]
    # Credentials were right: most requests got past the door to the handlers.
    assert client.statuses[401] + client.statuses[403] < total / 2, client.statuses
    assert httpx.get(f"{stack.url(service)}/healthz", timeout=10).status_code == 200
    assert rss < RSS_BOUND, f"{service} RSS {rss / 2**20:.0f} MiB"
    log = Path(stack.processes[service].log).read_text(errors="replace")
    assert not re.search(r"^Traceback", log, re.MULTILINE), log[-3000:]
