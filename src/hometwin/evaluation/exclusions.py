"""What the honest protocol leaves out, and how far the real data lets an injected fall be noticed.

- **Data gaps**: no event at all for more than `GAP` (24 h). Nothing can be measured there: the
  gap is no test time, an alarm that starts inside it is not counted, no emergency is injected in it.
- **Excluded intervals** of a home (`HomeData.excluded`: known outages, a simulator's ground truth)
  are treated like data gaps.
- **Absences** (`HomeData.absent`: the datasets' "leave house" labels): nobody can fall at home
  while out, so no emergency is injected there; the time stays test time and an alarm there is
  counted (the monitoring does not know the person is out: that false alarm reaches the family).
- **Residual** of an injected emergency at t: the time from t to the next real event of the
  unmodified data. Until then the detectors see exactly what they saw on the real data, so an alarm
  before it would also have fired on the real data (and is counted there as a false alarm). An
  injection is *reachable* when its residual is at most `REACHABLE` (30 min): only then can a
  detector show it notices an emergency rather than a long normal silence.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from hometwin.domain.events import SensorEvent

GAP = timedelta(hours=24)
REACHABLE = timedelta(minutes=30)

Interval = tuple[datetime, datetime]


class Intervals:
    """A set of half-open time intervals [start, end), merged and sorted, with fast look-ups."""

    def __init__(self, spans: Iterable[Interval] = ()) -> None:
        merged: list[list[datetime]] = []
        for start, end in sorted((s, e) for s, e in spans if e > s):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self.spans: tuple[Interval, ...] = tuple((s, e) for s, e in merged)
        self._starts = [s for s, _ in self.spans]

    def __or__(self, other: Intervals) -> Intervals:
        return Intervals([*self.spans, *other.spans])

    def __bool__(self) -> bool:
        return bool(self.spans)

    def __contains__(self, at: datetime) -> bool:
        i = bisect.bisect_right(self._starts, at) - 1
        return i >= 0 and at < self.spans[i][1]

    def overlap(self, start: datetime, end: datetime) -> timedelta:
        """How much of [start, end) the intervals cover."""
        total = timedelta(0)
        i = max(bisect.bisect_right(self._starts, start) - 1, 0)
        while i < len(self.spans) and self.spans[i][0] < end:
            s, e = self.spans[i]
            if e > start:
                total += min(e, end) - max(s, start)
            i += 1
        return total

    def mask(self, epoch_seconds: Iterable[float]) -> list[bool]:
        """For each moment (epoch seconds, sorted): is it inside an interval?"""
        out, i = [], 0
        for ts in epoch_seconds:
            while i < len(self.spans) and self.spans[i][1].timestamp() <= ts:
                i += 1
            out.append(i < len(self.spans) and self.spans[i][0].timestamp() <= ts)
        return out


def data_gaps(events: Sequence[SensorEvent], longer_than: timedelta = GAP) -> Intervals:
    """The stretches between two consecutive events that are longer than `longer_than`."""
    return Intervals((a.time, b.time) for a, b in zip(events, events[1:], strict=False)
                     if b.time - a.time > longer_than)


def residual(times: Sequence[datetime], t: datetime) -> timedelta | None:
    """Time from `t` to the first real event after it (`times` sorted); None when there is none."""
    j = bisect.bisect_right(times, t)
    return times[j] - t if j < len(times) else None
