"""Delivery of the outbox: at least once, per-function lanes, retries with capped backoff and jitter.

Every function has its own lane: a queue and up to `concurrency` worker tasks. A slow or dead
function therefore only ever occupies its own workers; a retry waits on a timer, not in a worker.
Outcomes go to the store writer without waiting for the commit (the row stays `pending` until the
outcome commits, so a crash in between re-delivers: at-least-once, receivers dedupe by the
`Idempotency-Key`).

Rules (the project's one retry rule, hometwin/backoff.py): 2xx delivered. Connection errors,
timeouts, 408, 425, 429 and 5xx are retried after `min(backoff_max, backoff_initial *
2**(attempt-1))`, jittered to 50-100 % of that (at least a numeric `Retry-After` of a 429 or 503,
up to `backoff_max`), until `max_attempts`; then dead ("exhausted"). Any other status (other 4xx,
3xx left after following redirects) is dead at once. A 2xx whose reply body is longer than the
transport's cap is delivered (the status line is the function's acknowledgement; the body is never
used), with a note in the log line.

Automatic replay: when a function answers 2xx again, its exhausted dead invocations (never those
refused by a permanent answer) are put back into the outbox by `replay_exhausted`, at most one
batch per successful delivery, so a function that was down gets what it missed once it is back.

With a dispatch secret every attempt is signed just before it is sent (hometwin/dispatch_signature.py),
so a retry carries a fresh timestamp and the receiver's replay window stays short.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from hometwin.backoff import Backoff, retry_after_seconds, retryable_status
from hometwin.dispatch_signature import SIGNATURE_HEADER, DispatchSigner
from hometwin.scheduler.core import METHODS_WITH_BODY, FunctionSpec
from hometwin.scheduler.errors import TransportFailure
from hometwin.scheduler.metrics import SchedulerMetrics
from hometwin.scheduler.state import DEAD, DELIVERED, PENDING, Invocation, Outcome
from hometwin.scheduler.transport import Answer

log = logging.getLogger("hometwin.scheduler.delivery")


class Transport(Protocol):
    """The seam between delivery rules and HTTP: an `Answer` for any HTTP status, TransportFailure
    when there is none (AiohttpTransport in production, a scripted fake in the unit tests)."""

    async def send(self, method: str, url: str, body: bytes | None, headers: dict[str, str],
                   timeout: float) -> Answer: ...


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    timeout: float = 10.0
    max_attempts: int = 500  # with the default backoff: retried for 4 to 8 hours, docs/scheduler.md
    concurrency: int = 32
    backoff_initial: float = 0.5
    backoff_max: float = 60.0

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds before the next attempt after `attempt` failed ones (hometwin.backoff's rule)."""
        return Backoff(self.backoff_initial, self.backoff_max).delay(attempt, retry_after)


@dataclass
class _Lane:
    queue: asyncio.Queue[Invocation] = field(default_factory=asyncio.Queue)
    workers: list[asyncio.Task[None]] = field(default_factory=list)


def log_state(inv: Invocation, state: str, **extra: object) -> None:
    """One structured line per invocation state change (no JSON encoding when INFO is off)."""
    if not log.isEnabledFor(logging.INFO):
        return
    log.info(json.dumps({"invocation": inv.id, "function": inv.function, "state": state,
                         "attempts": inv.attempts, **extra}, default=str))


