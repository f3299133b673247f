"""The simulated resident: plans days, injects emergencies, and turns segments into sensor events.

`simulate(days, seed, start)` returns the events plus the ground truth (stays, activities,
emergencies). `Resident(layout, seed).events(start, end)` yields exactly the same events for any
window, so the demo can continue a simulated history live. A `Lifestyle` and `Trip`s (days away)
change the person's habits; visitors' segments are a second stream, merged by time.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import chain
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

from hometwin.domain.events import Activity, SensorEvent, SensorKind
from hometwin.sim.changes import BehaviourChange, lifestyle_on
from hometwin.sim.layout import Emergency, Fall, HomeLayout, NotComingHome, StuckInBathroom
from hometwin.sim.objects import object_uses
from hometwin.sim.routine import (
    ACTIVE,
    AWAY,
    MOTION,
    SILENT,
    SLEEP,
    STILL,
    DayPlanner,
    Lifestyle,
    Segment,
    Trip,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(ts: float) -> datetime:
    return _EPOCH + timedelta(microseconds=round(ts * 1_000_000))


@dataclass(frozen=True, slots=True)
class TruthStay:
    room: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class TruthEmergency:
    kind: str
    start: datetime  # when the emergency begins (for not coming home: the planned return)
    end: datetime
    room: str


@dataclass
class GroundTruth:
    stays: list[TruthStay] = field(default_factory=list)  # at home; "away" intervals separately
    away: list[tuple[datetime, datetime]] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)
    emergencies: list[TruthEmergency] = field(default_factory=list)
    visits: list[tuple[datetime, datetime]] = field(default_factory=list)  # a visitor was in

    def to_dict(self) -> dict[str, Any]:
        iso = datetime.isoformat
        doc = {
            "stays": [{"room": s.room, "start": iso(s.start), "end": iso(s.end)} for s in self.stays],
            "away": [{"start": iso(a), "end": iso(b)} for a, b in self.away],
            "activities": [{"label": a.label, "start": iso(a.start), "end": iso(a.end)}
                           for a in self.activities],
            "emergencies": [{"type": e.kind, "start": iso(e.start), "end": iso(e.end), "room": e.room}
                            for e in self.emergencies],
        }
        if self.visits:  # only lifestyles with visitors: the original document stays as it was
            doc["visits"] = [{"start": iso(a), "end": iso(b)} for a, b in self.visits]
        return doc


@dataclass
class SimResult:
    events: list[SensorEvent]
    ground_truth: GroundTruth
    layout: HomeLayout
    seed: int

    def to_dict(self) -> dict[str, Any]:
        """The ground truth plus what produced it (the events go to an event store)."""
        return {"seed": self.seed, "tz": self.layout.tz, "n_events": len(self.events),
                **self.ground_truth.to_dict()}


class Resident:
    """One person living alone in `layout`; deterministic for a seed. `lifestyle` (default: the
    original routine) sets the habits, `trips` are days away from home."""

    def __init__(self, layout: HomeLayout | None = None, seed: int = 0, lifestyle: Lifestyle | None = None,
                 trips: Sequence[Trip] = (), changes: Sequence[BehaviourChange] = ()) -> None:
        self.layout = layout or HomeLayout.default()
        self.seed = seed
        self.zone = ZoneInfo(self.layout.tz)
        self.trips = tuple(sorted(trips, key=attrgetter("start")))
        life = lifestyle or Lifestyle()
        changes = tuple(changes)
        self._planner = DayPlanner(self.layout, seed, life,
                                   (lambda day: lifestyle_on(life, changes, day)) if changes else None)

    def plan(self, start: datetime, end: datetime, emergencies: Sequence[Emergency] = ()
             ) -> tuple[list[Segment], list[TruthEmergency]]:
        """The segments overlapping [start, end) with the emergencies applied, and their ground truth."""
        segments, _, truths = self.window(start, end, emergencies)
        return segments, truths

    def window(self, start: datetime, end: datetime, emergencies: Sequence[Emergency] = ()
               ) -> tuple[list[Segment], list[Segment], list[TruthEmergency]]:
        """The resident's segments overlapping [start, end), the visitors' segments from the first of
        them on, and the emergencies' ground truth."""
        first = start.astimezone(self.zone).date().toordinal() - 1
        last = end.astimezone(self.zone).date().toordinal() + 1
        plan: list[Segment] = []
        for ordinal in range(first, last + 1):
            plan.extend(self._planner.plan(date.fromordinal(ordinal)))
        for trip in self.trips:
            if trip.end.timestamp() > plan[0].start and trip.start.timestamp() < plan[-1].end:
                plan = _take_trip(plan, trip, self.layout)
        truths = []
        for emergency in sorted(emergencies, key=lambda e: e.at):
            plan, truth = _inject(plan, emergency, self.layout)
            truths.append(truth)
        lo, hi = start.timestamp(), end.timestamp()
        first_in = next((i for i, s in enumerate(plan) if s.end > lo), len(plan))
        # one segment before the window too: a PIR's blind time carries over into the next segment
        segments = [s for s in plan[max(first_in - 1, 0):] if s.start < hi]
        visitors: list[Segment] = []
        for ordinal in range(first, last + 1):
            visit = self._planner.visit(date.fromordinal(ordinal))
            if visit and _host_is_in(plan, visit[0].start - 600, visit[-1].end + 600):
                visitors.extend(v for v in visit if segments and v.end > segments[0].start and v.start < hi)
        return segments, visitors, truths

    def events(self, start: datetime, end: datetime, emergencies: Sequence[Emergency] = ()
               ) -> Iterator[SensorEvent]:
        """Sensor events with start <= time < end, in time order (lazily, segment by segment)."""
        lo, hi = start.timestamp(), end.timestamp()
        segments, visitors, _ = self.window(start, end, emergencies)
        for event in self._stream(segments, visitors):
            ts = event.time.timestamp()
            if lo <= ts < hi:
                yield event

    def _stream(self, segments: Iterable[Segment], visitors: Sequence[Segment] = ()) -> Iterator[SensorEvent]:
        """Events of consecutive segments (and the visitors', merged by time); a PIR that fired just
        before a segment began is still blind."""
        blind = {s.name: s.blind_seconds for specs in self.layout.rooms.values() for s in specs}
        last: dict[str, float] = {}
        source: Iterable[SensorEvent] = chain.from_iterable(map(self.segment_events, segments))
        if visitors:
            source = heapq.merge(source, chain.from_iterable(map(self.segment_events, visitors)),
                                 key=attrgetter("time"))
        for event in source:
            if event.kind is SensorKind.MOTION:
                ts = event.time.timestamp()
                if ts < last.get(event.sensor, -math.inf) + blind[event.sensor]:
                    continue
                last[event.sensor] = ts
            yield event

    def segment_events(self, seg: Segment) -> list[SensorEvent]:
        if seg.room == AWAY:
            return []
        rng = random.Random(f"{self.seed}:{seg.start:.6f}:{seg.room}" + (f":{seg.who}" if seg.who else ""))
        out: list[tuple[float, str, SensorKind, float]] = []
        last_moment = seg.end - 0.5
        for pir in self.layout.sensors(seg.room, SensorKind.MOTION):
            if seg.level == SILENT:
                continue
            # entering the room: almost always seen (after the front door, when coming home);
            # then movements spaced by a log-normal gap
            t = seg.start + rng.uniform(2.5, 5.0) if seg.door == "in" else seg.start + rng.uniform(0.2, 3.0)
            median, spread = MOTION.get(seg.level, MOTION[STILL])
            blind_until = -math.inf
            while t < last_moment:
                if t >= blind_until and rng.random() >= pir.miss:
                    out.append((t, pir.name, SensorKind.MOTION, 1.0))
                    blind_until = t + pir.blind_seconds
                t += rng.lognormvariate(math.log(median), spread)
        for contact in self.layout.sensors(seg.room, SensorKind.CONTACT):
            if contact.uses:
                continue  # object sensors with declared uses: see object_uses
            if seg.level == ACTIVE or seg.activity in ("breakfast", "lunch", "dinner", "drink"):
                opens = sorted(rng.uniform(seg.start, last_moment) for _ in range(rng.choice((0, 1, 1, 2))))
                for i, opened in enumerate(opens):  # open, then closed before it opens again
                    limit = opens[i + 1] if i + 1 < len(opens) else last_moment + 0.25
                    closed = min(opened + rng.uniform(3, 40), (opened + limit) / 2)
                    out += [(opened, contact.name, SensorKind.CONTACT, 1.0),
                            (closed, contact.name, SensorKind.CONTACT, 0.0)]
        if seg.door:
            for door in self.layout.sensors(seg.room, SensorKind.DOOR):
                opened = (seg.end - rng.uniform(6, 12) if seg.door == "out"
                          else seg.start + rng.uniform(0.1, 2.0))
                opened = min(max(opened, seg.start), last_moment)
                out += [(opened, door.name, SensorKind.DOOR, 1.0),
                        (min(opened + rng.uniform(2, 5), last_moment), door.name, SensorKind.DOOR, 0.0)]
        out += object_uses(self.layout, seg, rng)
        out.sort()
        room, trusted = seg.room, SensorEvent.trusted
        return [trusted(_utc(t), name, room, kind, value) for t, name, kind, value in out]


