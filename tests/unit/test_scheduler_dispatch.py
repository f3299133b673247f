"""Delivery rules per answer: delivered, retried after capped jittered backoff (Retry-After), dead.

The rules are driven through `ScriptedTransport`, a fake at the `Transport` seam (httpx's
MockTransport habit): a real receiver cannot be told to drop a connection or time out on cue, and
answering through the seam keeps these tests free of sockets and wall-clock waits. Real HTTP
delivery is covered by tests/e2e/test_scheduler_delivery.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, replace

import pytest

from hometwin.backoff import Backoff
from hometwin.config import SchedulerSettings
from hometwin.scheduler.core import FunctionSpec
from hometwin.scheduler.dispatch import DeliveryPolicy, Dispatcher
from hometwin.scheduler.errors import TransportFailure
from hometwin.scheduler.metrics import SchedulerMetrics
from hometwin.scheduler.state import DELIVERED, Invocation, Outcome
from hometwin.scheduler.transport import Answer

POLICY = DeliveryPolicy(timeout=10.0, max_attempts=12, concurrency=4, backoff_initial=0.5, backoff_max=60.0)
INVOCATION = Invocation("inv-1", "f", "http://x/f", "POST", False, '{"A": {"data": 1, "timestamp": "t"}}',
                        ("e-1", "e-2"), created_at=1.0)


@dataclass(frozen=True)
class Sent:
    method: str
    url: str
    body: bytes | None
    headers: dict[str, str]
    timeout: float


class ScriptedTransport:
    """Answers each send with the next scripted Answer, or raises the scripted exception; 200 once
    the script is used up. Records what was sent."""

    def __init__(self, *script: Answer | Exception) -> None:
        self.script: deque[Answer | Exception] = deque(script)
        self.sent: list[Sent] = []

    async def send(self, method: str, url: str, body: bytes | None, headers: dict[str, str],
                   timeout: float) -> Answer:
        self.sent.append(Sent(method, url, body, headers, timeout))
        step = self.script.popleft() if self.script else Answer(200)
        if isinstance(step, Exception):
            raise step
        return step


def deliver_once(answer: Answer | Exception, inv: Invocation = INVOCATION, policy: DeliveryPolicy = POLICY,
                 spec: FunctionSpec | None = None) -> tuple[Outcome, ScriptedTransport]:
    """One delivery attempt; the outcome it records and the transport that saw it."""
    transport = ScriptedTransport(answer)
    outcomes: list[Outcome] = []

    async def attempt() -> None:
        dispatcher = Dispatcher(transport, policy, lambda name: spec, outcomes.append,
                                SchedulerMetrics(lambda: 0.0))
        await dispatcher.deliver(inv)
        await dispatcher.close()  # cancels the retry timer the attempt may have set

    asyncio.run(attempt())
    (outcome,) = outcomes
    return outcome, transport


# -- the policy's backoff (the shared rule, hometwin/backoff.py, is tested in test_backoff.py) -------
@pytest.mark.parametrize(("attempt", "ceiling"), [(1, 0.5), (2, 1.0), (3, 2.0), (7, 32.0), (8, 60.0), (30, 60.0)])
def test_backoff_doubles_is_capped_and_jittered(attempt: int, ceiling: float):
    policy = DeliveryPolicy(backoff_initial=0.5, backoff_max=60.0)
    delays = [policy.backoff(attempt) for _ in range(200)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len({round(d, 6) for d in delays}) > 100  # jittered, not a fixed step


def test_retry_after_is_honoured_up_to_the_cap():
    policy = DeliveryPolicy(backoff_initial=0.5, backoff_max=60.0)
    assert policy.backoff(1, retry_after=7.0) == 7.0
    assert policy.backoff(1, retry_after=3600.0) == 60.0


# -- rules per answer, through the transport -------------------------------------------------------
@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_2xx_is_delivered(status: int):
    outcome, _ = deliver_once(Answer(status))
    assert (outcome.status, outcome.attempts, outcome.error) == ("delivered", 1, None)


@pytest.mark.parametrize("answer", [TransportFailure("ConnectionRefusedError: refused"),
                                    TransportFailure("timeout after 10s"),
                                    Answer(408), Answer(425), Answer(429), Answer(500), Answer(502),
                                    Answer(503), Answer(504)], ids=repr)
def test_connection_errors_timeouts_429_and_5xx_are_retried(answer: Answer | Exception):
    outcome, _ = deliver_once(answer)
    assert (outcome.status, outcome.attempts) == ("pending", 1)
    assert 0.25 <= outcome.next_attempt_at - outcome.at <= 0.5  # the first backoff step
    assert outcome.error == (str(answer) if isinstance(answer, Exception) else f"HTTP {answer.status}")


@pytest.mark.parametrize("status", [301, 304, 400, 401, 403, 404, 409, 410, 422])
def test_other_answers_are_dead_at_once(status: int):
    outcome, _ = deliver_once(Answer(status))
    assert (outcome.status, outcome.attempts, outcome.error) == ("dead", 1, f"HTTP {status}")


@pytest.mark.parametrize(("earlier_attempts", "ceiling"), [(1, 1.0), (2, 2.0), (6, 32.0), (9, 60.0)])
def test_each_retry_waits_twice_as_long_up_to_the_cap(earlier_attempts: int, ceiling: float):
    outcome, transport = deliver_once(Answer(503), replace(INVOCATION, attempts=earlier_attempts))
    assert outcome.attempts == earlier_attempts + 1
    assert transport.sent[0].headers["X-Invocation-Attempt"] == str(earlier_attempts + 1)
    assert ceiling / 2 <= outcome.next_attempt_at - outcome.at <= ceiling


@pytest.mark.parametrize(("answer", "expected"), [
    (Answer(429, "3"), 3.0), (Answer(503, "1.5"), 1.5), (Answer(500, "3"), None),
    (Answer(429, "Wed, 21 Oct 2015 07:28:00 GMT"), None), (Answer(429, None), None),
])
def test_retry_after_header(answer: Answer, expected: float | None):
    outcome, _ = deliver_once(answer)
    delay = outcome.next_attempt_at - outcome.at
    if expected is None:  # not honoured: our own first step
        assert 0.25 <= delay <= 0.5
    else:
        assert delay == pytest.approx(expected)


def test_retry_after_is_capped():
    outcome, _ = deliver_once(Answer(429, "86400"))
    assert outcome.next_attempt_at - outcome.at == pytest.approx(60.0)


def test_retryable_failures_are_dead_after_max_attempts():
    outcome, _ = deliver_once(Answer(503), replace(INVOCATION, attempts=11))
    assert (outcome.status, outcome.attempts, outcome.error) == ("dead", 12, "HTTP 503")


def test_a_function_s_own_limits_win():
    spec = FunctionSpec("f", ("A",), "http://x/f", "POST", timeout=2.5, max_attempts=2)
    outcome, transport = deliver_once(TransportFailure("timeout after 2.5s"), replace(INVOCATION, attempts=1),
                                      spec=spec)
    assert outcome.status == "dead" and transport.sent[0].timeout == 2.5
    outcome, transport = deliver_once(Answer(503), spec=spec)
    assert outcome.status == "pending" and transport.sent[0].timeout == 2.5


def test_what_is_sent():
    _, transport = deliver_once(Answer(200))
    (sent,) = transport.sent
    assert (sent.method, sent.url, sent.timeout) == ("POST", "http://x/f", 10.0)
    assert sent.body == INVOCATION.body.encode()
    assert sent.headers == {"Idempotency-Key": "inv-1", "X-Event-Ids": "e-1,e-2", "X-Invocation-Attempt": "1",
                            "X-Function-Name": "f"}
    _, transport = deliver_once(Answer(200), replace(INVOCATION, method="GET"))
    assert transport.sent[0].body is None  # as the course scheduler: no body for GET


# -- the lanes: retries come back through the timer until delivered --------------------------------
def run_lanes(transport: ScriptedTransport, invocations: list[Invocation], expected_outcomes: int,
              policy: DeliveryPolicy) -> list[Outcome]:
    outcomes: list[Outcome] = []

    async def main() -> None:
        dispatcher = Dispatcher(transport, policy, lambda name: None, outcomes.append,
                                SchedulerMetrics(lambda: 0.0))
        dispatcher.enqueue(invocations)
        for _ in range(500):
            if len(outcomes) >= expected_outcomes and not dispatcher.outstanding:
                break
            await asyncio.sleep(0.002)
        await dispatcher.close()

    asyncio.run(main())
    return outcomes


def test_retries_are_delivered_through_the_lane():
    quick = replace(POLICY, backoff_initial=0.001, backoff_max=0.002)
    transport = ScriptedTransport(TransportFailure("reset"), Answer(503), Answer(200))
    outcomes = run_lanes(transport, [INVOCATION], 3, quick)
    assert [(o.status, o.attempts) for o in outcomes] == [("pending", 1), ("pending", 2), ("delivered", 3)]
    assert [s.headers["X-Invocation-Attempt"] for s in transport.sent] == ["1", "2", "3"]
    assert {s.headers["Idempotency-Key"] for s in transport.sent} == {"inv-1"}


def test_a_crashing_attempt_records_nothing_and_is_tried_again():
    quick = replace(POLICY, backoff_initial=0.001, backoff_max=0.002)
    transport = ScriptedTransport(RuntimeError("a bug in the transport"), Answer(200))
    outcomes = run_lanes(transport, [INVOCATION], 1, quick)
    assert [(o.status, o.attempts) for o in outcomes] == [("delivered", 1)]  # the row stayed pending
    assert len(transport.sent) == 2


def test_mock_invocations_are_never_sent():
    transport = ScriptedTransport()
    outcomes = run_lanes(transport, [replace(INVOCATION, status=DELIVERED)], 0, POLICY)
    assert transport.sent == [] and outcomes == []


# -- recovered retries, exhausted dead letters and their automatic replay ---------------------------
def test_a_recovered_retry_waits_at_most_the_backoff_cap():
    """A next attempt stored by a clock that ran days ahead is due within the cap after a restart."""
    quick = replace(POLICY, backoff_max=0.01)
    far = replace(INVOCATION, attempts=3, next_attempt_at=time.time() + 30 * 86400)
    transport = ScriptedTransport(Answer(200))
    outcomes = run_lanes(transport, [far], 1, quick)
    assert [(o.status, o.attempts) for o in outcomes] == [("delivered", 4)]


@pytest.mark.parametrize(("answer", "exhausted"), [(Answer(503), True), (TransportFailure("reset"), True),
                                                   (Answer(429), True), (Answer(404), False),
                                                   (Answer(400), False)], ids=repr)
def test_dead_letters_say_whether_they_ran_out_of_retryable_attempts(answer: Answer | Exception, exhausted: bool):
    outcome, _ = deliver_once(answer, replace(INVOCATION, attempts=11))
    assert (outcome.status, outcome.exhausted) == ("dead", exhausted)


def test_the_default_policy_retries_for_hours():
    """500 attempts, backoff from 0.5 s doubling to 60 s, jittered to 50-100 %: 4.1 to 8.2 hours."""
    policy = DeliveryPolicy()
    ceilings = [Backoff(policy.backoff_initial, policy.backoff_max).ceiling(n) for n in range(1, policy.max_attempts)]
    assert 4 * 3600 < sum(ceilings) / 2 and sum(ceilings) < 8.25 * 3600
    settings = SchedulerSettings()
    assert (settings.scheduler_max_attempts, settings.scheduler_backoff_initial, settings.scheduler_backoff_max) == (
        policy.max_attempts, policy.backoff_initial, policy.backoff_max)


def test_a_reply_over_the_cap_is_delivered_with_a_note(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, "hometwin.scheduler.delivery")
    outcome, _ = deliver_once(Answer(200, reply_cut=True))
    assert (outcome.status, outcome.attempts) == ("delivered", 1)
    assert "reply longer than the cap, not read" in caplog.text
    outcome, _ = deliver_once(Answer(503, reply_cut=True))
    assert outcome.status == "pending"  # the status decides, as for any reply


class ReplayRecorder:
    """Stands in for the writer's Replay command (the seam `replay_exhausted`): returns the scripted
    batches one per call and records which function was asked for."""

    def __init__(self, *batches: list[Invocation]) -> None:
        self.batches = deque(batches)
        self.calls: list[str] = []

    async def __call__(self, function: str) -> list[Invocation]:
        self.calls.append(function)
        return self.batches.popleft() if self.batches else []


def run_with_replay(transport: ScriptedTransport, invocations: list[Invocation], replay: ReplayRecorder,
                    until: int, policy: DeliveryPolicy = POLICY) -> tuple[list[Outcome], SchedulerMetrics]:
    outcomes: list[Outcome] = []
    metrics = SchedulerMetrics(lambda: 0.0)

    async def main() -> None:
        dispatcher = Dispatcher(transport, policy, lambda name: None, outcomes.append, metrics, replay)

        async def replay_and_enqueue(function: str) -> list[Invocation]:
            batch = await replay(function)
            dispatcher.enqueue(batch)  # as the writer hands committed replays to the dispatcher
            return batch

        dispatcher.replay_exhausted = replay_and_enqueue
        dispatcher.enqueue(invocations)
        for _ in range(500):
            if len(outcomes) >= until and not dispatcher.outstanding and not dispatcher._replaying:
                break
            await asyncio.sleep(0.002)
        await dispatcher.close()

    asyncio.run(main())
    return outcomes, metrics


def test_a_delivery_replays_the_function_s_exhausted_dead_letters(caplog: pytest.LogCaptureFixture):
    missed = [replace(INVOCATION, id=f"missed-{n}") for n in range(2)]
    replay = ReplayRecorder(missed)
    outcomes, metrics = run_with_replay(ScriptedTransport(), [INVOCATION], replay, until=3)
    assert [(o.invocation_id, o.status) for o in outcomes] == [
        ("inv-1", "delivered"), ("missed-0", "delivered"), ("missed-1", "delivered")]
    # The first delivery after start looks once; a batch that replayed something looks once more.
    assert replay.calls == ["f", "f"]
    assert metrics.auto_replayed.labels("f")._value.get() == 2
    assert "2 dead invocations replayed automatically" in caplog.text


@pytest.mark.parametrize(("middle", "looks"), [(Answer(503), 2), (Answer(404), 1)], ids=["exhausted", "refused"])
def test_only_an_exhausted_dead_letter_makes_the_next_delivery_look_again(middle: Answer, looks: int):
    """a delivered (the first look), b dead (max_attempts 1), c delivered: it looks again only if b
    ran out of retryable attempts; a function refusing with a 4xx gets nothing replayed."""
    quick = replace(POLICY, max_attempts=1)
    now = time.time()
    invocations = [replace(INVOCATION, id=id_, next_attempt_at=now + delay)
                   for id_, delay in [("a", 0.0), ("b", 0.05), ("c", 0.1)]]
    replay = ReplayRecorder()
    outcomes, _ = run_with_replay(ScriptedTransport(Answer(200), middle, Answer(200)), invocations, replay,
                                  until=3, policy=quick)
    assert [(o.invocation_id, o.status) for o in outcomes] == [("a", "delivered"), ("b", "dead"), ("c", "delivered")]
    assert outcomes[1].exhausted is (middle.status == 503)
    assert replay.calls == ["f"] * looks
