"""`memory://[name]`: an in-process event store for tests and demos (same contract as SQLite).

Stores with the same name share their events within one process, like the memory object store.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime

from hometwin.domain.events import SensorEvent

_NAMED: dict[str, MemoryEventStore] = {}
_NAMED_LOCK = threading.Lock()


def _key(event: SensorEvent) -> tuple[datetime, str, float]:
    return (event.time, event.sensor, event.value)


class MemoryEventStore:
    """SensorSource and SensorSink in memory; idempotent like the SQLite store."""

    def __init__(self) -> None:
        self._events: list[SensorEvent] = []
        self._times: list[datetime] = []
        self._seen: set[tuple[datetime, str, float]] = set()
        self._lock = threading.Lock()

    @classmethod
    def named(cls, name: str) -> MemoryEventStore:
        with _NAMED_LOCK:
            return _NAMED.setdefault(name, cls())

    def append(self, events: Iterable[SensorEvent]) -> int:
        new = list(events)
        with self._lock:
            added = 0
            for event in new:
                if _key(event) in self._seen:
                    continue
                self._seen.add(_key(event))
                added += 1
                self._events.append(event)
            if added:
                self._events.sort(key=lambda e: (e.time, e.sensor, e.value))
                self._times = [e.time for e in self._events]
            return added

    def read(self, start: datetime, end: datetime) -> list[SensorEvent]:
        with self._lock:
            lo = bisect.bisect_left(self._times, start)
            hi = bisect.bisect_left(self._times, end)
            return self._events[lo:hi]

    def stream(self, start: datetime, end: datetime) -> Iterator[SensorEvent]:
        yield from self.read(start, end)

    def latest(self) -> SensorEvent | None:
        with self._lock:
            return self._events[-1] if self._events else None

    def count(self) -> int:
        return len(self._events)
