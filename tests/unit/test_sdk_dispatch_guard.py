"""LocalGateway with a dispatch secret, under real uvicorn on 127.0.0.1: functions accept only
signed invocations, other routes need the secret as bearer, health routes stay open; without a
secret (or in mock mode) everything behaves as before."""

from __future__ import annotations

import logging
import secrets
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import Depends

from hometwin.dispatch_signature import SIGNATURE_HEADER, TOLERANCE_SECONDS, DispatchSigner
from hometwin.sdk import Invocation, LocalGateway, SdkSettings, read_invocation
from hometwin.sdk.dispatch_guard import MAX_SIGNED_BODY_BYTES
from tests.unit.test_sdk_support import ThreadedServer, reset_sdk

SECRET = secrets.token_hex(32)
BODY = b'{"EmergencyEvent": {"data": {"alert_id": "a1"}, "timestamp": "2026-11-24T10:00:00+0000"}}'


@pytest.fixture(autouse=True)
def _fresh_sdk() -> Iterator[None]:
    reset_sdk()
    yield
    reset_sdk()


def gateway(secret: str | None = SECRET, mock: bool = False) -> tuple[LocalGateway, list[Invocation]]:
    """A component in debugging mode (no scheduler), a POST and a GET function, health and status."""
    received: list[Invocation] = []
    app = LocalGateway(mock, settings=SdkSettings(dispatch_secret=secret))

    async def notify(invocation: Invocation = Depends(read_invocation)) -> dict[str, Any]:
        received.append(invocation)
        if invocation.function == "deployer":  # a function deployed while serving, as the course's
            app.deploy(late, "late-fn", "LateEvent", method="POST")
        return {"status": "notified"}

    async def late() -> dict[str, str]:
        return {"status": "late"}

    async def check() -> dict[str, str]:
        return {"status": "checked"}

    app.deploy(notify, "notify", "EmergencyEvent", method="POST")
    app.deploy(check, "check", "CheckEvent")
    app.add_api_route("/healthz", lambda: {"status": "ok"}, methods=["GET"])
    app.add_api_route("/readyz", lambda: {"status": "ok"}, methods=["GET"])
    app.add_api_route("/status", lambda: {"last_check": "ok"}, methods=["GET"])
    return app, received


@pytest.fixture
def served() -> Iterator[tuple[ThreadedServer, list[Invocation]]]:
    app, received = gateway()
    server = ThreadedServer(app).start()
    yield server, received
    server.stop()


def invoke(server: ThreadedServer, path: str = "/api/notify", *, method: str = "POST", body: bytes = BODY,
           signer: DispatchSigner | None = None, now: float | None = None, sent_body: bytes | None = None,
           function: str = "notify", key: str = "inv-1") -> httpx.Response:
    """An invocation as the scheduler sends it, signed by `signer` (None: unsigned)."""
    headers = {"Idempotency-Key": key, "X-Function-Name": function, "X-Event-Ids": "e1",
               "X-Invocation-Attempt": "1"}
    payload = body if method == "POST" else None
    if signer is not None:
        headers[SIGNATURE_HEADER] = signer.sign(method, server.url + path, headers, payload,
                                                time.time() if now is None else now)
    content = sent_body if sent_body is not None else payload
    return httpx.request(method, server.url + path, content=content, timeout=10,
                         headers={**headers, "Content-Type": "application/json"})


def test_a_signed_invocation_reaches_the_function(served: tuple[ThreadedServer, list[Invocation]]) -> None:
    server, received = served
    answer = invoke(server, signer=DispatchSigner(SECRET))
    assert answer.status_code == 200, answer.text
    assert received[0]["EmergencyEvent"].data == {"alert_id": "a1"}  # the body survived the check
    assert invoke(server, "/api/check", method="GET", signer=DispatchSigner(SECRET)).json() == {"status": "checked"}


def test_unsigned_invocations_are_refused_with_401(served: tuple[ThreadedServer, list[Invocation]]) -> None:
    server, received = served
    for path, method in (("/api/notify", "POST"), ("/api/check", "GET")):
        answer = invoke(server, path, method=method)
        assert answer.status_code == 401, answer.text
        assert answer.headers["www-authenticate"] == "HomeTwin-Signature"
    # Nor does the bearer token stand in for a signature on a function route.
    answer = httpx.post(f"{server.url}/api/notify", content=BODY, headers={"Authorization": f"Bearer {SECRET}"})
    assert answer.status_code == 401
    assert received == []


