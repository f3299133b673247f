"""The scheduler under uvicorn delivering to a real HTTP receiver: joins, retries, dead letters, isolation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.scheduler_helpers import Receiver, Scheduler
from tests.servers import free_port, wait_until


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scheduler]:
    tmp = tmp_path_factory.mktemp("scheduler-delivery")
    s = Scheduler(tmp / "state.sqlite", tmp / "scheduler.log").start()
    yield s
    s.stop()


def test_three_event_join_delivered_with_course_body_and_headers(scheduler: Scheduler, receiver: Receiver):
    scheduler.register("join3", ["J1", "J2", "J3"], f"{receiver.base}/join3")
    ids = {}
    for name in ["J2", "J1", "J2", "J3", "J1", "J3"]:  # interleaved: two complete joins
        data = {"from": name, "n": len(ids.get(name, []))}
        ids.setdefault(name, []).append(scheduler.event(name, data)["id"])
    wait_until(lambda: len(receiver.for_path("/join3")) == 2, 10, what="two joins delivered")
    first, second = sorted(receiver.for_path("/join3"), key=lambda r: r.at)
    # FIFO: the first join holds the first event of each subscription, in subscription order.
    assert first.event_ids == [ids["J1"][0], ids["J2"][0], ids["J3"][0]]
    assert second.event_ids == [ids["J1"][1], ids["J2"][1], ids["J3"][1]]
    assert set(first.body) == {"J1", "J2", "J3"}
    assert first.body["J2"]["data"] == {"from": "J2", "n": 0}
    assert second.body["J2"]["data"] == {"from": "J2", "n": 1}
    assert first.body["J1"]["timestamp"].endswith("+0000")
    assert first.key and first.key != second.key and first.attempt == 1 and first.method == "POST"
    status = {f["name"]: f for f in scheduler.client.get("/api/status").json()}["join3"]
    assert status["subs"] == ["J1", "J2", "J3"] and status["events"] == []
    assert isinstance(status["last_invoke"], int) and status["last_invoke"] > 1_600_000_000_000


def test_status_shows_partial_joins_like_the_course(scheduler: Scheduler):
    scheduler.register("partial", ["P1", "P2"], "127.0.0.1:9/never", mock=True)
    scheduler.event("P1")
    scheduler.event("P1")
    status = {f["name"]: f for f in scheduler.client.get("/api/status").json()}["partial"]
    assert status["events"] == [{"ready": ["P1"], "waiting": ["P2"]}] * 2
    assert status["last_invoke"] is None


def test_get_function_gets_headers_but_no_body(scheduler: Scheduler, receiver: Receiver):
    scheduler.register("getter", ["G"], f"{receiver.base}/getter", method="GET")
    event_id = scheduler.event("G", {"x": 1})["id"]
    wait_until(lambda: receiver.for_path("/getter"), 10, what="GET delivered")
    (got,) = receiver.for_path("/getter")
    assert got.method == "GET" and got.body is None and got.event_ids == [event_id] and got.key


def test_several_functions_sharing_an_event_each_get_a_copy(scheduler: Scheduler, receiver: Receiver):
    scheduler.register("share-a", ["S"], f"{receiver.base}/share-a")
    scheduler.register("share-b", ["S", "T"], f"{receiver.base}/share-b")
    s_id = scheduler.event("S", 1)["id"]
    t_id = scheduler.event("T", 2)["id"]
    wait_until(lambda: receiver.for_path("/share-a") and receiver.for_path("/share-b"), 10, what="both")
    assert receiver.for_path("/share-a")[0].event_ids == [s_id]
    assert receiver.for_path("/share-b")[0].event_ids == [s_id, t_id]


def test_503_then_200_is_retried_with_the_same_idempotency_key(scheduler: Scheduler, receiver: Receiver):
    receiver.script("/flaky", [503, 503, 200])
    scheduler.register("flaky", ["F"], f"{receiver.base}/flaky")
    scheduler.event("F")
    wait_until(lambda: receiver.for_path("/flaky"), 10, what="delivered after retries")
    attempts = receiver.for_path("/flaky", status=None)
    assert [a.status for a in attempts] == [503, 503, 200]
    assert len({a.key for a in attempts}) == 1
    assert [a.attempt for a in attempts] == [1, 2, 3]
    (row,) = scheduler.invocations(function="flaky")
    wait_until(lambda: scheduler.invocations(function="flaky")[0]["status"] == "delivered", 5, what="mark")
    assert row["id"] == attempts[0].key


def test_400_is_dead_at_once_and_can_be_replayed(scheduler: Scheduler, receiver: Receiver):
    receiver.script("/bad", [400])
    scheduler.register("bad", ["B"], f"{receiver.base}/bad")
    scheduler.event("B", {"v": 1})
    wait_until(lambda: scheduler.invocations("dead", "bad"), 10, what="dead letter")
    (dead,) = scheduler.invocations("dead", "bad")
    assert dead["attempts"] == 1 and dead["last_error"] == "HTTP 400"
    assert len(receiver.for_path("/bad", status=None)) == 1
    receiver.script("/bad", [200])
    response = scheduler.client.post(f"/api/invocations/{dead['id']}/replay")
    assert response.status_code == 200 and response.json()["replayed"] == [dead["id"]]
    wait_until(lambda: receiver.for_path("/bad"), 10, what="replayed delivery")
    assert receiver.for_path("/bad")[0].key == dead["id"]
    assert scheduler.client.post(f"/api/invocations/{dead['id']}/replay").status_code == 404


def test_receiver_down_then_up_is_delivered_after_recovery(scheduler: Scheduler):
    port = free_port()
    scheduler.register("later", ["L"], f"127.0.0.1:{port}/later", max_attempts=100)
    event_id = scheduler.event("L")["id"]
    wait_until(lambda: scheduler.invocations("pending", "later")[0]["attempts"] >= 2, 10,
               what="failed attempts")
    late = Receiver(port).start()
    try:
        wait_until(lambda: late.for_path("/later"), 10, what="delivery after the receiver came up")
        assert late.for_path("/later")[0].event_ids == [event_id]
    finally:
        late.stop()


def test_slow_function_does_not_delay_another(scheduler: Scheduler, receiver: Receiver):
    receiver.script("/slow", [200], delay=3.0)
    scheduler.register("slow", ["W"], f"{receiver.base}/slow", concurrency=1, timeout=10)
    scheduler.register("quick", ["Q"], f"{receiver.base}/quick")
    for _ in range(3):
        scheduler.event("W")
    sent = time.time()
    scheduler.event("Q")
    wait_until(lambda: receiver.for_path("/quick"), 5, what="quick delivery")
    assert receiver.for_path("/quick")[0].at - sent < 2.0
    assert not receiver.for_path("/slow")  # the slow one is still on its first call


def test_mock_function_consumes_events_without_calling(scheduler: Scheduler, receiver: Receiver):
    scheduler.register("mocked", ["M"], f"{receiver.base}/mocked", mock=True)
    scheduler.event("M")
    wait_until(lambda: scheduler.invocations("delivered", "mocked"), 5, what="mock completion")
    time.sleep(0.2)
    assert receiver.for_path("/mocked", status=None) == []


def test_unsubscribed_event_is_accepted_and_counted(scheduler: Scheduler):
    before = _metric(scheduler, 'hometwin_scheduler_events_received_total{subscribed="false"}')
    reply = scheduler.event("NobodyListens", {"x": 1})
    assert reply["subscribers"] == 0 and reply["invocations"] == []
    assert _metric(scheduler, 'hometwin_scheduler_events_received_total{subscribed="false"}') == before + 1


def test_reregistering_identical_function_keeps_pending_events(scheduler: Scheduler, receiver: Receiver):
    scheduler.register("keep", ["K1", "K2"], f"{receiver.base}/keep")
    k1 = scheduler.event("K1")["id"]
    again = scheduler.register("keep", ["K1", "K2"], f"{receiver.base}/keep")
    assert again["changed"] is False and again["dropped_events"] == 0
    k2 = scheduler.event("K2")["id"]
    wait_until(lambda: receiver.for_path("/keep"), 10, what="join across re-registration")
    assert receiver.for_path("/keep")[0].event_ids == [k1, k2]


def test_metrics_and_health(scheduler: Scheduler):
    assert scheduler.client.get("/healthz").json() == {"status": "ok"}
    assert scheduler.client.get("/readyz").status_code == 200
    text = scheduler.client.get("/metrics").text
    for name in ("hometwin_scheduler_invocations_delivered_total", "hometwin_scheduler_outbox_depth",
                 "hometwin_scheduler_end_to_end_seconds_bucket",
                 "hometwin_scheduler_invocations_retried_total",
                 "hometwin_scheduler_invocations_dead_total"):
        assert name in text


def test_one_log_line_per_state_change(scheduler: Scheduler, receiver: Receiver):
    receiver.script("/logged", [503, 200])
    scheduler.register("logged", ["LG"], f"{receiver.base}/logged")
    scheduler.event("LG")
    wait_until(lambda: receiver.for_path("/logged"), 10, what="delivery")
    (row,) = scheduler.invocations(function="logged")
    wait_until(lambda: '"state": "delivered"' in _lines(scheduler.process.log, row["id"])[-1], 5, what="log")
    states = [line.split('"state": "')[1].split('"')[0] for line in _lines(scheduler.process.log, row["id"])]
    assert states == ["pending", "retrying", "delivered"]


def _lines(log: Path, invocation_id: str) -> list[str]:
    return [line for line in log.read_text().splitlines() if invocation_id in line and '"state"' in line]


def _metric(scheduler: Scheduler, sample: str) -> float:
    for line in scheduler.client.get("/metrics").text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    return 0.0


def test_timeout_is_retried_then_dead_lettered(scheduler: Scheduler, receiver: Receiver):
    receiver.script("/sleepy", [200], delay=1.0)
    scheduler.register("sleepy", ["SL"], f"{receiver.base}/sleepy", timeout=0.2, max_attempts=2)
    scheduler.event("SL")
    wait_until(lambda: scheduler.invocations("dead", "sleepy"), 10, what="dead after timeouts")
    (dead,) = scheduler.invocations("dead", "sleepy")
    assert dead["attempts"] == 2 and dead["last_error"] == "timeout after 0.2s"


def test_429_honours_retry_after(scheduler: Scheduler, receiver: Receiver):
    receiver.script("/busy", [429, 200])
    receiver.retry_after["/busy"] = "0.4"  # under the test's backoff cap of 0.5 s
    scheduler.register("busy", ["BZ"], f"{receiver.base}/busy")
    scheduler.event("BZ")
    wait_until(lambda: receiver.for_path("/busy"), 10, what="delivery after 429")
    first, second = receiver.for_path("/busy", status=None)
    # Our own first backoff here is at most 0.05 s; only the Retry-After makes it wait 0.4 s.
    assert first.status == 429 and second.at - first.at >= 0.35


def test_join_window_expires_and_records_partial_joins(scheduler: Scheduler, receiver: Receiver):
    before = _metric(scheduler, 'hometwin_scheduler_events_dropped_total{reason="expired"}')
    scheduler.register("windowed", ["WA", "WB"], f"{receiver.base}/windowed", join_window=0.5)
    scheduler.event("WA")
    wait_until(lambda: _metric(scheduler, 'hometwin_scheduler_events_dropped_total{reason="expired"}')
               == before + 1, 5, what="expiry")
    status = {f["name"]: f for f in scheduler.client.get("/api/status").json()}["windowed"]
    assert status["events"] == []
    scheduler.event("WB")  # alone now: no join with the expired WA
    time.sleep(0.3)
    assert receiver.for_path("/windowed", status=None) == []
