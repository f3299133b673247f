"""Sensor events packed into arrays: the monitoring's copy of a home's last 36 hours.

The monitoring keeps the events of each home's last check, to detect on them while the event
store does not answer. As `SensorEvent` objects (each with its datetime and value objects) 36 h of
a home took about 210 KiB, the second largest part of a fleet monitoring's memory per home
(docs/fleet.md). Packed they take 9 bytes an event before compression and about 4 after: the time
as float seconds (8 bytes) and one byte numbering the event's (sensor, room, kind, value) among the
home's few distinct ones (a motion sensor always says 1.0, a door 0.0 or 1.0); a home with more than
256 of them (a thermometer's readings) takes 2 or 4 bytes for the number. `events()` gives back
events equal to those packed (same time to the microsecond, same strings and the value's very bits),
so detection on them does not change.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from operator import attrgetter

import numpy as np

from hometwin.domain.events import SensorEvent, SensorKind

_KEY = attrgetter("sensor", "room", "kind", "value")
_TIME = attrgetter("time")
_VALUE = attrgetter("value")
Key = tuple[str, str, SensorKind, float]


class _Numbering(dict[Key, int]):
    """Numbers each new key in order of first appearance."""

    def __missing__(self, key: Key) -> int:
        self[key] = number = len(self)
        return number


class PackedEvents:
    """An immutable, compact copy of a sequence of events (in its order).

    Times are kept as float seconds since the epoch (`datetime.timestamp`, C speed: packing runs at
    every check): below 2**32 s (the year 2106) a float64 is within 0.48 us of the exact time, so
    `datetime.fromtimestamp`, rounding to the nearest microsecond, gives the very time back.

    The arrays are kept compressed (zlib, its fastest level, after grouping the bytes of the floats
    by position: the sign, exponent and leading bits of neighbouring times are alike, so they
    compress to little). The copy is read only while the store does not answer, and written at
    every check: about 0.1 ms for 36 h of a home, against 16 KiB a home kept uncompressed."""

    __slots__ = ("_blob", "_count", "_keys", "_number_dtype", "_values_apart")

    def __init__(self, events: Sequence[SensorEvent] = ()) -> None:
        count = len(events)
        numbering = _Numbering()
        seconds = np.fromiter((t.timestamp() for t in map(_TIME, events)), dtype=np.float64, count=count)
        number = np.fromiter(map(numbering.__getitem__, map(_KEY, events)), dtype=np.int64, count=count)
        self._keys: tuple[Key, ...] = tuple(numbering)
        self._count = count
        numbers = number.astype(np.min_scalar_type(max(len(self._keys) - 1, 0)))
        self._number_dtype = numbers.dtype
        # A dict key of 0.0 also finds -0.0 (they are equal), so an event's value may differ in its
        # sign bit from its key's: then, and only then, the values are kept as they were, apart.
        values = np.fromiter(map(_VALUE, events), dtype=np.float64, count=count)
        keyed = np.fromiter((key[3] for key in self._keys), dtype=np.float64, count=len(self._keys))[number]
        self._values_apart = not np.array_equal(keyed.view(np.uint64), values.view(np.uint64))
        parts = [_by_byte(seconds), numbers.tobytes(), *([_by_byte(values)] if self._values_apart else [])]
        self._blob = zlib.compress(b"".join(parts), 1)

    def __len__(self) -> int:
        return self._count

    def _arrays(self) -> tuple[list[float], list[int], list[float] | None]:
        raw, count = zlib.decompress(self._blob), self._count
        seconds_end, numbers_end = 8 * count, 8 * count + self._number_dtype.itemsize * count
        seconds = _from_bytes(raw[:seconds_end], count)
        numbers = np.frombuffer(raw[seconds_end:numbers_end], dtype=self._number_dtype).tolist()
        values = _from_bytes(raw[numbers_end:], count) if self._values_apart else None
        return seconds, numbers, values

    def events(self) -> list[SensorEvent]:
        """The events, rebuilt (store-validated when packed, so built without validating again)."""
        keys, trusted, at = self._keys, SensorEvent.trusted, datetime.fromtimestamp
        seconds, numbers, values = self._arrays()
        if values is None:
            return [trusted(at(t, UTC), *keys[k]) for t, k in zip(seconds, numbers, strict=True)]
        return [trusted(at(t, UTC), sensor, room, kind, v)
                for t, (sensor, room, kind, _), v in zip(seconds, map(keys.__getitem__, numbers), values, strict=True)]


def _by_byte(floats: np.ndarray) -> bytes:
    """The floats' bytes grouped by position (all first bytes, then all second ...)."""
    return floats.view(np.uint8).reshape(-1, 8).T.tobytes()


def _from_bytes(grouped: bytes, count: int) -> list[float]:
    return np.frombuffer(grouped, dtype=np.uint8).reshape(8, count).T.copy().view(np.float64).ravel().tolist()