@pytest.mark.parametrize("case", ["tampered body", "other secret", "stale", "future", "replayed elsewhere"])
def test_badly_signed_invocations_are_refused_with_403(served: tuple[ThreadedServer, list[Invocation]],
                                                       case: str) -> None:
    server, received = served
    signer = DispatchSigner(SECRET)
    answer = {
        "tampered body": lambda: invoke(server, signer=signer, sent_body=BODY.replace(b"a1", b"a9")),
        "other secret": lambda: invoke(server, signer=DispatchSigner(secrets.token_hex(32))),
        "stale": lambda: invoke(server, signer=signer, now=time.time() - TOLERANCE_SECONDS - 5),
        "future": lambda: invoke(server, signer=signer, now=time.time() + TOLERANCE_SECONDS + 5),
        # A signature captured for one function, sent to another path of the same component.
        "replayed elsewhere": lambda: _resend(server, invoke_signed_for="/api/check"),
    }[case]()
    assert answer.status_code == 403, answer.text
    assert received == []


def _resend(server: ThreadedServer, invoke_signed_for: str) -> httpx.Response:
    headers = {"Idempotency-Key": "k", "X-Function-Name": "notify", "X-Event-Ids": "e1", "X-Invocation-Attempt": "1"}
    headers[SIGNATURE_HEADER] = DispatchSigner(SECRET).sign("POST", server.url + invoke_signed_for, headers, BODY,
                                                            time.time())
    return httpx.post(f"{server.url}/api/notify", content=BODY, headers=headers, timeout=10)


def test_an_oversized_invocation_is_refused_before_it_is_read(
        served: tuple[ThreadedServer, list[Invocation]]) -> None:
    server, _ = served
    signature = DispatchSigner(SECRET).sign("POST", server.url + "/api/notify", {}, b"", time.time())
    # A raw socket: an HTTP client will not announce a body it does not send.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(f"POST /api/notify HTTP/1.1\r\nHost: x\r\n{SIGNATURE_HEADER}: {signature}\r\n"
                     f"Content-Length: {MAX_SIGNED_BODY_BYTES + 1}\r\n\r\n".encode())
        status_line = conn.recv(200).split(b"\r\n")[0]
    assert status_line.startswith(b"HTTP/1.1 413"), status_line


@pytest.mark.parametrize("path", ["/docs", "/openapi.json", "/redoc", "/status", "/api/unknown"])
def test_other_routes_need_the_secret_as_bearer(served: tuple[ThreadedServer, list[Invocation]], path: str) -> None:
    server, _ = served
    missing = httpx.get(server.url + path, timeout=10)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert httpx.get(server.url + path, headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 403
    assert httpx.get(server.url + path, headers={"Authorization": f"Basic {SECRET}"}, timeout=10).status_code == 401
    allowed = httpx.get(server.url + path, headers={"Authorization": f"Bearer {SECRET}"}, timeout=10)
    assert allowed.status_code == (404 if path == "/api/unknown" else 200), allowed.text[:200]


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_routes_stay_open(served: tuple[ThreadedServer, list[Invocation]], path: str) -> None:
    server, _ = served
    assert httpx.get(server.url + path, timeout=10).status_code == 200


def test_a_function_deployed_while_serving_is_guarded_too(served: tuple[ThreadedServer, list[Invocation]]) -> None:
    server, _ = served
    signer = DispatchSigner(SECRET)
    assert invoke(server, signer=signer, function="deployer").status_code == 200
    assert invoke(server, "/api/late", function="late-fn").status_code == 401
    assert invoke(server, "/api/late", signer=signer, function="late-fn").json() == {"status": "late"}


def test_without_a_secret_everything_is_open_and_the_start_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="hometwin.sdk"):
        app, received = gateway(secret=None)
    assert any("accepts invocations from anyone" in r.getMessage() for r in caplog.records)
    server = ThreadedServer(app).start()
    try:
        assert invoke(server).status_code == 200 and len(received) == 1
        assert httpx.get(f"{server.url}/openapi.json", timeout=10).status_code == 200
        assert httpx.get(f"{server.url}/status", timeout=10).status_code == 200
    finally:
        server.stop()


def test_mock_mode_is_not_guarded(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="hometwin.sdk"):
        app, received = gateway(mock=True)
        open_app, _ = gateway(secret=None, mock=True)
    assert not any("accepts invocations from anyone" in r.getMessage() for r in caplog.records)
    server = ThreadedServer(app).start()
    try:  # functions of a mock gateway are never registered, so the scheduler never calls them
        assert invoke(server).status_code == 200 and len(received) == 1
        assert httpx.get(f"{server.url}/docs", timeout=10).status_code == 200
    finally:
        server.stop()


def test_an_unusable_secret_stops_the_component_at_construction() -> None:
    with pytest.raises(ValueError, match="HOMETWIN_DISPATCH_SECRET.*openssl rand"):
        LocalGateway(settings=SdkSettings(dispatch_secret="REPLACE_ME"))