def _inject(plan: list[Segment], emergency: Emergency, layout: HomeLayout
            ) -> tuple[list[Segment], TruthEmergency]:
    """Rewrite the plan around one emergency; the routine resumes when it is over."""
    at = emergency.at.timestamp()
    if isinstance(emergency, NotComingHome):
        outing = next((s for s in plan if s.room == AWAY and at <= s.start <= at + 86_400), None)
        if outing is None:  # no outing planned soon: leave right now
            start, planned_end = at + 60, at + 60
            leave = Segment(layout.entrance, at, start, "leaving", ACTIVE, door="out")
        else:
            start, planned_end, leave = outing.start, outing.end, None
        end = planned_end + emergency.duration.total_seconds()
        new = [Segment(AWAY, start, end, "out", SILENT),
               Segment(layout.entrance, end, end + 60, "arriving", ACTIVE, door="in")]
        if leave is not None:
            new.insert(0, leave)
        truth = TruthEmergency(emergency.kind, _utc(planned_end), _utc(end), AWAY)
        return _splice(plan, new), truth
    if isinstance(emergency, Fall):
        end = at + emergency.duration.total_seconds()
        room = _room_at(plan, at, layout)
        return _splice(plan, [Segment(room, at, end, "fall", SILENT)]), TruthEmergency(
            emergency.kind, _utc(at), _utc(end), room)
    assert isinstance(emergency, StuckInBathroom)
    end = at + emergency.minutes * 60
    return _splice(plan, [Segment(layout.bathroom, at, end, "stuck", STILL)]), TruthEmergency(
        emergency.kind, _utc(at), _utc(end), layout.bathroom)


