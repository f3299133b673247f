"""Event fabrics over real HTTP against a scripted scheduler (see test_sdk_support for why scripted)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from hometwin.sdk import BaseEventFabric, ExampleEventFabric, SdkSettings
from hometwin.sdk.event import outbox_for
from tests.servers import free_port
from tests.unit.test_sdk_support import SchedulerDouble, ThreadedServer, reserve_port, reset_sdk, wait_for


@pytest.fixture(autouse=True)
def _fresh_sdk() -> Iterator[None]:
    reset_sdk()
    yield
    reset_sdk()


@pytest.fixture
def double() -> Iterator[SchedulerDouble]:
    double = SchedulerDouble()
    server = ThreadedServer(double.app()).start()
    double.url = server.url
    yield double
    server.stop()


def fast(scheduler: str | None, **overrides: Any) -> SdkSettings:
    """Settings with short backoff so retry tests take milliseconds."""
    values: dict[str, Any] = {"scheduler": scheduler, "backoff_initial": 0.01, "backoff_max": 0.05,
                              "retries": 3, "queue_retry_interval": 0.1, **overrides}
    return SdkSettings(**values)


class RoomEvent(BaseEventFabric):
    def __init__(self, room: str, settings: SdkSettings | None = None) -> None:
        super().__init__(settings)
        self.room = room

    def call(self, *args: Any, **kwargs: Any) -> tuple[str, Any]:
        return "RoomEvent", {"room": self.room, **kwargs}


def test_example_fabric_is_the_courses() -> None:
    assert ExampleEventFabric(fast(None)).call() == ("GenEvent", None)


def test_debugging_mode_when_no_scheduler_is_configured(monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("SCH_SERVICE_NAME", raising=False)
    caplog.set_level(logging.INFO, "hometwin.sdk")
    fabric = ExampleEventFabric()
    assert fabric.debugging_mode and fabric.scheduler is None
    assert fabric() is False
    assert "debugging mode: event GenEvent" in caplog.text


def test_event_is_posted_with_scheme_added_and_accepted(double: SchedulerDouble,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    address = double.url.removeprefix("http://")
    monkeypatch.setenv("SCH_SERVICE_NAME", address)  # the course's form: host:port, no scheme
    fabric = RoomEvent("kitchen")
    assert fabric.scheduler == f"http://{address}"
    assert fabric(level=2) is True
    assert double.events == [{"name": "RoomEvent", "data": {"room": "kitchen", "level": 2}}]
    assert double.auth_headers == [None]


def test_token_header_is_sent_when_configured(double: SchedulerDouble,
                                              caplog: pytest.LogCaptureFixture) -> None:
    double.token = "s3cret"
    assert ExampleEventFabric(fast(double.url, token="s3cret"))() is True
    assert double.auth_headers[-1] == "Bearer s3cret"
    assert ExampleEventFabric(fast(double.url, token="wrong"))() is False
    assert "event GenEvent LOST: the scheduler refused it with 401" in caplog.text
    assert double.event_names() == ["GenEvent"]


@pytest.mark.parametrize("answers", [[503, 503], [429], [500, 502, 504]])
def test_connection_errors_429_and_5xx_are_retried(double: SchedulerDouble, answers: list[int]) -> None:
    double.event_answers.extend(answers)
    assert ExampleEventFabric(fast(double.url))() is True
    assert double.event_attempts == len(answers) + 1
    assert double.event_names() == ["GenEvent"]


def test_other_4xx_is_not_retried_and_logged_as_lost(double: SchedulerDouble,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    double.event_answers.append(422)
    assert RoomEvent("bathroom", fast(double.url))() is False
    assert double.event_attempts == 1
    lost = [r for r in caplog.records if r.levelno == logging.ERROR and "RoomEvent" in r.getMessage()]
    assert lost and "422" in lost[0].getMessage()
    assert outbox_for(fast(double.url)).pending() == []


def test_undeliverable_events_wait_in_order_and_are_delivered_when_the_scheduler_returns(
        caplog: pytest.LogCaptureFixture) -> None:
    sock = reserve_port()  # nothing listens here yet: connection refused
    port = sock.getsockname()[1]
    settings = fast(f"127.0.0.1:{port}", retries=1)
    assert RoomEvent("a", settings)() is False
    assert RoomEvent("b", settings)() is False
    assert outbox_for(settings).pending() == ["RoomEvent", "RoomEvent"]
    assert "queued locally" in caplog.text
    double = SchedulerDouble()
    server = ThreadedServer(double.app(), sock).start()
    try:
        wait_for(lambda: len(double.events) == 2, what="queued events delivered by the background retry")
        assert RoomEvent("c", settings)() is True
        assert [e["data"]["room"] for e in double.events] == ["a", "b", "c"]
        assert outbox_for(settings).pending() == []
    finally:
        server.stop()


def test_new_events_queue_behind_older_ones_to_keep_order(double: SchedulerDouble) -> None:
    settings = fast(double.url, retries=0, queue_retry_interval=3600)
    double.event_answers.extend([503, 503])
    assert RoomEvent("first", settings)() is False  # 503: queued
    assert RoomEvent("second", settings)() is False  # queue flush meets 503 again: queued behind
    assert RoomEvent("third", settings)() is True   # flush delivers first and second, then third
    assert [e["data"]["room"] for e in double.events] == ["first", "second", "third"]


def test_a_full_queue_drops_the_oldest_with_an_error_naming_it(caplog: pytest.LogCaptureFixture) -> None:
    settings = fast(f"127.0.0.1:{free_port()}", retries=0, queue_size=2, queue_retry_interval=3600)

    class Named(BaseEventFabric):
        def __init__(self, name: str) -> None:
            super().__init__(settings)
            self.name = name

        def call(self, *args: Any, **kwargs: Any) -> tuple[str, Any]:
            return self.name, None

    for name in ("OldestEvent", "MiddleEvent", "NewestEvent"):
        assert Named(name)() is False
    assert outbox_for(settings).pending() == ["MiddleEvent", "NewestEvent"]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("OldestEvent LOST" in m and "queue is full" in m for m in errors), errors


def test_events_still_queued_at_exit_are_reported_lost(caplog: pytest.LogCaptureFixture) -> None:
    settings = fast(f"127.0.0.1:{free_port()}", retries=0, queue_retry_interval=3600)
    assert RoomEvent("hall", settings)() is False
    outbox_for(settings).close()
    assert any(r.levelno == logging.ERROR and "RoomEvent LOST" in r.getMessage() and "exit" in r.getMessage()
               for r in caplog.records)


def test_call_must_return_a_name() -> None:
    class Broken(BaseEventFabric):
        def call(self, *args: Any, **kwargs: Any) -> tuple[str, Any]:
            return "", None

    with pytest.raises(TypeError, match="must return"):
        Broken(fast(None))()


def test_acall_does_not_block_the_event_loop(double: SchedulerDouble) -> None:
    double.event_answers.extend([503, 503])  # the retries sleep in a worker thread, not in the loop
    fabric = ExampleEventFabric(fast(double.url, backoff_initial=0.2, backoff_max=0.2))

    async def main() -> tuple[bool, int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        accepted = await fabric.acall()
        ticker.cancel()
        return accepted, ticks

    accepted, ticks = asyncio.run(main())
    assert accepted is True and double.event_names() == ["GenEvent"]
    assert ticks > 10, "the event loop kept running while the fabric retried"
