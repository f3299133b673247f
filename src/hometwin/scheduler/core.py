"""The join logic of the scheduler, pure: no I/O, no clock, no asyncio.

Join rule: every function keeps one FIFO queue per subscribed event name. An arriving event is
appended to the matching queue of every function subscribed to it (each function gets its own
copy). Whenever all queues of a function are non-empty, the oldest event of each queue is consumed
into one invocation. Because one event fills at most one slot per function, one arrival forms at
most one join per function, and the rule holds for any number of subscriptions and any interleaving.

Optional join window: events waiting longer than the function's window are expired (returned to
the caller, who records them), never silently dropped.

Every state backend keeps a `JoinBook` in memory (inside the `JoinLedger`, ledger.py) as a mirror
of what it stores, and writes every outcome returned here in the same transaction as the event
that caused it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """A registered function. `subs` keeps the registration order (the order of the event-id header)."""

    name: str
    subs: tuple[str, ...]
    url: str
    method: str = "GET"
    mock: bool = False
    timeout: float | None = None  # seconds; None: the scheduler's default
    max_attempts: int | None = None
    concurrency: int | None = None
    join_window: float | None = None  # seconds; None: wait forever

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "subs": list(self.subs), "url": self.url, "method": self.method,
                "mock": self.mock, "timeout": self.timeout, "max_attempts": self.max_attempts,
                "concurrency": self.concurrency, "join_window": self.join_window}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FunctionSpec:
        return cls(name=d["name"], subs=tuple(d["subs"]), url=d["url"], method=d.get("method", "GET"),
                   mock=bool(d.get("mock", False)), timeout=d.get("timeout"),
                   max_attempts=d.get("max_attempts"), concurrency=d.get("concurrency"),
                   join_window=d.get("join_window"))


@dataclass(frozen=True, slots=True)
class QueuedEvent:
    """One event waiting in one function's queue. `seq` orders arrivals across the whole scheduler."""

    seq: int
    event_id: str
    name: str
    data: Any
    timestamp: str  # as sent to the function, "%Y-%m-%dT%H:%M:%S%z" like the course scheduler
    received_at: float  # epoch seconds, given by the caller


@dataclass(frozen=True, slots=True)
class Join:
    """A complete join: one event per subscription, in `spec.subs` order."""

    function: str
    events: tuple[QueuedEvent, ...]

    def body(self) -> dict[str, Any]:
        """The invocation body of the course scheduler: `{"<event>": {"data": ..., "timestamp": ...}}`."""
        return {e.name: {"data": e.data, "timestamp": e.timestamp} for e in self.events}


@dataclass(frozen=True, slots=True)
class Dropped:
    """An event removed from a queue without being joined, and why (expired, unsubscribed, deleted)."""

    function: str
    event: QueuedEvent
    reason: str


@dataclass(frozen=True, slots=True)
class Registration:
    """What registering a function did."""

    spec: FunctionSpec
    created: bool
    changed: bool
    subs_changed: bool
    dropped: tuple[Dropped, ...] = ()


@dataclass
class _FunctionState:
    spec: FunctionSpec
    queues: dict[str, deque[QueuedEvent]] = field(default_factory=dict)