def _take_trip(plan: list[Segment], trip: Trip, layout: HomeLayout) -> list[Segment]:
    """Replace the days of a trip by an absence, leaving and coming back through the hall."""
    lo, hi = trip.start.timestamp(), trip.end.timestamp()
    return _splice(plan, [
        Segment(layout.entrance, lo, lo + 60, "leaving", ACTIVE, door="out" if trip.door else ""),
        Segment(AWAY, lo + 60, hi, "trip", SILENT),
        Segment(layout.entrance, hi, hi + 90, "arriving", ACTIVE, door="in" if trip.door else ""),
    ])


def _host_is_in(plan: list[Segment], lo: float, hi: float) -> bool:
    """The resident is at home, awake and well all through [lo, hi): someone can visit."""
    return all(s.room != AWAY and s.level not in (SLEEP, SILENT) and s.activity != "stuck"
               for s in plan if s.end > lo and s.start < hi)


def _room_at(plan: list[Segment], at: float, layout: HomeLayout) -> str:
    for seg in plan:
        if seg.start <= at < seg.end:
            return seg.room if seg.room != AWAY else layout.entrance  # fell on coming home
    return layout.livingroom


def _splice(plan: list[Segment], new: list[Segment]) -> list[Segment]:
    """Replace whatever the plan had during [new[0].start, new[-1].end) by `new`, trimming edges."""
    lo, hi = new[0].start, new[-1].end
    out: list[Segment] = []
    for seg in plan:
        if seg.end <= lo or seg.start >= hi:
            out.append(seg)
            continue
        if seg.start < lo:
            out.append(Segment(seg.room, seg.start, lo, seg.activity, seg.level,
                               seg.door if seg.door == "in" else ""))
        if seg.end > hi:
            # resuming in the middle of an outing makes no sense: the person is home again
            room = seg.room if seg.room != AWAY else new[-1].room
            out.append(Segment(room, hi, seg.end, seg.activity, seg.level if room == seg.room else STILL,
                               seg.door if seg.door == "out" else ""))
    out.extend(new)
    out.sort(key=lambda s: s.start)
    return out


