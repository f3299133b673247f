"""The join bookkeeping every state backend shares, pure: commands in, results and changes out.

A `JoinLedger` holds the in-memory join state (the `JoinBook`, each function's `last_invoke`, the
event sequence). Each join command returns its result and a `Changes`: exactly what a backend
must write, in the same transaction, for its stored state to match the ledger again. A backend
never decides anything about joins; after a failed commit it rebuilds the ledger from its store
(`JoinLedger.restore`). No I/O and no clock here: times come in as arguments.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hometwin.scheduler.core import Dropped, FunctionSpec, JoinBook, QueuedEvent, Registration
from hometwin.scheduler.errors import LimitExceeded
from hometwin.scheduler.state import DELIVERED, PENDING, EventAccepted, Invocation


def course_timestamp(epoch: float) -> str:
    """The course scheduler's event timestamp format, in UTC: `2024-05-01T12:00:00+0000`."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S%z")


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class Changes:
    """What one command changed. A backend writes every part that is set; the parts never touch
    the same row within one command, so their order does not matter, but commands must be written
    in the order they were applied."""

    upserted: FunctionSpec | None = None  # a new or changed registration (keeps `last_invoke`)
    deleted: str | None = None  # a deleted function
    event: QueuedEvent | None = None  # an accepted event ...
    queued_for: tuple[str, ...] = ()  # ... now waiting in these functions' queues
    consumed: tuple[tuple[str, int], ...] = ()  # (function, seq): waiting events joined, remove them
    dropped: tuple[Dropped, ...] = ()  # waiting events removed without a join: record and remove
    dropped_at: float = 0.0
    invocations: tuple[Invocation, ...] = ()  # new outbox rows
    last_invoke: int | None = None  # epoch ms: the new `last_invoke` of every function in `invocations`


NO_CHANGES = Changes()


class JoinLedger:
    """The join state in memory. Not thread-safe: the backend's one writer thread owns it."""

    def __init__(self, make_id: Callable[[], str] = new_id) -> None:
        self.book = JoinBook()
        self.last_invoke: dict[str, int | None] = {}
        self.seq = 0
        self._make_id = make_id

    @classmethod
    def restore(cls, functions: Iterable[tuple[FunctionSpec, int | None]],
                queued: Iterable[tuple[str, QueuedEvent]]) -> JoinLedger:
        """The ledger of stored state: functions with their last_invoke, queued (function, event)
        rows in `seq` order."""
        ledger = cls()
        for spec, last_invoke in functions:
            ledger.book.register(spec)
            ledger.last_invoke[spec.name] = last_invoke
        for function, event in queued:
            ledger.book.restore(function, event)
            ledger.seq = max(ledger.seq, event.seq)
        return ledger

    # -- join commands ---------------------------------------------------------------------------
    def add_event(self, name: str, data: Any, received_at: float, size: int = 0,
                  fanout_budget: int = 0) -> tuple[EventAccepted, Changes]:
        """LimitExceeded (nothing changed) when `size` times the subscribers exceeds the budget:
        each subscriber stores its own copy, in its queue or in an invocation body."""
        subscribers = self.book.subscribers(name)
        if fanout_budget and size * max(1, len(subscribers)) > fanout_budget:
            raise LimitExceeded(
                f"event {name!r} of {size} bytes for {len(subscribers)} subscribed functions exceeds the "
                f"fan-out budget of {fanout_budget} bytes (size x subscribers)", 413)
        self.seq += 1
        event = QueuedEvent(self.seq, self._make_id(), name, data, course_timestamp(received_at), received_at)
        joins = self.book.offer(event)
        if not joins:
            return EventAccepted(event.event_id, len(subscribers), ()), Changes(
                event=event, queued_for=tuple(subscribers))
        joined = {j.function for j in joins}
        last_invoke = int(received_at * 1000)
        invocations: list[Invocation] = []
        consumed: list[tuple[str, int]] = []
        for join in joins:
            spec = self.book.spec(join.function)
            assert spec is not None
            # The arriving event itself was never stored in a queue: only older ones are removed.
            consumed += [(join.function, e.seq) for e in join.events if e.seq != event.seq]
            invocations.append(Invocation(
                self._make_id(), spec.name, spec.url, spec.method, spec.mock, json.dumps(join.body()),
                tuple(e.event_id for e in join.events), received_at, next_attempt_at=received_at,
                status=DELIVERED if spec.mock else PENDING))
            self.last_invoke[spec.name] = last_invoke
        changes = Changes(event=event, queued_for=tuple(f for f in subscribers if f not in joined),
                          consumed=tuple(consumed), invocations=tuple(invocations), last_invoke=last_invoke)
        return EventAccepted(event.event_id, len(subscribers), tuple(invocations)), changes

    def register(self, spec: FunctionSpec, at: float, max_functions: int = 0) -> tuple[Registration, Changes]:
        """ValueError for bad subscriptions, LimitExceeded for a new function beyond
        `max_functions` (nothing changed then)."""
        if max_functions and self.book.spec(spec.name) is None and len(self.book.specs()) >= max_functions:
            raise LimitExceeded(f"{max_functions} functions are registered, the most allowed: "
                                f"delete one before registering {spec.name!r}", 409)
        registration = self.book.register(spec)
        if not registration.changed:
            return registration, NO_CHANGES
        self.last_invoke.setdefault(spec.name, None)
        return registration, Changes(upserted=spec, dropped=registration.dropped, dropped_at=at)

    def delete(self, name: str, at: float) -> tuple[tuple[Dropped, ...] | None, Changes]:
        dropped = self.book.remove(name)
        if dropped is None:
            return None, NO_CHANGES
        self.last_invoke.pop(name, None)
        return dropped, Changes(deleted=name, dropped=dropped, dropped_at=at)

    def expire(self, now: float) -> tuple[list[Dropped], Changes]:
        dropped = self.book.expire(now)
        return dropped, (Changes(dropped=tuple(dropped), dropped_at=now) if dropped else NO_CHANGES)

    # -- reading ---------------------------------------------------------------------------------
    def status(self) -> list[dict[str, Any]]:
        """The course's `GET /api/status` rows, plus url, method and mock."""
        return [{"name": spec.name, "subs": list(spec.subs), "last_invoke": self.last_invoke.get(spec.name),
                 "events": self.book.status_rows(spec.name), "url": spec.url, "method": spec.method,
                 "mock": spec.mock}
                for spec in self.book.specs()]
