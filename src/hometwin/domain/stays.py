"""Stays: where the person was, from when to when, derived from sensor events.

The extraction (`extract_timeline`) is implemented below the types.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from operator import attrgetter

import numpy as np

from hometwin.domain.events import SensorEvent, SensorKind


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


# ---------------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StayParams:
    """Knobs of `extract_timeline`.

    away_after: an outside-door event followed by at least this long without indoor activity is
        an away interval (the person left). Shorter silences after a door are still a stay.
    unknown_after: no data at all for at least this long, without a door event before it, is an
        unknown interval (sensor or network outage), not a stay. Sleep in a home without bed mats is
        often 8-10 h without a single event, so this must be longer than a long night.
    exit_grace: events in the door's own room up to this long after the door event still count as
        leaving (the hall PIR sees the person in the doorway after the door contact fired).
    aliases: spelling -> room, applied before the built-in normalisation (case, spaces).
    off_means_present: kinds whose OFF/CLOSE (value 0) still shows the person in the room:
        closing a cupboard, getting up from a bed mat, closing the front door. A motion OFF only
        says the PIR's timer ran out (often after the person already left), so it is not presence.
    """

    away_after: timedelta = timedelta(minutes=15)
    unknown_after: timedelta = timedelta(hours=12)
    exit_grace: timedelta = timedelta(seconds=60)
    aliases: dict[str, str] = field(default_factory=dict, hash=False)
    off_means_present: frozenset[SensorKind] = frozenset(
        {SensorKind.CONTACT, SensorKind.PRESSURE, SensorKind.DOOR})

    def __post_init__(self) -> None:
        for name in ("away_after", "unknown_after", "exit_grace"):
            value = getattr(self, name)
            if not isinstance(value, timedelta) or value < timedelta(0):
                raise ValueError(f"StayParams.{name} must be a non-negative timedelta, got {value!r}")
        if self.unknown_after <= timedelta(0) or self.away_after <= timedelta(0):
            raise ValueError("StayParams.away_after and unknown_after must be positive")
        kinds = frozenset(SensorKind(k) for k in self.off_means_present)
        object.__setattr__(self, "off_means_present", kinds)

    def to_dict(self) -> dict[str, object]:
        return {
            "away_after_s": self.away_after.total_seconds(),
            "unknown_after_s": self.unknown_after.total_seconds(),
            "exit_grace_s": self.exit_grace.total_seconds(),
            "aliases": dict(self.aliases),
            "off_means_present": sorted(k.value for k in self.off_means_present),
        }

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> StayParams:
        default = cls()

        def seconds(key: str, fallback: timedelta) -> timedelta:
            raw = d.get(key, fallback.total_seconds())
            if not isinstance(raw, int | float):
                raise ValueError(f"StayParams {key} must be a number, got {raw!r}")
            return timedelta(seconds=float(raw))

        aliases = d.get("aliases", {})
        kinds = d.get("off_means_present", sorted(default.off_means_present))
        if not isinstance(aliases, dict) or not isinstance(kinds, list | tuple | set | frozenset):
            raise ValueError("StayParams aliases must be an object and off_means_present a list")
        return cls(
            away_after=seconds("away_after_s", default.away_after),
            unknown_after=seconds("unknown_after_s", default.unknown_after),
            exit_grace=seconds("exit_grace_s", default.exit_grace),
            aliases={str(k): str(v) for k, v in aliases.items()},
            off_means_present=frozenset(SensorKind(k) for k in kinds),
        )


@lru_cache(maxsize=4096)
def room_key(name: str) -> str:
    """Normalised spelling: one room written several ways ("Living Room", "living  room") is one key.

    Kept per spelling (a home has a handful of rooms, a process a few thousand spellings at most):
    every check asks it for the events it reads, a calibration's replay a hundred thousand times."""
    return " ".join(name.split()).casefold()


