"""LocalGateway: routes, callback address, background registration and re-registration.

The gateway runs under real uvicorn on 127.0.0.1; the scheduler is the scripted double of
test_sdk_support (the e2e tests use the real scheduler).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from hometwin.sdk import LocalGateway, SdkSettings
from hometwin.sdk.address import callback_base
from hometwin.sdk.gateway import api_path
from hometwin.sdk.registrar import known_functions
from tests.unit.test_sdk_support import SchedulerDouble, ThreadedServer, reserve_port, reset_sdk, wait_for


@pytest.fixture(autouse=True)
def _fresh_sdk() -> Iterator[None]:
    reset_sdk()
    yield
    reset_sdk()


def settings_for(scheduler_port: int | None, component_port: int, **overrides: Any) -> SdkSettings:
    values: dict[str, Any] = {
        "scheduler": f"127.0.0.1:{scheduler_port}" if scheduler_port else None,
        "public_url": f"http://127.0.0.1:{component_port}", "backoff_initial": 0.05, "backoff_max": 0.2,
        "status_interval": 0.1, **overrides}
    return SdkSettings(**values)


async def monitor() -> dict[str, str]:
    return {"status": "checked"}


async def notify() -> dict[str, str]:
    return {"status": "notified"}


def test_api_path_follows_the_course_rule() -> None:
    assert api_path(monitor, None) == "/api/monitor"
    assert api_path(monitor, "dummy_monitor") == "/api/dummy_monitor"
    assert api_path(monitor, "/custom") == "/api/custom"
    assert api_path(monitor, "/api/kept") == "/api/kept"


def test_deploy_rejects_bad_methods_and_events() -> None:
    app = LocalGateway(mock=True)
    with pytest.raises(ValueError, match="method"):
        app.deploy(monitor, "monitor-fn", "CheckEmergencyEvent", method="FETCH")
    with pytest.raises(ValueError, match="event names"):
        app.deploy(monitor, "monitor-fn", [])
    with pytest.raises(ValueError, match="event names"):
        app.deploy(monitor, "", "CheckEmergencyEvent")


def test_callback_address_prefers_public_url() -> None:
    base = callback_base(SdkSettings(public_url="monitoring.home:8000/", port=9999),
                         {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "HOSTNAME": "monitoring-5d4f8-x2x7z",
                          "MONITORING_SERVICE_HOST": "10.43.0.7", "MONITORING_SERVICE_PORT": "80"})
    assert (base.url, base.source) == ("http://monitoring.home:8000", "PUBLIC_URL")


@pytest.mark.parametrize(("hostname", "service"), [("monitoring-5d4f8c9b6-x2x7z", "MONITORING"),
                                                   ("data-collector-5d4f8c9b6-x2x7z", "DATA_COLLECTOR"),
                                                   ("actuation-0", "ACTUATION")])
def test_callback_address_from_kubernetes_service_variables(hostname: str, service: str) -> None:
    env = {"KUBERNETES_SERVICE_PORT": "443", "HOSTNAME": hostname,
           f"{service}_SERVICE_HOST": "10.43.0.7", f"{service}_SERVICE_PORT": "8000"}
    base = callback_base(SdkSettings(), env)
    assert base.url == "http://10.43.0.7:8000"
    assert f"{service}_SERVICE_HOST" in base.source


def test_callback_address_falls_back_to_host_and_port(caplog: pytest.LogCaptureFixture) -> None:
    env = {"KUBERNETES_SERVICE_PORT": "443", "HOSTNAME": "monitoring-5d4f8c9b6-x2x7z"}  # no service vars
    base = callback_base(SdkSettings(host="127.0.0.1", port=8123), env)
    assert base.url == "http://127.0.0.1:8123" and "PORT" in base.source
    assert "set PUBLIC_URL" in caplog.text
    default = callback_base(SdkSettings(host="0.0.0.0"), {})
    assert default.url.endswith(":8000") and "default port" in default.source
    assert "0.0.0.0" not in default.url


def test_port_and_host_come_from_uvicorn_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UVICORN_PORT", "8765")
    monkeypatch.setenv("UVICORN_HOST", "127.0.0.1")
    assert callback_base(SdkSettings(), {}).url == "http://127.0.0.1:8765"
    monkeypatch.setenv("PORT", "8766")  # PORT wins over UVICORN_PORT
    assert callback_base(SdkSettings(), {}).url == "http://127.0.0.1:8766"


def test_known_functions_reads_the_usual_status_shapes() -> None:
    listed = [{"name": "a", "subs": ["E"]}, {"name": "b"}]
    assert set(known_functions(listed)) == {"a", "b"}
    assert set(known_functions({"functions": listed})) == {"a", "b"}
    assert set(known_functions({"functions": {"a": {"subs": ["E"]}}})) == {"a"}
    assert known_functions("nonsense") == {}


def test_mock_gateway_serves_routes_and_registers_nothing() -> None:
    double = SchedulerDouble()
    scheduler = ThreadedServer(double.app()).start()
    sock = reserve_port()
    app = LocalGateway(mock=True, settings=settings_for(scheduler.port, sock.getsockname()[1]))
    app.deploy(monitor, "monitor-fn", "CheckEmergencyEvent", path="dummy_monitor")
    component = ThreadedServer(app, sock).start()
    try:
        assert httpx.get(f"{component.url}/api/dummy_monitor").json() == {"status": "checked"}
        assert app.registrar is None
        assert double.registrations == [] and double.status_calls == 0
    finally:
        component.stop()
        scheduler.stop()


def test_debugging_mode_without_scheduler(caplog: pytest.LogCaptureFixture) -> None:
    app = LocalGateway(settings=settings_for(None, 8000))
    app.deploy(monitor, "monitor-fn", "CheckEmergencyEvent")
    assert app.registrar is None and "debugging mode" in caplog.text


def test_component_started_before_the_scheduler_registers_when_it_comes_up() -> None:
    scheduler_sock, sock = reserve_port(), reserve_port()
    app = LocalGateway(settings=settings_for(scheduler_sock.getsockname()[1], sock.getsockname()[1]))
    app.deploy(monitor, "monitor-fn", "CheckEmergencyEvent")
    app.deploy(notify, "notify-fn", ["EmergencyEvent", "AckEvent"], method="POST", path="send")
    component = ThreadedServer(app, sock).start()  # the scheduler is not there: startup must not fail
    double = SchedulerDouble()
    scheduler = None
    try:
        assert httpx.get(f"{component.url}/api/monitor").status_code == 200
        assert app.registered() == set()
        scheduler = ThreadedServer(double.app(), scheduler_sock).start()
        wait_for(lambda: app.registered() == {"monitor-fn", "notify-fn"}, what="both functions registered")
        assert double.functions["monitor-fn"] == {
            "name": "monitor-fn", "subs": ["CheckEmergencyEvent"], "url": f"{component.url}/api/monitor",
            "method": "GET"}
        assert double.functions["notify-fn"] == {
            "name": "notify-fn", "subs": ["EmergencyEvent", "AckEvent"], "url": f"{component.url}/api/send",
            "method": "POST"}
    finally:
        component.stop()
        if scheduler:
            scheduler.stop()


def test_component_registers_again_when_the_scheduler_forgets_it(caplog: pytest.LogCaptureFixture) -> None:
    double = SchedulerDouble()
    scheduler = ThreadedServer(double.app()).start()
    sock = reserve_port()
    app = LocalGateway(settings=settings_for(scheduler.port, sock.getsockname()[1]))
    app.deploy(monitor, "monitor-fn", "CheckEmergencyEvent")
    component = ThreadedServer(app, sock).start()
    try:
        wait_for(lambda: "monitor-fn" in double.functions, what="first registration")
        double.forget()
        wait_for(lambda: "monitor-fn" in double.functions, what="re-registration after the scheduler forgot")
        assert len(double.registrations) == 2
        assert "no longer knows function monitor-fn" in caplog.text
        # Changed subscriptions at the scheduler are corrected as well.
        double.functions["monitor-fn"] = {**double.functions["monitor-fn"], "subs": ["Other"]}
        wait_for(lambda: double.functions["monitor-fn"]["subs"] == ["CheckEmergencyEvent"],
                 what="subscriptions restored")
        # So is a function someone re-registered with another URL: the alerts would go there.
        ours = double.functions["monitor-fn"]["url"]
        double.functions["monitor-fn"] = {**double.functions["monitor-fn"], "url": "http://elsewhere.example/api/x"}
        wait_for(lambda: double.functions["monitor-fn"]["url"] == ours, what="URL taken back")
        assert "with URL http://elsewhere.example/api/x" in caplog.text
        double.functions["monitor-fn"] = {**double.functions["monitor-fn"], "method": "POST"}
        wait_for(lambda: double.functions["monitor-fn"]["method"] == "GET", what="method taken back")
        # The scheduler's own spelling of our URL (scheme added) is the same function.
        before = len(double.registrations)
        double.functions["monitor-fn"] = {**double.functions["monitor-fn"], "url": ours.removeprefix("http://")}
        with pytest.raises(TimeoutError):
            wait_for(lambda: len(double.registrations) > before, timeout=0.5, what="no needless re-registration")
    finally:
        component.stop()
        scheduler.stop()


def test_deploy_at_runtime_registers_and_replaces_the_route() -> None:
    double = SchedulerDouble()
    scheduler = ThreadedServer(double.app()).start()
    sock = reserve_port()
    app = LocalGateway(settings=settings_for(scheduler.port, sock.getsockname()[1], status_interval=3600))

    async def base_fn() -> dict[str, int]:
        app.deploy(notify, "demo-fn", "GenEvent")
        return {"status": 200}

    app.deploy(base_fn, "fn-fabric", "CreateFn")
    component = ThreadedServer(app, sock).start()
    try:
        wait_for(lambda: "fn-fabric" in double.functions, what="startup registration")
        for _ in range(3):  # the course's base_fn deploys again on every CreateFn
            assert httpx.get(f"{component.url}/api/base_fn").json() == {"status": 200}
        wait_for(lambda: "demo-fn" in double.functions, what="runtime registration")
        assert httpx.get(f"{component.url}/api/notify").json() == {"status": "notified"}
        assert [r.path for r in app.routes].count("/api/notify") == 1
    finally:
        component.stop()
        scheduler.stop()


def test_registration_carries_the_token_and_a_refusal_is_an_error(caplog: pytest.LogCaptureFixture) -> None:
    double = SchedulerDouble(token="s3cret")
    scheduler = ThreadedServer(double.app()).start()
    good_sock, bad_sock = reserve_port(), reserve_port()
    good = LocalGateway(settings=settings_for(scheduler.port, good_sock.getsockname()[1], token="s3cret"))
    good.deploy(monitor, "monitor-fn", "CheckEmergencyEvent")
    bad = LocalGateway(settings=settings_for(scheduler.port, bad_sock.getsockname()[1], token="wrong"))
    bad.deploy(notify, "notify-fn", "EmergencyEvent")
    servers = [ThreadedServer(good, good_sock).start(), ThreadedServer(bad, bad_sock).start()]
    try:
        wait_for(lambda: "monitor-fn" in double.functions, what="registration with the token")
        wait_for(lambda: "the scheduler refused function notify-fn with 401" in caplog.text,
                 what="the refusal logged")
        assert "notify-fn" not in double.functions
        assert any(r.levelno == logging.ERROR and "notify-fn" in r.getMessage() for r in caplog.records)
    finally:
        for server in servers:
            server.stop()
        scheduler.stop()


def test_a_users_lifespan_still_runs() -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    app = LocalGateway(False, settings=settings_for(None, 8000), lifespan=lifespan, title="monitoring")
    assert app.title == "monitoring"
    server = ThreadedServer(app).start()
    server.stop()
    assert events == ["startup", "shutdown"]


def test_empty_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "")
    monkeypatch.setenv("UVICORN_PORT", "8124")
    monkeypatch.setenv("SCH_SERVICE_NAME", "")
    settings = SdkSettings()
    assert settings.port == 8124 and settings.scheduler_url is None
    empty_k8s = {"KUBERNETES_SERVICE_HOST": "", "KUBERNETES_SERVICE_PORT": "", "HOSTNAME": "x-1-2"}
    assert callback_base(SdkSettings(host="127.0.0.1"), empty_k8s).url == "http://127.0.0.1:8124"


def test_token_file_wins_and_is_reread(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("first\n")
    settings = SdkSettings(token="ignored", token_file=secret)
    assert settings.headers() == {"Authorization": "Bearer first"}
    secret.write_text("rotated")
    assert settings.headers() == {"Authorization": "Bearer rotated"}
