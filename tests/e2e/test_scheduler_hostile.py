"""The scheduler under hostile input, under uvicorn on 127.0.0.1 (issue 13 item 6).

Each test attacks it over HTTP and then checks that the scheduler process's resident memory
(VmRSS) stayed under a bound and that `GET /api/invocations` still answers: hostile JSON on the
fast path and on the routes, many functions, an event copied to many subscribers, a function
answering with a huge body.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.scheduler_helpers import Receiver, Scheduler, StreamingServer
from tests.servers import wait_until
from tests.unit.test_scheduler_json_input import REFUSED, nested

MAX_FUNCTIONS = 200
RSS_BOUND = 250 * 1024 * 1024  # started at about 75 MB; one 400 MB reply alone took it to 737 MB
FAST, ROUTED = "application/json", "application/vnd.test+json"  # EventFastPath takes only the first


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scheduler]:
    tmp = tmp_path_factory.mktemp("scheduler-hostile")
    s = Scheduler(tmp / "state.sqlite", tmp / "scheduler.log",
                  env={"HOMETWIN_SCHEDULER_MAX_FUNCTIONS": str(MAX_FUNCTIONS),
                       "HOMETWIN_SCHEDULER_SYNCHRONOUS": "NORMAL"}).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def still_serving(s: Scheduler) -> None:
    """The checks after every attack: memory bounded, the listing answers, no traceback logged."""
    assert s.rss() < RSS_BOUND, f"scheduler RSS {s.rss() / 2**20:.0f} MiB"
    response = s.client.get("/api/invocations", params={"limit": 10_000})
    assert response.status_code == 200, response.text
    assert "Traceback" not in Path(s.process.log).read_text(errors="replace")


def post(s: Scheduler, path: str, body: bytes, content_type: str = FAST) -> httpx.Response:
    return httpx.post(s.url + path, content=body, headers={"Content-Type": content_type}, timeout=30)


# -- hostile JSON ---------------------------------------------------------------------------------
@pytest.mark.parametrize("content_type", [FAST, ROUTED], ids=["fast-path", "route"])
@pytest.mark.parametrize(("body", "message"), REFUSED, ids=lambda v: repr(v)[:40])
def test_hostile_events_are_a_422_before_anything_is_stored(scheduler: Scheduler, content_type: str,
                                                           body: bytes, message: str):
    response = post(scheduler, "/api/event", body, content_type)
    assert response.status_code == 422, response.text
    assert re.search(message, response.text)


@pytest.mark.parametrize(("body", "message"), [
    (b'{"name": "f", "subs": ["E"], "url": "127.0.0.1:9/f", "timeout": NaN}', "NaN"),
    (b'{"name": "f", "subs": ["E"], "url": "127.0.0.1:9/f", "timeout": 1e999}', "out of range"),
    (b'{"name": "f\\ud800", "subs": ["E"], "url": "127.0.0.1:9/f"}', "lone surrogate"),
    (b'{"name": 5, "subs": ["\\udc00"], "url": "h:1/x"}', "lone surrogate"),  # would be echoed in the 422
    (b'{"name": "f", "subs": [' + b"[" * 70 + b"]" * 70 + b'], "url": "h:1/x"}', "nested deeper"),
])
def test_hostile_registrations_are_a_422(scheduler: Scheduler, body: bytes, message: str):
    response = post(scheduler, "/api/function", body)
    assert response.status_code == 422, response.text
    assert message in response.text


def test_lone_surrogates_in_the_path_and_query_are_harmless(scheduler: Scheduler):
    listed = scheduler.client.get("/api/invocations?function=%ED%A0%80&status=dead")
    assert listed.status_code == 200 and listed.json() == []
    replayed = scheduler.client.post("/api/invocations/%ED%A0%80/replay")
    assert replayed.status_code == 404, replayed.text
    assert scheduler.client.get("/api/invocations?limit=NaN").status_code == 422


def test_events_at_the_depth_limit_are_stored_and_listed(scheduler: Scheduler):
    scheduler.register("deep", ["Deep"], "127.0.0.1:9/deep", mock=True)
    for content_type in (FAST, ROUTED):
        assert post(scheduler, "/api/event", nested(64).replace(b'"E"', b'"Deep"'), content_type).status_code == 202
    deep = scheduler.invocations(function="deep")
    assert len(deep) == 2 and all(inv["status"] == "delivered" for inv in deep)
    still_serving(scheduler)


def test_after_hostile_json_the_scheduler_serves(scheduler: Scheduler):
    for body, _ in REFUSED:
        post(scheduler, "/api/event", body)
    assert scheduler.client.post("/api/event", json={"name": "E", "data": [1.5, "K\u00fcche"]}).status_code == 202
    still_serving(scheduler)


# -- caps -----------------------------------------------------------------------------------------
def test_registered_functions_are_capped(scheduler: Scheduler):
    existing = len(scheduler.client.get("/api/status").json())
    names = [f"many-{i}" for i in range(MAX_FUNCTIONS - existing)]
    for name in names:
        scheduler.register(name, ["Many"], "127.0.0.1:9/many", mock=True)
    refused = scheduler.client.post("/api/function", json={"name": "one-too-many", "subs": ["Many"],
                                                           "url": "127.0.0.1:9/x", "mock": True})
    assert refused.status_code == 409, refused.text
    assert f"{MAX_FUNCTIONS} functions are registered" in refused.text
    assert scheduler.register(names[0], ["Many", "More"], "127.0.0.1:9/many", mock=True)["changed"]
    still_serving(scheduler)
    for name in names:
        assert scheduler.client.request("DELETE", "/api/function", json={"name": name}).status_code == 200


def test_an_event_copied_to_many_subscribers_is_held_to_the_fan_out_budget(scheduler: Scheduler):
    """The reported attack, scaled to the cap: functions all subscribed to one event, then 50 KB
    events. Each would be stored once per function; over the 8 MiB budget they are refused."""
    fans = [f"fan-{i}" for i in range(MAX_FUNCTIONS - len(scheduler.client.get("/api/status").json()))]
    for name in fans:
        scheduler.register(name, ["Big"], "127.0.0.1:9/fan", mock=True)
    assert len(fans) * 50_000 > 8 * 2**20
    before = scheduler.rss()
    for content_type in (FAST, ROUTED):
        for n in range(5):
            body = b'{"name": "Big", "data": "' + b"x" * 50_000 + b'", "n": %d}' % n
            refused = post(scheduler, "/api/event", body, content_type)
            assert refused.status_code == 413, refused.text
            assert "fan-out budget" in refused.text
    fits = scheduler.client.post("/api/event", json={"name": "Big", "data": "x" * (8 * 2**20 // len(fans) - 100)})
    assert fits.status_code == 202 and fits.json()["subscribers"] == len(fans)
    assert scheduler.rss() - before < 64 * 2**20
    assert scheduler.state.stat().st_size < 64 * 2**20
    still_serving(scheduler)
    for name in fans:
        scheduler.client.request("DELETE", "/api/function", json={"name": name})


def test_a_huge_reply_is_cut_and_the_invocation_delivered(scheduler: Scheduler):
    server = StreamingServer()
    try:
        scheduler.register("huge", ["Huge"], f"{server.url}/200/{400 * 2**20}")
        scheduler.register("huge-503", ["Huge"], f"{server.url}/503/{400 * 2**20}", max_attempts=2)
        scheduler.event("Huge", {"n": 1})
        wait_until(lambda: [i["status"] for i in scheduler.invocations(function="huge")] == ["delivered"], 30,
                   what="the huge reply's invocation delivered")
        wait_until(lambda: [i["status"] for i in scheduler.invocations(function="huge-503")] == ["dead"], 30,
                   what="the huge 503s dead after two attempts")
        assert len(server.sent) >= 3 and max(server.sent) < 64 * 2**20  # cut off long before 400 MiB
        assert "reply longer than the cap, not read" in Path(scheduler.process.log).read_text()
        still_serving(scheduler)
    finally:
        server.stop()


def test_a_function_delivering_again_gets_its_exhausted_dead_letters(scheduler: Scheduler, receiver: Receiver):
    """Issue 13 item 3: an alert dead-lettered during an outage is replayed once the function is back."""
    receiver.script("/alert", [503, 503, 200])
    scheduler.register("alert", ["Emergency"], f"{receiver.base}/alert", max_attempts=2)
    lost = scheduler.event("Emergency", {"room": "bath"})["invocations"][0]
    wait_until(lambda: [i["status"] for i in scheduler.invocations(function="alert")] == ["dead"], 20,
               what="the alert dead-lettered")
    (dead,) = scheduler.invocations(status="dead", function="alert")
    assert dead["exhausted"] is True and dead["last_error"] == "HTTP 503"
    scheduler.event("Emergency", {"room": "hall"})  # the function is healthy again: 200
    wait_until(lambda: {r.key for r in receiver.for_path("/alert")} >= {lost}, 20, what="the dead alert replayed")
    wait_until(lambda: {i["status"] for i in scheduler.invocations(function="alert")} == {"delivered"}, 20,
               what="both alerts delivered")
    metrics = scheduler.client.get("/metrics").text
    assert 'hometwin_scheduler_invocations_auto_replayed_total{function="alert"} 1.0' in metrics
    still_serving(scheduler)