def canonical_rooms(spellings: Iterable[str], aliases: dict[str, str] | None = None) -> dict[str, str]:
    """spelling -> canonical room name. Aliases apply first; spellings equal up to case and spaces
    then share one name: an alias target if the group has one, else the tidiest spelling (no stray
    spaces, not all capitals), ties broken alphabetically so the choice is deterministic."""
    aliases = aliases or {}
    targets = set(aliases.values())
    groups: dict[str, list[str]] = {}
    for s in spellings:
        target = aliases.get(s, s)
        groups.setdefault(room_key(target), []).append(target)

    def untidiness(name: str) -> tuple[bool, bool, bool, str]:
        return (name not in targets, name != " ".join(name.split()), name.isupper(), name)

    chosen = {key: min(names, key=untidiness) for key, names in groups.items()}
    return {s: chosen[room_key(aliases.get(s, s))] for s in spellings}


_KINDS = list(SensorKind)
_KIND_CODE = {k: i for i, k in enumerate(_KINDS)}
_DOOR = _KIND_CODE[SensorKind.DOOR]
_OTHER = _KIND_CODE[SensorKind.OTHER]


def extract_timeline(events: Iterable[SensorEvent], params: StayParams = StayParams()) -> Timeline:
    """Events (any order, duplicates allowed) -> stays, away and unknown intervals.

    Rules (DESIGN.md section 4), in this order:
    - Presence events say where the person is: motion ON, any contact/pressure/door event (OFF too,
      see `StayParams.off_means_present`), and `other` sensors only when switched ON (value 1):
      a flush or a kettle is switched on by someone, a battery or air reading says nothing.
    - A stay runs from its first presence event until the first presence event elsewhere.
    - Away: the last presence event before a gap of at least `away_after` is an outside door (or
      follows one within `exit_grace` in the door's own room). Away runs from that event to the next
      presence event; the stay before ends where away starts.
    - Unknown: any other stretch without ANY event (presence or not) of at least `unknown_after`.
      It runs from the last event before the outage to the next presence event; the stay before it
      ends at the last event before the outage.
    - Ties (same time) are ordered by room, sensor, kind and value, so the result does not depend on
      arrival order; exact duplicates count once.

    Speed: the per-event work is a handful of C-level maps into numpy arrays; Python loops run only
    over stays and long gaps.
    """
    return timeline_from_arrays(event_arrays(events, params), params)


@dataclass(frozen=True, slots=True)
class EventArrays:
    """Events as parallel numpy arrays in canonical order (time, then room, sensor, kind, value),
    exact duplicates removed. The behaviour model reuses them (counts, fingerprint) so the
    per-event work is done once."""

    events: list[SensorEvent]  # as given; `order[i]` is the index of the i-th canonical event
    order: np.ndarray
    t: np.ndarray  # UTC epoch seconds, float64
    room: np.ndarray  # int32 index into `rooms`
    kind: np.ndarray  # int8 index into `KINDS`
    value: np.ndarray  # float64
    present: np.ndarray  # bool: a presence event (see extract_timeline)
    rooms: list[str]  # canonical room names, sorted

    def __len__(self) -> int:
        return len(self.t)


KINDS: tuple[SensorKind, ...] = tuple(SensorKind)