def ground_truth(segments: Iterable[Segment], truths: Sequence[TruthEmergency],
                 visitors: Iterable[Segment] = ()) -> GroundTruth:
    gt = GroundTruth(emergencies=list(truths))
    for seg in visitors:
        start, end = _utc(seg.start), _utc(seg.end)
        if gt.visits and gt.visits[-1][1] == start:
            gt.visits[-1] = (gt.visits[-1][0], end)
        else:
            gt.visits.append((start, end))
    for seg in segments:
        start, end = _utc(seg.start), _utc(seg.end)
        if seg.room == AWAY:
            if gt.away and gt.away[-1][1] == start:
                gt.away[-1] = (gt.away[-1][0], end)
            else:
                gt.away.append((start, end))
        elif gt.stays and gt.stays[-1].room == seg.room and gt.stays[-1].end == start:
            gt.stays[-1] = TruthStay(seg.room, gt.stays[-1].start, end)
        else:
            gt.stays.append(TruthStay(seg.room, start, end))
        if gt.activities and gt.activities[-1].label == seg.activity and gt.activities[-1].end == start:
            gt.activities[-1] = Activity(seg.activity, gt.activities[-1].start, end)
        else:
            gt.activities.append(Activity(seg.activity, start, end))
    return gt


def simulate(days: int, seed: int = 0, start: datetime | None = None, layout: HomeLayout | None = None,
             emergencies: Sequence[Emergency] = (), lifestyle: Lifestyle | None = None,
             trips: Sequence[Trip] = (), changes: Sequence[BehaviourChange] = ()) -> SimResult:
    """`days` days from `start` (default: local midnight of 2024-01-01 in the layout's zone);
    `changes`: behaviour changes injected from a day on (sim/changes.py, for the trends evaluation)."""
    layout = layout or HomeLayout.default()
    if days < 0:
        raise ValueError("days must not be negative")
    if start is None:
        start = datetime(2024, 1, 1, tzinfo=ZoneInfo(layout.tz))
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    end = start + timedelta(days=days)
    resident = Resident(layout, seed, lifestyle, trips, changes)
    window, visitors, truths = resident.window(start, end, emergencies)
    lo, hi = start.timestamp(), end.timestamp()
    events = [e for e in resident._stream(window, visitors) if lo <= e.time.timestamp() < hi]

    def clip(segments: Iterable[Segment]) -> list[Segment]:
        return [Segment(s.room, max(s.start, lo), min(s.end, hi), s.activity, s.level, s.door, s.who)
                for s in segments if s.end > lo and s.start < hi]

    return SimResult(events, ground_truth(clip(window), truths, clip(visitors)), layout, seed)
