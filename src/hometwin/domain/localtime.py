"""Vectorised UTC -> local wall-clock conversion (DST-exact) for the model's weekday/hour cells.

Converting a million timestamps one `astimezone` at a time costs about a second; instead we find
the zone's offset changes in the covered range once (they are rare) and look offsets up with
`searchsorted`. Wall-clock seconds are "epoch seconds as if the local time were UTC": their day
number gives the local date and their remainder the local time of day. On the autumn DST day the
repeated hour appears twice; on the spring day the skipped hour does not appear at all.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

DAY = 86400


def known_zone(name: str) -> str:
    """`name` if it is an IANA time zone this machine knows, else a ValueError saying so."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
    return name


class LocalClock:
    """Offsets of one time zone over a range of UTC epoch seconds."""

    def __init__(self, tz: str, start: float, end: float) -> None:
        self.zone = ZoneInfo(tz)
        lo = int(start // DAY) * DAY - DAY
        hi = int(end // DAY) * DAY + 2 * DAY
        starts: list[float] = []
        offsets = [self._offset(lo)]
        # Assumes at most one offset change per UTC day (true for every zone in the tz database).
        for day in range(lo, hi, DAY):
            after = self._offset(day + DAY)
            if after != offsets[-1]:
                a, b = day, day + DAY  # the change is in (a, b]
                while b - a > 1:
                    mid = (a + b) // 2
                    if self._offset(mid) == offsets[-1]:
                        a = mid
                    else:
                        b = mid
                starts.append(float(b))
                offsets.append(after)
        self._starts = np.array(starts, dtype=np.float64)
        self._offsets = np.array(offsets, dtype=np.float64)

    def _offset(self, ts: float) -> float:
        off = datetime.fromtimestamp(ts, UTC).astimezone(self.zone).utcoffset()
        return off.total_seconds() if off is not None else 0.0

    def wall(self, ts: np.ndarray) -> np.ndarray:
        """UTC epoch seconds -> local wall-clock seconds."""
        return ts + self._offsets[np.searchsorted(self._starts, ts, side="right")]


def weekday_of_day(day: np.ndarray) -> np.ndarray:
    """Local day number (wall seconds // 86400) -> weekday, Monday = 0 (1970-01-01 was a Thursday)."""
    return (day + 3) % 7