class Dispatcher:
    def __init__(self, transport: Transport, policy: DeliveryPolicy,
                 spec_of: Callable[[str], FunctionSpec | None],
                 record: Callable[[Outcome], None], metrics: SchedulerMetrics,
                 replay_exhausted: Callable[[str], Awaitable[list[Invocation]]] | None = None,
                 signer: DispatchSigner | None = None) -> None:
        self.transport = transport
        self.signer = signer
        self.policy = policy
        self.spec_of = spec_of
        self.record = record
        self.metrics = metrics
        self.replay_exhausted = replay_exhausted
        # Functions that may have exhausted dead invocations: all of them at start (one look each at
        # their first delivery), and again each time one of theirs is dead-lettered as exhausted.
        self._replay_checked: set[str] = set()
        self._replaying: dict[str, asyncio.Task[None]] = {}
        self._lanes: dict[str, _Lane] = {}
        self._timers: set[asyncio.TimerHandle] = set()
        self.outstanding: set[str] = set()
        self._busy: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- feeding ---------------------------------------------------------------------------------
    def enqueue(self, invocations: list[Invocation]) -> None:
        """Hand over committed invocations (new, replayed or recovered at start-up)."""
        now = time.time()
        for inv in invocations:
            if inv.id in self.outstanding:  # a shared state's claim of a row this replica still holds
                continue
            if inv.status == DELIVERED:  # a mock function: consumed, never called
                self.metrics.delivered.labels(inv.function).inc()
                log_state(inv, "delivered", mock=True)
                continue
            log_state(inv, "pending")
            self.outstanding.add(inv.id)
            # At most the backoff cap away, however wrong the clock that stored the time was.
            self._schedule(inv, min(inv.next_attempt_at - now, self.policy.backoff_max))

    def _schedule(self, inv: Invocation, delay: float) -> None:
        if self._closed:
            return
        if delay <= 0:
            self._lane(inv.function).queue.put_nowait(inv)
            return
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            if not self._closed:
                self._lane(inv.function).queue.put_nowait(inv)

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)

    def _limits(self, function: str) -> tuple[float, int, int]:
        spec = self.spec_of(function)
        p = self.policy
        if spec is None:
            return p.timeout, p.max_attempts, p.concurrency
        return (spec.timeout or p.timeout, spec.max_attempts or p.max_attempts,
                spec.concurrency or p.concurrency)

    def _lane(self, function: str) -> _Lane:
        lane = self._lanes.get(function)
        if lane is None:
            lane = self._lanes[function] = _Lane()
        # The limit can change with a re-registration: add workers now, surplus ones retire themselves.
        wanted = self._limits(function)[2]
        lane.workers = [w for w in lane.workers if not w.done()]
        for index in range(len(lane.workers), wanted):
            lane.workers.append(asyncio.create_task(self._work(function, lane, index),
                                                    name=f"deliver-{function}-{index}"))
        return lane

    # -- delivering ------------------------------------------------------------------------------
    async def _work(self, function: str, lane: _Lane, index: int) -> None:
        me = asyncio.current_task()
        assert me is not None
        while not self._closed:
            if index >= self._limits(function)[2]:
                return
            inv = await lane.queue.get()
            self._busy.add(me)
            try:
                await self.deliver(inv)
            except Exception:  # noqa: BLE001 - a bug must not kill the lane; the row stays pending
                log.exception("delivery of %s crashed; retrying later", inv.id)
                self._schedule(inv, self.policy.backoff_max)
            finally:
                self._busy.discard(me)

    async def deliver(self, inv: Invocation) -> None:
        timeout, max_attempts, _ = self._limits(inv.function)
        attempt = inv.attempts + 1
        headers = {"Idempotency-Key": inv.id, "X-Event-Ids": ",".join(inv.event_ids),
                   "X-Invocation-Attempt": str(attempt), "X-Function-Name": inv.function}
        body = inv.body.encode() if inv.method in METHODS_WITH_BODY else None
        if self.signer is not None:
            headers[SIGNATURE_HEADER] = self.signer.sign(inv.method, inv.url, headers, body, time.time())
        retry_after: float | None = None
        reply_cut = False
        status: int | None
        try:
            answer = await self.transport.send(inv.method, inv.url, body, headers, timeout)
        except TransportFailure as exc:
            status, error = None, str(exc)
        else:
            status, error = answer.status, f"HTTP {answer.status}"
            retry_after = retry_after_seconds(answer.status, answer.retry_after)
            reply_cut = answer.reply_cut
        now = time.time()
        if status is not None and 200 <= status < 300:
            done = replace(inv, attempts=attempt, status=DELIVERED, last_error=None)
            self.record(Outcome(inv.id, DELIVERED, attempt, now))
            self.outstanding.discard(inv.id)
            self.metrics.delivered_for(inv.function).inc()
            self.metrics.latency.observe(max(0.0, now - inv.created_at))
            if reply_cut:
                log_state(done, "delivered", http_status=status, note="reply longer than the cap, not read")
            else:
                log_state(done, "delivered", http_status=status)
            self._replay_if_missed(inv.function)
            return
        retryable = status is None or retryable_status(status)
        if retryable and attempt < max_attempts:
            delay = self.policy.backoff(attempt, retry_after)
            later = replace(inv, attempts=attempt, next_attempt_at=now + delay, last_error=error)
            self.record(Outcome(inv.id, PENDING, attempt, now, now + delay, error))
            self.metrics.retried.labels(inv.function).inc()
            log_state(later, "retrying", error=error, retry_in=round(delay, 3))
            self._schedule(later, delay)
            return
        dead = replace(inv, attempts=attempt, status=DEAD, last_error=error, exhausted=retryable)
        self.record(Outcome(inv.id, DEAD, attempt, now, 0.0, error, exhausted=retryable))
        if retryable:
            self._replay_checked.discard(inv.function)
        self.outstanding.discard(inv.id)
        self.metrics.dead.labels(inv.function).inc()
        log_state(dead, "dead", error=error, reason="retryable failures exhausted" if retryable
                  else "not retryable")

    # -- automatic replay ------------------------------------------------------------------------
    def _replay_if_missed(self, function: str) -> None:
        """The function delivered: replay a batch of its exhausted dead invocations, if it may have any."""
        if self.replay_exhausted is None or self._closed or function in self._replay_checked \
                or function in self._replaying:
            return
        self._replay_checked.add(function)
        self._replaying[function] = asyncio.create_task(self._replay(function), name=f"replay-{function}")

    async def _replay(self, function: str) -> None:
        assert self.replay_exhausted is not None
        try:
            replayed = await self.replay_exhausted(function)
        except Exception as exc:  # noqa: BLE001 - StoreUnavailable or a bug: look again next time
            self._replay_checked.discard(function)
            log.warning("automatic replay for %s failed: %s", function, exc)
            return
        finally:
            self._replaying.pop(function, None)
        if replayed:
            # A full batch may have left more behind: the next delivery looks again.
            self._replay_checked.discard(function)
            self.metrics.auto_replayed.labels(function).inc(len(replayed))
            log.warning("function %s delivers again: %d dead invocations replayed automatically", function,
                        len(replayed))

    async def close(self, grace: float = 5.0) -> None:
        """Stop delivering: no new attempts; attempts in flight get `grace` seconds to finish (so
        their outcome is recorded), then are abandoned: their rows stay pending (at-least-once)."""
        self._closed = True
        for handle in list(self._timers):
            handle.cancel()
        for replaying in list(self._replaying.values()):
            replaying.cancel()
        tasks = [w for lane in self._lanes.values() for w in lane.workers]
        busy = [t for t in tasks if t in self._busy]
        for task in tasks:
            if task not in self._busy:
                task.cancel()
        if busy:
            await asyncio.wait(busy, timeout=grace)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