def event_arrays(events: Iterable[SensorEvent], params: StayParams = StayParams()) -> EventArrays:
    """The per-event part of the extraction: arrays, canonical order, duplicates, presence."""
    evs = events if isinstance(events, list) else list(events)
    n = len(evs)
    t = np.fromiter(map(datetime.timestamp, map(_get_time, evs)), np.float64, n)
    room_names = list(map(_get_room, evs))
    canon = canonical_rooms(set(room_names), params.aliases)
    names = sorted(set(canon.values()))
    index = {name: i for i, name in enumerate(names)}
    room_code = {s: index[c] for s, c in canon.items()}
    room = np.fromiter(map(room_code.__getitem__, room_names), np.int32, n)
    kind = np.fromiter(map(_KIND_CODE.__getitem__, map(_get_kind, evs)), np.int8, n)
    value = np.fromiter(map(_get_value, evs), np.float64, n)

    order = _chronological_order(t, room, kind, value, evs)
    t, room, kind, value = t[order], room[order], kind[order], value[order]
    if n > 1:  # exact duplicates (sorted next to each other by the tie order) count once
        keep = np.ones(n, dtype=bool)
        same = ((t[1:] == t[:-1]) & (room[1:] == room[:-1])
                & (kind[1:] == kind[:-1]) & (value[1:] == value[:-1]))
        if same.any():
            for i in np.nonzero(same)[0]:
                keep[i + 1] = evs[order[i + 1]].sensor != evs[order[i]].sensor
            order, t, room, kind, value = order[keep], t[keep], room[keep], kind[keep], value[keep]

    off_present = np.zeros(len(_KINDS), dtype=bool)
    for k in params.off_means_present:
        off_present[_KIND_CODE[k]] = True
    present = np.where(kind == _OTHER, value == 1.0, (value != 0.0) | off_present[kind])
    return EventArrays(evs, order, t, room, kind, value, present, names)


def timeline_from_arrays(a: EventArrays, params: StayParams = StayParams()) -> Timeline:
    """The per-stay part of the extraction (see extract_timeline)."""
    if len(a) == 0:
        return Timeline()
    evs, order, t, room, kind, names = a.events, a.order, a.t, a.room, a.kind, a.rooms
    pidx = np.nonzero(a.present)[0]
    if len(pidx) == 0:
        return Timeline(unknown=_outages_without_presence(t, order, evs, params))
    tp, rp, dp = t[pidx], room[pidx], kind[pidx] == _DOOR
    porder = order[pidx]

    # Gaps between consecutive presence events: room changes, away, unknown.
    m = len(pidx)
    cut = np.zeros(max(m - 1, 0), dtype=bool)
    cut |= rp[1:] != rp[:-1]
    away_gap = np.zeros(m, dtype=bool)  # indexed by the presence event before the gap
    for gap in np.nonzero(np.diff(tp) >= params.away_after.total_seconds())[0].tolist():
        away_gap[gap] = _left_home(gap, tp, rp, dp, params.exit_grace.total_seconds(),
                                   params.away_after.total_seconds())
    # Outages: long stretches without any event at all, mapped to the presence gap they fall in.
    outage_start: dict[int, int] = {}  # presence position i -> position in t of the last event before it
    outage_end: dict[int, int] = {}
    for j in np.nonzero(np.diff(t) >= params.unknown_after.total_seconds())[0].tolist():
        i = int(np.searchsorted(tp, t[j], side="right")) - 1
        if i >= 0 and not away_gap[i]:
            outage_start.setdefault(i, j)
            outage_end[i] = j + 1
    for i in outage_start:
        if i < m - 1:
            cut[i] = True
    cut |= away_gap[:-1]

    ends = np.nonzero(cut)[0]
    starts = np.concatenate(([0], ends + 1))
    ends = np.concatenate((ends, [m - 1]))
    stays: list[Stay] = []
    away: list[Interval] = []
    unknown: list[Interval] = []
    last_event_time = evs[order[-1]].time
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        start = evs[porder[s]].time
        if e in outage_start:
            end = evs[order[outage_start[e]]].time
            resume = evs[porder[e + 1]].time if e + 1 < m else evs[order[outage_end[e]]].time
            unknown.append(Interval(IntervalKind.UNKNOWN, end, resume))
        elif away_gap[e] and e + 1 < m:
            end = evs[porder[e]].time
            away.append(Interval(IntervalKind.AWAY, end, evs[porder[e + 1]].time))
        elif e + 1 < m:
            end = evs[porder[e + 1]].time
        else:
            end = last_event_time
        stays.append(Stay(names[rp[s]], start, end, e - s + 1))
    first_presence = int(pidx[0])
    leading = _outages_without_presence(t[: first_presence + 1], order[: first_presence + 1], evs, params)
    return Timeline(stays=stays, away=away, unknown=leading + unknown)


