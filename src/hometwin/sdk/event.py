"""Event fabrics: a subclass says which event to emit; calling it delivers the event to the scheduler.

Delivery rules (unlike sifec_base, which printed failures and moved on):
- POST `{name, data}` to `<SCH_SERVICE_NAME>/api/event`, with the bearer token when configured;
- connection errors, timeouts, 408, 425, 429 and 5xx are retried with capped exponential backoff
  and jitter (the project's one rule, hometwin/backoff.py);
- other 4xx are refused for good: logged as an ERROR naming the event;
- when the retry budget is spent the event waits in a small bounded in-process queue that is
  retried in the background (on the shared trigger scheduler) and before any newer event, so the
  order of events is kept; an event pushed out of a full queue, or still queued at exit, is logged
  as an ERROR naming it. Nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import httpx

from hometwin.sdk.log import child
from hometwin.sdk.retry import Backoff, retry_after, retryable_status
from hometwin.sdk.settings import SdkSettings

log = child("event")


class Outcome(Enum):
    ACCEPTED = "accepted"
    REFUSED = "refused"          # a 4xx other than 429: retrying cannot help
    UNAVAILABLE = "unavailable"  # connection error, timeout, 429 or 5xx after all retries


@dataclass
class PendingEvent:
    name: str
    data: Any
    created: float = field(default_factory=time.time)


class EventOutbox:
    """One per scheduler URL in a process: delivers events in order and keeps the undeliverable ones."""

    def __init__(self, settings: SdkSettings, sleep: Callable[[float], None] = time.sleep) -> None:
        url = settings.scheduler_url
        if url is None:
            raise ValueError("an outbox needs SCH_SERVICE_NAME")
        self.settings = settings
        self.url = f"{url}/api/event"
        self._sleep = sleep
        self._queue: deque[PendingEvent] = deque()
        self._lock = threading.RLock()  # one delivery at a time keeps the events in order
        self._client: httpx.Client | None = None
        self._flush_job: Any = None

    # -- public -----------------------------------------------------------------------------
    def send(self, name: str, data: Any) -> bool:
        """Deliver now (after any queued older events); True when the scheduler accepted it."""
        event = PendingEvent(name, data)
        with self._lock:
            if self._queue and not self.flush():
                self._enqueue(event, "older events are still waiting for the scheduler")
                return False
            outcome = self._deliver(event, self.settings.retries)
            if outcome is Outcome.UNAVAILABLE:
                self._enqueue(event, f"the scheduler at {self.url} is unavailable")
            return outcome is Outcome.ACCEPTED

    def flush(self) -> bool:
        """Try to deliver the queued events, oldest first; True when the queue is empty."""
        with self._lock:
            while self._queue:
                event = self._queue[0]
                outcome = self._deliver(event, retries=0)
                if outcome is Outcome.UNAVAILABLE:
                    return False
                self._queue.popleft()
                if outcome is Outcome.ACCEPTED:
                    log.info("queued event %s delivered after %.0f s",
                             event.name, time.time() - event.created)
            self._cancel_flush_job()
            return True

    def pending(self) -> list[str]:
        with self._lock:
            return [event.name for event in self._queue]

    def close(self) -> None:
        """Last attempt at exit; whatever is still queued is reported lost."""
        with self._lock:
            if self._queue:
                self.flush()
            for event in self._queue:
                log.error("event %s LOST: still undelivered at exit (scheduler %s unavailable)",
                          event.name, self.url)
            self._queue.clear()
            self._cancel_flush_job()
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- internals --------------------------------------------------------------------------
    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=self.settings.http_timeout, verify=self.settings.verify_tls)
        return self._client

    def _deliver(self, event: PendingEvent, retries: int) -> Outcome:
        rule = Backoff(self.settings.backoff_initial, self.settings.backoff_max)
        body = {"name": event.name, "data": event.data}
        for attempt in range(retries + 1):
            asked: float | None = None
            try:
                response = self._http().post(self.url, json=body, headers=self.settings.headers())
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    log.debug("event %s accepted (%d)", event.name, response.status_code)
                    return Outcome.ACCEPTED
                if not retryable_status(response.status_code):
                    log.error("event %s LOST: the scheduler refused it with %d: %s",
                              event.name, response.status_code, response.text[:300])
                    return Outcome.REFUSED
                problem = f"HTTP {response.status_code}"
                asked = retry_after(response)
            wait = rule.delay(attempt + 1, asked)
            if attempt < retries:
                log.warning("event %s not delivered (%s); retry %d/%d in %.1f s",
                            event.name, problem, attempt + 1, retries, wait)
                self._sleep(wait)
        log.warning("event %s not delivered (%s)", event.name, problem)
        return Outcome.UNAVAILABLE

    def _enqueue(self, event: PendingEvent, why: str) -> None:
        if len(self._queue) >= self.settings.queue_size:
            lost = self._queue.popleft()
            log.error("event %s LOST: the local queue is full (%d events) and %s",
                      lost.name, self.settings.queue_size, why)
        self._queue.append(event)
        log.warning("event %s queued locally (%d waiting): %s", event.name, len(self._queue), why)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_job is not None:
            return
        from hometwin.sdk.runner import shared_scheduler

        self._flush_job = shared_scheduler().add_job(
            self.flush, "interval", seconds=self.settings.queue_retry_interval,
            name=f"deliver queued events to {self.url}", max_instances=1, coalesce=True)

    def _cancel_flush_job(self) -> None:
        job, self._flush_job = self._flush_job, None
        if job is not None:
            try:
                job.remove()
            except Exception as exc:  # noqa: BLE001 - already gone or scheduler shut down
                log.debug("queue retry job already gone: %s", exc)


_outboxes: dict[tuple[str, str | None], EventOutbox] = {}
_outboxes_lock = threading.Lock()


def outbox_for(settings: SdkSettings) -> EventOutbox:
    """The process-wide outbox of this scheduler (shared by every fabric, so order is kept)."""
    assert settings.scheduler_url is not None
    key = (settings.scheduler_url, settings.bearer())
    with _outboxes_lock:
        if key not in _outboxes:
            _outboxes[key] = EventOutbox(settings)
        return _outboxes[key]


@atexit.register
def _close_outboxes() -> None:
    with _outboxes_lock:
        boxes = list(_outboxes.values())
        _outboxes.clear()
    for box in boxes:
        box.close()


class BaseEventFabric(ABC):
    """Subclass and implement `call`; calling the instance emits the event it returns.

    `evt()` returns True when the scheduler accepted the event, False otherwise (refused,
    queued for later, or debugging mode when SCH_SERVICE_NAME is unset).
    """

    def __init__(self, settings: SdkSettings | None = None) -> None:
        self.settings = settings or SdkSettings()
        self.scheduler = self.settings.scheduler_url
        self.debugging_mode = self.scheduler is None
        if self.debugging_mode:
            log.info("SCH_SERVICE_NAME is unset: debugging mode, events are logged, not sent")
        else:
            log.info("Relying on the scheduler at %s", self.scheduler)
        super().__init__()

    @abstractmethod
    def call(self, *args: Any, **kwargs: Any) -> tuple[str, Any]:
        """Return (event name, JSON-able data)."""
        raise NotImplementedError("Implement the 'call' method in your class")

    def __call__(self, *args: Any, **kwargs: Any) -> bool:
        name, data = self.call(*args, **kwargs)
        if not isinstance(name, str) or not name:
            raise TypeError(f"{type(self).__name__}.call must return (event name, data), got name {name!r}")
        if self.debugging_mode:
            log.info("debugging mode: event %s with data %r not sent", name, data)
            return False
        return outbox_for(self.settings).send(name, data)

    async def acall(self, *args: Any, **kwargs: Any) -> bool:
        """Like calling the fabric, without blocking an async handler while retrying."""
        return await asyncio.to_thread(self.__call__, *args, **kwargs)


class ExampleEventFabric(BaseEventFabric):
    """The course's example: emits `GenEvent` without data."""

    def call(self, *args: Any, **kwargs: Any) -> tuple[str, Any]:
        log.info("Called to event fabric")
        return "GenEvent", None
