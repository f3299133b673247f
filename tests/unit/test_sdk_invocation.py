"""Invocation parsing and the idempotency guard, through real HTTP (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Depends
from pydantic import BaseModel

from hometwin.adapters.stores import open_object_store
from hometwin.sdk import (
    IdempotencyGuard,
    InMemoryIdempotency,
    Invocation,
    LocalGateway,
    ObjectStoreIdempotency,
    event_data,
    parse_invocation,
    read_invocation,
)
from tests.unit.test_sdk_support import ThreadedServer, reset_sdk


class Alert(BaseModel):
    room: str
    severity: int


@pytest.fixture(autouse=True)
def _fresh_sdk() -> Iterator[None]:
    reset_sdk()
    yield
    reset_sdk()


def serve(app: LocalGateway) -> Iterator[httpx.Client]:
    server = ThreadedServer(app).start()
    with httpx.Client(base_url=server.url) as client:
        yield client
    server.stop()


HEADERS = {"Idempotency-Key": "inv-42", "X-Event-Ids": "e1, e2", "X-Invocation-Attempt": "2",
           "X-Function-Name": "notify"}


def test_parse_invocation_reads_events_and_headers() -> None:
    inv = parse_invocation({"EmergencyEvent": {"data": {"room": "bathroom", "severity": 2},
                                               "timestamp": "2025-03-30T01:30:00+00:00"},
                            "CheckEmergencyEvent": {"data": None, "timestamp": "2025-03-30T01:29:00Z"}},
                           HEADERS)
    assert sorted(inv.events) == ["CheckEmergencyEvent", "EmergencyEvent"]
    assert inv["EmergencyEvent"].timestamp is not None and inv["EmergencyEvent"].timestamp.utcoffset() is not None
    assert inv.data("EmergencyEvent", Alert) == Alert(room="bathroom", severity=2)
    assert (inv.idempotency_key, inv.invocation_id, inv.event_ids, inv.attempt, inv.function) == (
        "inv-42", "inv-42", ["e1", "e2"], 2, "notify")
    assert "EmergencyEvent" in inv and "Other" not in inv


def test_get_invocations_without_body_parse_empty() -> None:
    inv = parse_invocation(None, {})
    assert inv.events == {} and inv.idempotency_key is None and inv.attempt is None


@pytest.mark.parametrize(("body", "message"), [
    ([1, 2], "JSON object keyed by event name"),
    ({"EmergencyEvent": "text"}, "EmergencyEvent"),
    ({"EmergencyEvent": {"data": 1, "timestamp": "yesterday"}}, "EmergencyEvent.timestamp")])
def test_bad_invocation_bodies_fail_naming_the_field(body: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_invocation(body)


def test_data_validation_names_the_field() -> None:
    inv = parse_invocation({"EmergencyEvent": {"data": {"room": "hall", "severity": "high"}}})
    with pytest.raises(ValueError, match="EmergencyEvent.*severity"):
        inv.data("EmergencyEvent", Alert)
    with pytest.raises(KeyError, match="not in this invocation"):
        inv["Nope"]


def test_handlers_receive_typed_invocations_and_422_names_the_field() -> None:
    app = LocalGateway(mock=True)
    seen: list[Invocation] = []

    async def notify(invocation: Invocation = Depends(read_invocation)) -> dict[str, Any]:
        seen.append(invocation)
        return {"events": sorted(invocation.events)}

    async def alert(body: Alert = Depends(event_data("EmergencyEvent", Alert))) -> dict[str, Any]:
        return {"room": body.room}

    app.deploy(notify, "notify-fn", "EmergencyEvent", method="POST")
    app.deploy(alert, "alert-fn", "EmergencyEvent", method="POST")
    for client in serve(app):
        good = {"EmergencyEvent": {"data": {"room": "bathroom", "severity": 2}, "timestamp": "2025-01-01T00:00:00Z"}}
        assert client.post("/api/notify", json=good, headers=HEADERS).json() == {"events": ["EmergencyEvent"]}
        assert seen[0].idempotency_key == "inv-42" and seen[0].event_ids == ["e1", "e2"]
        assert client.post("/api/alert", json=good).json() == {"room": "bathroom"}
        bad = client.post("/api/alert", json={"EmergencyEvent": {"data": {"room": "bathroom"}}})
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["body", "EmergencyEvent", "data", "severity"]
        missing = client.post("/api/alert", json={"OtherEvent": {"data": 1}})
        assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "EmergencyEvent"]
        broken = client.post("/api/notify", content=b"{not json", headers={"content-type": "application/json"})
        assert broken.status_code == 422
        wrong = client.post("/api/notify", json={"EmergencyEvent": {"timestamp": "never"}})
        assert wrong.status_code == 422 and wrong.json()["detail"][0]["loc"][:2] == ["body", "EmergencyEvent"]


def guarded_app(guard: IdempotencyGuard, runs: list[str], fail_first: bool = False) -> LocalGateway:
    app = LocalGateway(mock=True)
    lock = threading.Lock()

    @guard.once
    async def send_mail(invocation: Invocation = Depends(read_invocation)) -> dict[str, Any]:
        with lock:
            runs.append(invocation.idempotency_key or "-")
            attempt = len(runs)
        await asyncio.sleep(0.2)  # long enough for a concurrent duplicate to arrive meanwhile
        if fail_first and attempt == 1:
            raise RuntimeError("SMTP down")
        return {"sent": attempt}

    app.deploy(send_mail, "send_mail", "EmergencyEvent", method="POST")
    assert [r.path for r in app.routes if r.path.startswith("/api")] == ["/api/send_mail"]
    return app


def test_a_duplicate_delivery_runs_the_handler_once_and_gets_the_same_answer() -> None:
    runs: list[str] = []
    for client in serve(guarded_app(IdempotencyGuard(), runs)):
        first = client.post("/api/send_mail", json={}, headers={"Idempotency-Key": "inv-1"})
        second = client.post("/api/send_mail", json={}, headers={"Idempotency-Key": "inv-1"})
        other = client.post("/api/send_mail", json={}, headers={"Idempotency-Key": "inv-2"})
        assert first.json() == second.json() == {"sent": 1}
        assert other.json() == {"sent": 2}
        client.post("/api/send_mail", json={})  # no key: simply runs
        assert runs == ["inv-1", "inv-2", "-"]


def test_concurrent_duplicates_run_once() -> None:
    runs: list[str] = []
    results: list[Any] = []
    for client in serve(guarded_app(IdempotencyGuard(), runs)):
        url = f"{str(client.base_url).rstrip('/')}/api/send_mail"

        def post(url: str = url) -> None:
            results.append(httpx.post(url, json={}, headers={"Idempotency-Key": "inv-9"}).json())

        threads = [threading.Thread(target=post) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert runs == ["inv-9"] and results == [{"sent": 1}] * 4


def test_a_failed_run_is_not_remembered_so_the_retry_runs_again() -> None:
    runs: list[str] = []
    for client in serve(guarded_app(IdempotencyGuard(), runs, fail_first=True)):
        with pytest.raises(httpx.HTTPError):
            client.post("/api/send_mail", json={}, headers={"Idempotency-Key": "inv-5"}).raise_for_status()
        # uvicorn closes the connection after a crashed handler; the retry comes on a new one.
        retry = httpx.post(f"{str(client.base_url).rstrip('/')}/api/send_mail", json={},
                           headers={"Idempotency-Key": "inv-5"})
        assert retry.json() == {"sent": 2} and runs == ["inv-5", "inv-5"]


@pytest.mark.parametrize("url", ["file", "memory://sdk-idempotency"])
def test_object_store_memory_survives_a_restart(url: str, tmp_path: Path) -> None:
    store_url = f"file://{tmp_path / 'state'}" if url == "file" else url
    runs: list[str] = []
    key = "inv/with odd:chars"  # not a safe object key: stored under its hash
    for client in serve(guarded_app(IdempotencyGuard(ObjectStoreIdempotency(open_object_store(store_url))), runs)):
        assert client.post("/api/send_mail", json={}, headers={"Idempotency-Key": key}).json() == {"sent": 1}
    # A new process: fresh guard, same store.
    memory = ObjectStoreIdempotency(open_object_store(store_url))
    assert memory.recall(key) is not None and memory.recall("never-seen") is None
    for client in serve(guarded_app(IdempotencyGuard(memory), runs)):
        assert client.post("/api/send_mail", json={}, headers={"Idempotency-Key": key}).json() == {"sent": 1}
    assert runs == [key]


def test_object_store_memory_needs_put_and_get() -> None:
    with pytest.raises(TypeError, match="ObjectStore"):
        ObjectStoreIdempotency(object())


def test_in_memory_idempotency_is_bounded() -> None:
    memory = InMemoryIdempotency(max_entries=3)
    for i in range(5):
        memory.remember(f"k{i}", {"i": i})
    assert memory.recall("k0") is None and memory.recall("k4") == {"i": 4}


def test_guard_run_works_for_plain_coroutines() -> None:
    guard = IdempotencyGuard()
    calls: list[int] = []

    async def work() -> int:
        calls.append(1)
        return 7

    async def main() -> list[int]:
        return [await guard.run("k", work), await guard.run("k", work), await guard.run(None, work)]

    assert asyncio.run(main()) == [7, 7, 7] and len(calls) == 2