# attrgetter runs at C speed inside map(): it is what keeps the per-event cost small.
_get_time: Callable[[SensorEvent], datetime] = attrgetter("time")
_get_room: Callable[[SensorEvent], str] = attrgetter("room")
_get_kind: Callable[[SensorEvent], SensorKind] = attrgetter("kind")
_get_value: Callable[[SensorEvent], float] = attrgetter("value")


def _chronological_order(t: np.ndarray, room: np.ndarray, kind: np.ndarray, value: np.ndarray,
                         evs: list[SensorEvent]) -> np.ndarray:
    """Indices sorting by time; events at the same time by (room, sensor, kind, value).

    Only the tied events go through the (slower) multi-key sort.
    """
    n = len(t)
    if n > 1 and bool(np.all(t[1:] >= t[:-1])):
        order = np.arange(n)
    else:
        order = np.argsort(t, kind="stable")
    ts = t[order]
    tie = np.nonzero(ts[1:] == ts[:-1])[0]
    if len(tie):
        members = np.unique(np.concatenate((tie, tie + 1)))
        sub = order[members]
        sensors = [evs[k].sensor for k in sub.tolist()]
        sensor_rank = {s: r for r, s in enumerate(sorted(set(sensors)))}
        sensor = np.fromiter(map(sensor_rank.__getitem__, sensors), np.int32, len(sub))
        order[members] = sub[np.lexsort((value[sub], kind[sub], sensor, room[sub], t[sub]))]
    return order


def _left_home(i: int, tp: np.ndarray, rp: np.ndarray, dp: np.ndarray, grace: float, away_after: float) -> bool:
    """Did the person leave before the gap after presence event i? Yes if event i is a door event,
    or a door event came at most `grace` before it and every event since was in the door's room,
    unless that door event was a homecoming: nobody was seen inside for `away_after` before it
    (someone leaving walks to the door; someone arriving was away)."""
    j = i
    while j >= 0 and tp[i] - tp[j] <= grace:
        if dp[j]:
            if not np.all(rp[j:i + 1] == rp[j]):
                return False
            if j == i:  # the door is the last thing seen
                return True
            k = j - 1
            while k >= 0 and dp[k]:
                k -= 1
            return bool(k >= 0 and tp[j] - tp[k] < away_after)
        j -= 1
    return False


def _outages_without_presence(t: np.ndarray, order: np.ndarray, evs: list[SensorEvent],
                              params: StayParams) -> list[Interval]:
    """Unknown intervals in a stretch that has no presence event (before the first one)."""
    limit = params.unknown_after.total_seconds()
    return [Interval(IntervalKind.UNKNOWN, evs[order[j]].time, evs[order[j + 1]].time)
            for j in np.nonzero(np.diff(t) >= limit)[0].tolist()]


def overlaps_gaps(lo: np.ndarray, hi: np.ndarray, timeline: Timeline | None) -> np.ndarray:
    """Which spans (lo, hi) (epoch seconds) overlap an away or unknown interval of `timeline`: time
    that says nothing about the person at home (away, or no data)."""
    if timeline is None or not (timeline.away or timeline.unknown):
        return np.zeros(len(lo), dtype=bool)
    spans = sorted((i.start.timestamp(), i.end.timestamp()) for i in (*timeline.away, *timeline.unknown))
    starts = np.array([s for s, _ in spans])
    ends = np.maximum.accumulate(np.array([e for _, e in spans]))
    k = np.searchsorted(starts, hi, side="left") - 1  # the last interval starting before the span ends
    return (k >= 0) & (ends[np.maximum(k, 0)] > lo)
