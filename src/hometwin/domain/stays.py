"""Stays: where the person was, from when to when, derived from sensor events.

The extraction (`extract_timeline`) is implemented below the types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Stay:
    """The person was in `room` from `start` (first event there) to `end` (first event elsewhere)."""

    room: str
    start: datetime
    end: datetime
    n_events: int

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


class IntervalKind(StrEnum):
    AWAY = "away"  # an outside door, then no indoor activity for a while
    UNKNOWN = "unknown"  # no data at all for too long, without a door event before it


@dataclass(frozen=True, slots=True)
class Interval:
    kind: IntervalKind
    start: datetime
    end: datetime

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Timeline:
    """Stays and away/unknown intervals, each list sorted by start and non-overlapping."""

    stays: list[Stay] = field(default_factory=list)
    away: list[Interval] = field(default_factory=list)
    unknown: list[Interval] = field(default_factory=list)