class JoinBook:
    """All registered functions and their join queues."""

    def __init__(self) -> None:
        self._functions: dict[str, _FunctionState] = {}
        self._by_event: dict[str, list[str]] = {}  # event name -> subscribed function names

    # -- functions -------------------------------------------------------------------------------
    def register(self, spec: FunctionSpec) -> Registration:
        """Add or update a function.

        Identical re-registration changes nothing. A changed target (url, method, limits) keeps
        every pending event. Changed subscriptions keep the queues of the subscriptions that stay,
        start empty queues for new ones and drop (and return) the events of removed ones.
        """
        if len(set(spec.subs)) != len(spec.subs) or not spec.subs:
            raise ValueError("subs must be a non-empty list of distinct event names")
        old = self._functions.get(spec.name)
        if old is None:
            self._functions[spec.name] = _FunctionState(spec, {s: deque() for s in spec.subs})
            self._index()
            return Registration(spec, created=True, changed=True, subs_changed=True)
        if old.spec == spec:
            return Registration(spec, created=False, changed=False, subs_changed=False)
        subs_changed = set(old.spec.subs) != set(spec.subs)
        dropped: list[Dropped] = []
        for sub, queue in old.queues.items():
            if sub not in spec.subs:
                dropped += [Dropped(spec.name, e, "unsubscribed") for e in queue]
        old.queues = {s: old.queues.get(s, deque()) for s in spec.subs}
        old.spec = spec
        if subs_changed:
            self._index()
        return Registration(spec, created=False, changed=True, subs_changed=subs_changed,
                            dropped=tuple(sorted(dropped, key=lambda d: d.event.seq)))

    def remove(self, name: str) -> tuple[Dropped, ...] | None:
        """Delete a function; returns its pending events (dropped), or None when it did not exist."""
        state = self._functions.pop(name, None)
        if state is None:
            return None
        self._index()
        events = sorted((e for q in state.queues.values() for e in q), key=lambda e: e.seq)
        return tuple(Dropped(name, e, "deleted") for e in events)

    def _index(self) -> None:
        by_event: dict[str, list[str]] = {}
        for name, state in self._functions.items():
            for sub in state.spec.subs:
                by_event.setdefault(sub, []).append(name)
        self._by_event = by_event

    def spec(self, name: str) -> FunctionSpec | None:
        state = self._functions.get(name)
        return state.spec if state else None

    def specs(self) -> list[FunctionSpec]:
        return [s.spec for s in self._functions.values()]

    def subscribers(self, event_name: str) -> list[str]:
        return list(self._by_event.get(event_name, ()))

    def queues(self, name: str) -> dict[str, list[QueuedEvent]]:
        """A copy of a function's queues, in subscription order."""
        state = self._functions[name]
        return {s: list(state.queues[s]) for s in state.spec.subs}

    # -- events ----------------------------------------------------------------------------------
    def offer(self, event: QueuedEvent) -> list[Join]:
        """Queue an event for every subscriber; return the joins it completes (at most one each)."""
        joins: list[Join] = []
        for name in self._by_event.get(event.name, ()):
            state = self._functions[name]
            state.queues[event.name].append(event)
            if all(state.queues.values()):
                heads = tuple(state.queues[s].popleft() for s in state.spec.subs)
                joins.append(Join(name, heads))
        return joins

    def restore(self, function: str, event: QueuedEvent) -> None:
        """Put back a queued event loaded from storage (callers restore in `seq` order)."""
        self._functions[function].queues[event.name].append(event)

    def expire(self, now: float) -> list[Dropped]:
        """Remove events older than their function's join window (`now` in epoch seconds)."""
        dropped: list[Dropped] = []
        for name, state in self._functions.items():
            window = state.spec.join_window
            if not window:
                continue
            for queue in state.queues.values():
                while queue and queue[0].received_at < now - window:
                    dropped.append(Dropped(name, queue.popleft(), "expired"))
        return dropped

    def waiting(self, name: str) -> int:
        state = self._functions[name]
        return sum(len(q) for q in state.queues.values())

    def status_rows(self, name: str) -> list[dict[str, list[str]]]:
        """The course's status shape: row i lists which subscriptions already hold an i-th event."""
        state = self._functions[name]
        depth = max((len(q) for q in state.queues.values()), default=0)
        rows = []
        for i in range(depth):
            ready = [s for s in state.spec.subs if len(state.queues[s]) > i]
            rows.append({"ready": ready, "waiting": [s for s in state.spec.subs if s not in ready]})
        return rows


def normalise_url(url: str) -> str:
    """The course accepted `host:port/path` without a scheme; we call those over plain HTTP."""
    url = url.strip()
    return url if "://" in url else f"http://{url}"
