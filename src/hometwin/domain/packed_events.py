"""Sensor events packed into arrays: the monitoring's copy of a home's last 36 hours.

The monitoring keeps the events of each home's last check, to detect on them while the event
store does not answer. As `SensorEvent` objects (each with its datetime and value objects) 36 h of
a home took about 210 KiB, the second largest part of a fleet monitoring's memory per home
(docs/fleet.md); packed they take 20 bytes an event: the time as float seconds, the
(sensor, room, kind) as an index into the home's few distinct sources, the value as float64.
`events()` gives back events equal to those packed (same time to the microsecond, same strings
and value), so detection on them does not change.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from operator import attrgetter

import numpy as np

from hometwin.domain.events import SensorEvent, SensorKind

_SOURCE = attrgetter("sensor", "room", "kind")
_TIME = attrgetter("time")
_VALUE = attrgetter("value")


class _Numbering(dict[tuple[str, str, SensorKind], int]):
    """Numbers each new key in order of first appearance."""

    def __missing__(self, key: tuple[str, str, SensorKind]) -> int:
        self[key] = number = len(self)
        return number


class PackedEvents:
    """An immutable, compact copy of a sequence of events (in its order).

    Times are kept as float seconds since the epoch (`datetime.timestamp`, C speed: packing runs at
    every check): below 2**32 s (the year 2106) a float64 is within 0.48 us of the exact time, so
    `datetime.fromtimestamp`, rounding to the nearest microsecond, gives the very time back."""

    __slots__ = ("_seconds", "_source", "_sources", "_values")

    def __init__(self, events: Sequence[SensorEvent] = ()) -> None:
        count = len(events)
        numbering = _Numbering()
        self._seconds = np.fromiter((t.timestamp() for t in map(_TIME, events)), dtype=np.float64, count=count)
        self._source = np.fromiter(map(numbering.__getitem__, map(_SOURCE, events)), dtype=np.int32, count=count)
        self._values = np.fromiter(map(_VALUE, events), dtype=np.float64, count=count)
        self._sources = tuple(numbering)

    def __len__(self) -> int:
        return len(self._seconds)

    def events(self) -> list[SensorEvent]:
        """The events, rebuilt (store-validated when packed, so built without validating again)."""
        sources, trusted, at = self._sources, SensorEvent.trusted, datetime.fromtimestamp
        return [trusted(at(t, UTC), *sources[s], v)
                for t, s, v in zip(self._seconds.tolist(), self._source.tolist(), self._values.tolist(), strict=True)]
