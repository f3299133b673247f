"""The SDK against the REAL scheduler (`python -m hometwin scheduler`), both under uvicorn on 127.0.0.1.

The course-style component is tests/fixtures/course_component/main.py: the course's sample app
with only its import line changed. It runs as its own uvicorn process; uvicorn and the gateway
both read UVICORN_HOST/UVICORN_PORT, which is how the gateway knows the address to register.
"""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Depends

from hometwin.sdk import BaseEventFabric, Invocation, LocalGateway, PeriodicTrigger, SdkSettings, read_invocation
from tests.e2e.scheduler_helpers import Scheduler
from tests.servers import ServerProcess, free_port, wait_until
from tests.unit.test_sdk_support import ThreadedServer, reserve_port, reset_sdk

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "course_component"
TOKEN = "e2e-sdk-token"
DISPATCH_SECRET = secrets.token_hex(32)


@pytest.fixture(autouse=True)
def _fresh_sdk() -> Iterator[None]:
    reset_sdk()
    yield
    reset_sdk()


class Component:
    """The fixture component as a real uvicorn subprocess."""

    def __init__(self, tmp: Path, scheduler_port: int, token: str | None = None,
                 dispatch_secret: str | None = None) -> None:
        self.port = free_port()
        env = {"SCH_SERVICE_NAME": f"127.0.0.1:{scheduler_port}", "UVICORN_HOST": "127.0.0.1",
               "UVICORN_PORT": str(self.port), "HOMETWIN_SDK_STATUS_INTERVAL": "0.3",
               "HOMETWIN_SDK_BACKOFF_INITIAL": "0.1", "HOMETWIN_SDK_BACKOFF_MAX": "0.5",
               "HOMETWIN_SCHEDULER_TOKEN": token or "", "PUBLIC_URL": "", "PORT": "",
               "KUBERNETES_SERVICE_HOST": "", "KUBERNETES_SERVICE_PORT": "",
               "HOMETWIN_DISPATCH_SECRET": dispatch_secret or "", "HOMETWIN_DISPATCH_SECRET_FILE": ""}
        # With a dispatch secret, /openapi.json needs it as bearer token.
        self.headers = {"Authorization": f"Bearer {dispatch_secret}"} if dispatch_secret else {}
        self.log = tmp / f"component-{self.port}.log"
        self.process = ServerProcess([sys.executable, "-m", "uvicorn", "main:app", "--app-dir", str(FIXTURE)],
                                     self.log, env)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Component:
        self.process.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.process.alive():
            try:
                if httpx.get(f"{self.url}/openapi.json", headers=self.headers, timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.process.stop()
        raise RuntimeError(f"component did not start:\n{self.process.tail()}")

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def functions(scheduler: Scheduler) -> dict[str, dict[str, Any]]:
    response = scheduler.client.get("/api/status")
    response.raise_for_status()
    return {f["name"]: f for f in response.json()}


def wait_registered(scheduler: Scheduler, name: str, timeout: float = 20) -> dict[str, Any]:
    wait_until(lambda: name in functions(scheduler), timeout, interval=0.1, what=f"{name} registered")
    return functions(scheduler)[name]


@pytest.mark.slow
def test_course_component_registers_and_receives_its_invocations(tmp_path: Path) -> None:
    """Unchanged course code, with the scheduler token and the dispatch secret set in its
    environment: it registers, and accepts the invocations the real scheduler signed, only those."""
    scheduler = Scheduler(tmp_path / "state.sqlite", tmp_path / "scheduler.log",
                          env={"HOMETWIN_SCHEDULER_TOKEN": TOKEN, "HOMETWIN_DISPATCH_SECRET": DISPATCH_SECRET}).start()
    component = Component(tmp_path, scheduler.port, token=TOKEN, dispatch_secret=DISPATCH_SECRET).start()
    try:
        assert httpx.get(f"{component.url}/api/base_fn", timeout=10).status_code == 401  # unsigned
        fabric_fn = wait_registered(scheduler, "fn-fabric")
        assert fabric_fn["url"] == f"{component.url}/api/base_fn" and fabric_fn["subs"] == ["CreateFn"]
        assert fabric_fn["method"] == "GET"
        assert "demo-fn" not in functions(scheduler)
        scheduler.event("CreateFn")  # invokes base_fn, which deploys demo-fn at runtime
        demo = wait_registered(scheduler, "demo-fn")
        assert demo["url"] == f"{component.url}/api/demo" and demo["subs"] == ["GenEvent"]
        scheduler.event("GenEvent")
        wait_until(lambda: "HELLO WORLD!!! You did it! :D" in component.text(), 20, what="demo invoked")
        # The "delivered" mark is committed just after the component answers: wait for it.
        wait_until(lambda: {"fn-fabric", "demo-fn"} <= {
            i["function"] for i in scheduler.invocations(status="delivered")}, 10, what="delivered marks")
        assert "from host address and PORT/UVICORN_PORT" in component.text()
        assert "trigger for ExampleEventFabric scheduled: every 30s after 1m" in component.text()
        assert "Traceback" not in component.text()
        assert "accepts invocations from anyone" not in component.text()
    finally:
        component.process.stop()
        scheduler.stop()


@pytest.mark.slow
def test_component_started_before_the_scheduler_still_registers(tmp_path: Path) -> None:
    port = free_port()
    component = Component(tmp_path, port).start()  # no scheduler yet: it must start anyway
    scheduler = None
    try:
        assert httpx.get(f"{component.url}/api/base_fn").json() == {"status": 200}
        wait_until(lambda: "unavailable" in component.text(), 10, what="the retry logged")
        assert "HOMETWIN_DISPATCH_SECRET is unset: this component accepts invocations from anyone" in component.text()
        scheduler = Scheduler(tmp_path / "state.sqlite", tmp_path / "scheduler.log", port=port).start()
        assert wait_registered(scheduler, "fn-fabric")["url"] == f"{component.url}/api/base_fn"
        wait_until(lambda: "answers again" in component.text(), 10, what="the recovery logged")
    finally:
        component.process.stop()
        if scheduler:
            scheduler.stop()


@pytest.mark.slow
def test_scheduler_restarted_with_empty_state_gets_the_component_back(tmp_path: Path) -> None:
    first = Scheduler(tmp_path / "first.sqlite", tmp_path / "first.log").start()
    component = Component(tmp_path, first.port).start()
    second = None
    try:
        wait_registered(first, "fn-fabric")
        first.stop()
        # Same address, new empty state: as if its volume had been lost.
        second = Scheduler(tmp_path / "second.sqlite", tmp_path / "second.log", port=first.port).start()
        wait_registered(second, "fn-fabric")
        second.event("CreateFn")
        wait_registered(second, "demo-fn")
        wait_until(lambda: "no longer knows function fn-fabric" in component.text(), 10, what="the reason logged")
    finally:
        component.process.stop()
        first.stop()
        if second:
            second.stop()


class Tick(BaseEventFabric):
    def __init__(self, settings: SdkSettings) -> None:
        super().__init__(settings)
        self.count = 0

    def call(self, *args: Any, **kwargs: Any) -> tuple[str, Any]:
        self.count += 1
        return "SdkTickEvent", {"n": self.count}


@pytest.mark.slow
def test_trigger_fabric_scheduler_and_gateway_end_to_end(tmp_path: Path) -> None:
    """A duration trigger emits through the real scheduler into a POST function of a gateway."""
    scheduler = Scheduler(tmp_path / "state.sqlite", tmp_path / "scheduler.log").start()
    sock = reserve_port()
    settings = SdkSettings(scheduler=f"127.0.0.1:{scheduler.port}", public_url=f"127.0.0.1:{sock.getsockname()[1]}",
                           status_interval=0.3, backoff_initial=0.05, backoff_max=0.3)
    received: list[Invocation] = []
    app = LocalGateway(settings=settings)

    async def on_tick(invocation: Invocation = invocation_param()) -> dict[str, str]:
        received.append(invocation)
        return {"status": "ok"}

    app.deploy(on_tick, "on-tick", "SdkTickEvent", method="POST")
    gateway = ThreadedServer(app, sock).start()
    trigger = None
    try:
        wait_registered(scheduler, "on-tick")
        trigger = PeriodicTrigger(Tick(settings), "300ms")
        wait_until(lambda: len(received) >= 3, 20, interval=0.05, what="three ticks delivered")
        numbers = [inv["SdkTickEvent"].data["n"] for inv in received[:3]]
        assert numbers == sorted(numbers) and numbers[0] >= 1
        assert all(inv.idempotency_key and inv["SdkTickEvent"].timestamp for inv in received)
        assert len({inv.idempotency_key for inv in received}) == len(received)
    finally:
        if trigger:
            trigger.stop()
        gateway.stop()
        scheduler.stop()


@pytest.mark.slow
def test_event_emitted_while_the_scheduler_is_down_arrives_after_it_returns(tmp_path: Path) -> None:
    receiver_sock = reserve_port()
    settings_kwargs: dict[str, Any] = {"public_url": f"127.0.0.1:{receiver_sock.getsockname()[1]}",
                                       "status_interval": 0.3, "backoff_initial": 0.05, "backoff_max": 0.3,
                                       "retries": 1, "queue_retry_interval": 0.2}
    scheduler = Scheduler(tmp_path / "state.sqlite", tmp_path / "scheduler.log").start()
    settings = SdkSettings(scheduler=f"127.0.0.1:{scheduler.port}", **settings_kwargs)
    received: list[Invocation] = []
    app = LocalGateway(settings=settings)

    async def on_tick(invocation: Invocation = invocation_param()) -> dict[str, str]:
        received.append(invocation)
        return {"status": "ok"}

    app.deploy(on_tick, "on-tick", "SdkTickEvent", method="POST")
    gateway = ThreadedServer(app, receiver_sock).start()
    try:
        wait_registered(scheduler, "on-tick")
        scheduler.stop()  # the registration is durable in its state file
        fabric = Tick(settings)
        assert fabric() is False  # not accepted now, but kept
        scheduler = Scheduler(tmp_path / "state.sqlite", tmp_path / "scheduler2.log", port=scheduler.port).start()
        wait_until(lambda: len(received) == 1, 20, interval=0.05, what="the queued event delivered")
        assert received[0]["SdkTickEvent"].data == {"n": 1}
    finally:
        gateway.stop()
        scheduler.stop()


def invocation_param() -> Any:
    return Depends(read_invocation)
