"""Where the person is, read from the recent events as the stays read it (`StayParams`).

Shared by the detectors and the evaluation's stay baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from hometwin.domain.events import SensorEvent, SensorKind

if TYPE_CHECKING:
    from hometwin.domain.stays import StayParams


def is_present(e: SensorEvent, stays: StayParams) -> bool:
    """Does the event show someone in its room? (as in the stays: not a motion or switch turning off)"""
    return e.value > 0 or e.kind in stays.off_means_present


def current_stay(recent: Sequence[SensorEvent], stays: StayParams) -> tuple[str, datetime]:
    """Room of the last presence event and when the person entered it ("first here after elsewhere").

    Only presence counts, as in the stays (`StayParams.off_means_present`): a motion sensor or an
    appliance switching off shows nobody. Interval data often closes a toilet-flush interval after
    the person is already in bed, and that must not put them back in the bathroom.
    Coming home starts a new stay even in the room the person left by: a gap of
    `StayParams.away_after` after the person left (`leaving`: the door, or the hall sensor seeing
    them in the doorway within `StayParams.exit_grace` after it) is time away, as in the stays, not
    a long stay in the hall."""
    k = next((j for j in range(len(recent) - 1, -1, -1) if is_present(recent[j], stays)), len(recent) - 1)
    room, start = recent[k].room, recent[k].time
    for j in range(k, -1, -1):
        e = recent[j]
        if not is_present(e, stays) and j != k:
            continue
        if e.room != room:
            break
        if start - e.time >= stays.away_after and leaving(recent[:j + 1], stays) is not None:
            break
        start = e.time
    return room, start


def leaving(recent: Sequence[SensorEvent], stays: StayParams) -> SensorEvent | None:
    """The outside-door event the person left by, if the last events say so.

    As in the stays (`StayParams.exit_grace`): after the door, only events in the door's own room
    within the grace period (the hall sensor sees the person in the doorway) still count as leaving.
    """
    grace = stays.exit_grace
    last = recent[-1]
    after: list[SensorEvent] = []
    for k in range(len(recent) - 1, -1, -1):
        e = recent[k]
        if e.kind is SensorKind.DOOR:
            if not (all(x.room == e.room for x in after) and last.time - e.time <= grace):
                return None
            # Coming home looks the same at the door; the difference is what came before it: someone
            # leaving walked to the door, someone arriving was not seen inside for a long time.
            if k == len(recent) - 1:  # the door is the last thing seen
                return e
            before = next((x for x in reversed(recent[:k]) if x.kind is not SensorKind.DOOR), None)
            inside = before is not None and e.time - before.time < stays.away_after
            return e if inside else None
        if last.time - e.time > grace:
            return None
        after.append(e)
    return None


def count_visits(recent: Sequence[SensorEvent], start: datetime, end: datetime) -> dict[str, int]:
    """Stays starting in [start, end): an event in a room other than the previous event's room."""
    out: dict[str, int] = {}
    prev: str | None = None
    for e in recent:
        if e.time >= end:
            break
        if e.room != prev and e.time >= start and e.kind is not SensorKind.DOOR:
            out[e.room] = out.get(e.room, 0) + 1
        prev = e.room
    return out
