"""Suite e: nothing reachable on the network acts without credentials.

The scheduler and the four components run as real processes on 127.0.0.1 (hometwin.launcher.Stack)
with a scheduler token, a dispatch secret and a dashboard token. Every route each app declares
(read from the very app the process serves, built in-process from the same environment) is asked
without credentials and must refuse; the health routes, the dashboard's login form and its signed
e-mail link (/ack) are the only open doors. Invocations signed by the real scheduler are accepted;
tampered, stale, unsigned or differently signed ones are refused, and a refusal is dead-lettered.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from starlette.routing import Mount

from hometwin.dispatch_signature import SIGNATURE_HEADER, TOLERANCE_SECONDS, DispatchSigner
from hometwin.launcher import Stack
from hometwin.sdk import LocalGateway, SdkSettings
from hometwin.sdk.invocation import Invocation, read_invocation
from tests.servers import wait_until
from tests.unit.test_sdk_support import ThreadedServer, reserve_port, reset_sdk

pytestmark = pytest.mark.slow

TOKEN = secrets.token_hex(16)
SECRET = secrets.token_hex(32)
DASHBOARD_TOKEN = secrets.token_hex(16)
COMPONENTS = ("monitoring", "modeling", "actuation", "dashboard")
HEALTH = {"/healthz", "/readyz"}
# Open by design: the login form, and the e-mail links (a home's own under /h/<id>) whose signed
# token is their authorisation.
DASHBOARD_PUBLIC = {"/login", "/ack", "/h/some-id/ack"}


def environment(data_dir: Path) -> dict[str, str]:
    return {"HOMETWIN_DATA_DIR": str(data_dir), "HOMETWIN_HOME_ID": "untrusted",
            "HOMETWIN_SCHEDULER_TOKEN": TOKEN, "HOMETWIN_DISPATCH_SECRET": SECRET,
            "HOMETWIN_DASHBOARD_TOKEN": DASHBOARD_TOKEN, "HOMETWIN_ACK_SECRET": secrets.token_hex(16),
            "HOMETWIN_MONITORING_CHECK_EVERY": "1h", "HOMETWIN_SCHEDULER_BACKOFF_INITIAL": "0.05",
            "HOMETWIN_SCHEDULER_BACKOFF_MAX": "0.3"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("untrusted")
    stack = Stack(tmp, environment(tmp / "data"))
    try:
        stack.start_all()
        yield stack
    finally:
        stack.stop_all()
        for name, process in stack.processes.items():
            print(f"--- {name} ---\n{process.tail(15)}")


@pytest.fixture(scope="module")
def declared_routes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[str, str]]]:
    """(method, path) of every route of every app, from the apps built as the processes build them."""
    from hometwin.commands.component import Component, build_app
    from hometwin.config import SchedulerSettings
    from hometwin.scheduler.app import create_app

    tmp = tmp_path_factory.mktemp("routes")
    routes: dict[str, list[tuple[str, str]]] = {}
    with pytest.MonkeyPatch.context() as env:
        for key, value in environment(tmp).items():
            env.setenv(key, value)
        env.setenv("HOMETWIN_SCHEDULER_STATE", "memory://routes")
        routes["scheduler"] = _routes(create_app(SchedulerSettings()))
        for name in COMPONENTS:
            routes[name] = _routes(build_app(Component(name)))
    reset_sdk()
    return routes


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    return _walk(app.routes, "")


def _walk(routes: Any, prefix: str) -> list[tuple[str, str]]:
    found = []
    for route in routes:
        if isinstance(route, Mount):
            continue  # the dashboard's stylesheet
        if hasattr(route, "original_router"):  # FastAPI >= 0.16x keeps an included router as one entry
            context = getattr(route, "include_context", None)
            found += _walk(route.original_router.routes, prefix + getattr(context, "prefix", ""))
            continue
        path = re.sub(r"\{[^}]+\}", "some-id", prefix + route.path)  # the prefix may have one too (/h/{home_id})
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            if method != "HEAD":
                found.append((method, path))
    return found


@pytest.mark.parametrize("service", ["scheduler", *COMPONENTS])
def test_every_route_refuses_a_request_without_credentials(
        stack: Stack, declared_routes: dict[str, list[tuple[str, str]]], service: str) -> None:
    open_paths = HEALTH | (DASHBOARD_PUBLIC if service == "dashboard" else set())
    checked = []
    for method, path in declared_routes[service]:
        if path in open_paths:
            continue
        answer = httpx.request(method, stack.url(service) + path, json={}, timeout=10)
        if service == "dashboard" and not path.startswith("/api/"):
            assert answer.status_code == 303 and answer.headers["location"].startswith("/login"), (method, path)
        else:
            assert answer.status_code == 401, (method, path, answer.status_code, answer.text[:200])
        checked.append(path)
    # The API descriptions are among them, and every service has routes that were checked.
    assert checked
    if service != "dashboard":
        assert {"/docs", "/openapi.json", "/redoc"} <= set(checked), checked
    for path in HEALTH & {p for _, p in declared_routes[service]}:
        assert httpx.get(stack.url(service) + path, timeout=10).status_code == 200, (service, path)


@pytest.mark.parametrize("service", ["scheduler", "monitoring", "modeling", "actuation"])
def test_the_api_description_is_served_with_credentials(stack: Stack, service: str) -> None:
    key = TOKEN if service == "scheduler" else SECRET
    answer = httpx.get(f"{stack.url(service)}/openapi.json", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert answer.status_code == 200 and answer.json()["paths"]
    wrong = httpx.get(f"{stack.url(service)}/openapi.json", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code in (401, 403)


def scheduler(stack: Stack) -> httpx.Client:
    return httpx.Client(base_url=stack.url("scheduler"), headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)


def delivered(stack: Stack, function: str) -> list[dict[str, Any]]:
    with scheduler(stack) as client:
        return client.get("/api/invocations", params={"status": "delivered", "function": function}).json()


def test_signed_invocations_from_the_real_scheduler_are_accepted(stack: Stack) -> None:
    with scheduler(stack) as client:
        for event in ("TrainOccupancyModelEvent", "CheckEmergencyEvent"):
            assert client.post("/api/event", json={"name": event, "data": {"reason": "test"}}).status_code == 202
    # The modeling answers 200 (too little data is no error), the monitoring runs its check.
    wait_until(lambda: delivered(stack, "train_occupancy_model"), timeout=60, what="a signed training invocation")
    wait_until(lambda: delivered(stack, "check_emergency"), timeout=60, what="a signed check invocation")
    status = httpx.get(f"{stack.url('monitoring')}/status", headers={"Authorization": f"Bearer {SECRET}"}, timeout=10)
    assert status.status_code == 200 and status.json()["last_check"] is not None  # the check really ran


def forged(stack: Stack, *, now: float, secret: str = SECRET, tamper: bool = False) -> httpx.Response:
    """An EmergencyEvent invocation for an alert id of our choosing, as an attacker would send it."""
    url = f"{stack.url('actuation')}/api/send_emergency_email"
    body = b'{"EmergencyEvent": {"data": {"notification_id": "n-1", "alert_id": "a-1"}}}'
    headers = {"Idempotency-Key": "forged", "X-Function-Name": "send_emergency_email", "X-Event-Ids": "e",
               "X-Invocation-Attempt": "1"}
    headers[SIGNATURE_HEADER] = DispatchSigner(secret).sign("POST", url, headers, body, now)
    sent = body.replace(b"a-1", b"a-2") if tamper else body
    return httpx.post(url, content=sent, headers={**headers, "Content-Type": "application/json"}, timeout=10)


def test_tampered_stale_unsigned_or_foreign_invocations_are_refused(stack: Stack) -> None:
    now = time.time()
    assert forged(stack, now=now, tamper=True).status_code == 403
    assert forged(stack, now=now - TOLERANCE_SECONDS - 10).status_code == 403
    assert forged(stack, now=now, secret=secrets.token_hex(32)).status_code == 403
    unsigned = httpx.post(f"{stack.url('actuation')}/api/send_weekly_report",
                          json={"ModelTrainedEvent": {"data": {"report": {"x": 1}}}}, timeout=10)
    assert unsigned.status_code == 401
    mail = Path(stack.env["HOMETWIN_DATA_DIR"]) / "mail"  # the default mailer: a Maildir
    assert not (mail.exists() and any(p.is_file() for p in mail.rglob("*"))), "a forged invocation sent mail"


def test_each_attempt_is_signed_afresh_and_a_foreign_secret_is_dead_lettered(stack: Stack) -> None:
    """Two in-process gateways registered at the real scheduler: one shares its secret and fails
    the first attempt (the retry must pass the check again), one has another secret (refused, 403,
    not retried)."""
    seen: list[tuple[int, str]] = []

    async def flaky(request: Request, invocation: Invocation = Depends(read_invocation)) -> Any:
        seen.append((invocation.attempt or 0, request.headers[SIGNATURE_HEADER]))
        if len(seen) == 1:
            from fastapi.responses import JSONResponse

            return JSONResponse({"detail": "try again"}, status_code=503)
        return {"status": "ok"}

    servers = []
    try:
        for name, secret in (("flaky", SECRET), ("foreign", secrets.token_hex(32))):
            sock = reserve_port()
            app = LocalGateway(settings=SdkSettings(
                scheduler=stack.url("scheduler"), token=TOKEN, dispatch_secret=secret, status_interval=0.3,
                public_url=f"http://127.0.0.1:{sock.getsockname()[1]}", backoff_initial=0.05, backoff_max=0.3))
            app.deploy(flaky, name, "UntrustedTestEvent", method="POST", path=name)
            servers.append(ThreadedServer(app, sock).start())
        wait_until(lambda: {"flaky", "foreign"} <= set(app_names(stack)), timeout=20, what="registrations")
        with scheduler(stack) as client:
            assert client.post("/api/event", json={"name": "UntrustedTestEvent", "data": 1}).status_code == 202
            wait_until(lambda: delivered(stack, "flaky"), timeout=20, what="the retried invocation delivered")

            def dead_letters() -> list[dict[str, Any]]:
                return client.get("/api/invocations", params={"status": "dead", "function": "foreign"}).json()

            wait_until(dead_letters, timeout=20, what="the foreign invocation dead-lettered")
            dead = dead_letters()
        assert [s[0] for s in seen] == [1, 2]
        assert seen[0][1] != seen[1][1]
        assert int(seen[1][1].split(",")[0][2:]) >= int(seen[0][1].split(",")[0][2:])
        assert len(dead) == 1 and dead[0]["attempts"] == 1 and dead[0]["last_error"] == "HTTP 403", dead
    finally:
        for server in servers:
            server.stop()
        reset_sdk()


def app_names(stack: Stack) -> list[str]:
    with scheduler(stack) as client:
        return [f["name"] for f in client.get("/api/status").json()]
