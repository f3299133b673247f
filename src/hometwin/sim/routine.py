"""A resident's day as a list of segments: where the person is, doing what, and how much they move.

Each local day is planned from its own random stream (seeded by the seed and the date), from that
day's wake-up to the next day's wake-up, so any window of days is planned identically whether it is
simulated in one go or continued live. Times are epoch seconds (floats) for speed.

A `Lifestyle` holds the person's habits; its defaults are the original routine, and every habit the
default lacks (naps, long evenings, late nights, days out, missed doors, visitors) draws from a
random stream of its own, so the default lifestyle plans exactly what it always planned.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from hometwin.sim.layout import HomeLayout

AWAY = "away"
VISITOR = "visitor"

# How much a person moves, as the median gap between movements (seconds) and its log-spread.
# QUIET: a long evening in front of the television, where a PIR sees a movement every ten minutes.
ACTIVE, MEAL, STILL, QUIET, SLEEP, SILENT = "active", "meal", "still", "quiet", "sleep", "silent"
MOTION = {ACTIVE: (6.0, 0.6), MEAL: (25.0, 0.9), STILL: (150.0, 1.1), QUIET: (600.0, 1.0),
          SLEEP: (2400.0, 0.8)}
RESTING = (STILL, QUIET, SLEEP)


@dataclass(slots=True)
class Segment:
    room: str  # a room of the layout, or AWAY
    start: float
    end: float
    activity: str
    level: str  # ACTIVE, MEAL, STILL, QUIET, SLEEP or SILENT
    door: str = ""  # "out": the front door opens near the end; "in": near the start
    who: str = ""  # "": the resident; VISITOR: a second person (moves, but sits on no mat)


@dataclass(frozen=True, slots=True)
class Lifestyle:
    """A person's habits. Times are minutes after local midnight (beyond 1440: after midnight),
    spreads are day-to-day standard deviations, other numbers are probabilities per day (per
    outing for `door_missed`). The defaults are the original simulated resident."""

    wake_weekday: tuple[float, float] = (405.0, 20.0)  # 06:45 +- 20 min
    wake_weekend: tuple[float, float] = (495.0, 40.0)  # 08:15 +- 40 min
    wake_bounds: tuple[float, float] = (300.0, 660.0)  # never before 05:00 nor after 11:00
    bed_weekday: tuple[float, float] = (1350.0, 25.0)  # 22:30
    bed_weekend: tuple[float, float] = (1395.0, 35.0)  # 23:15
    shower_weekday: float = 0.65
    shower_weekend: float = 0.5
    morning_outing: float = 0.75
    afternoon_outing: float = 0.3
    weekend_outing: float = 0.6
    lunch_at: float = 750.0
    dinner_at: float = 1110.0
    sitting_minutes: float = 40.0  # median spell on the sofa between short visits elsewhere
    toilet_breaks: float = 0.5  # share of those visits that go to the toilet (0.3 more: kitchen)
    long_evening: float = 0.0  # an evening of long, quiet spells on the sofa
    long_evening_minutes: float = 120.0
    nap: float = 0.0  # an afternoon nap
    nap_minutes: tuple[float, float] = (20.0, 60.0)
    nap_in_bed: bool = True  # False: on the sofa
    late_night: float = 0.0  # going to bed hours later than usual
    late_night_hours: tuple[float, float] = (1.0, 3.0)
    day_out: float = 0.0  # a whole day out instead of the usual outings
    day_out_hours: tuple[float, float] = (5.0, 10.0)
    door_missed: float = 0.0  # an outing the door contact does not see (garden door, door ajar)
    visits: float = 0.0  # a visitor for some hours in the afternoon
    visit_hours: tuple[float, float] = (1.0, 3.0)
    night_toilet_rate: float = 1.0  # mean night-time toilet visits (sim/changes.py doubles it)
    kitchen_share: float = 1.0  # factor on breakfast and meal times in the kitchen (sim/changes.py halves it)


DEFAULT_LIFESTYLE = Lifestyle()


@dataclass(frozen=True, slots=True)
class Trip:
    """Away from home from `start` to `end` (days, not hours); `door`: the door contact sees it."""

    start: datetime
    end: datetime
    door: bool = True


def _rng(seed: int, day: date, stream: str) -> random.Random:
    return random.Random(f"{seed}:{day.isoformat()}:{stream}")  # str seeds hash stably (sha512)


def _at(day: date, minutes: float, zone: ZoneInfo) -> float:
    """Epoch seconds of `minutes` after local midnight of `day` (wall clock, so DST days work)."""
    minutes = max(0.0, minutes)
    extra_days, minutes = divmod(minutes, 1440)
    local = datetime.combine(date.fromordinal(day.toordinal() + int(extra_days)), time(), zone)
    hour, minute = divmod(minutes, 60)
    return local.replace(hour=int(hour), minute=int(minute), second=int((minute % 1) * 60)).timestamp()


def wake_time(seed: int, day: date, zone: ZoneInfo, life: Lifestyle = DEFAULT_LIFESTYLE) -> float:
    rng = _rng(seed, day, "wake")
    mean, spread = life.wake_weekend if day.weekday() >= 5 else life.wake_weekday
    minutes = rng.gauss(mean, spread)
    return _at(day, min(max(minutes, life.wake_bounds[0]), life.wake_bounds[1]), zone)


class DayPlanner:
    def __init__(self, layout: HomeLayout, seed: int, lifestyle: Lifestyle = DEFAULT_LIFESTYLE,
                 habits_on: Callable[[date], Lifestyle] | None = None) -> None:
        self.layout = layout
        self.seed = seed
        self.life = lifestyle
        self.habits_on = habits_on
        self.zone = ZoneInfo(layout.tz)

    def life_on(self, day: date) -> Lifestyle:
        """The habits of `day`: `habits_on(day)` when given (injected behaviour changes,
        sim/changes.py), else the lifestyle."""
        return self.habits_on(day) if self.habits_on is not None else self.life

    def plan(self, day: date) -> list[Segment]:
        """Segments from this day's wake-up to the next day's wake-up, contiguous."""
        lay, zone, life = self.layout, self.zone, self.life_on(day)
        rng = _rng(self.seed, day, "day")
        extra = _rng(self.seed, day, "habits")  # habits the default lifestyle lacks draw only here
        weekend = day.weekday() >= 5
        t = wake_time(self.seed, day, zone, life)
        tomorrow = date.fromordinal(day.toordinal() + 1)
        next_wake = wake_time(self.seed, tomorrow, zone, self.life_on(tomorrow))
        out: list[Segment] = []

        def add(room: str, minutes: float, activity: str, level: str, door: str = "") -> None:
            nonlocal t
            end = t + max(minutes, 0.2) * 60
            out.append(Segment(room, t, end, activity, level, door))
            t = end

        add(lay.toilet_room, rng.uniform(3, 6), "toileting", ACTIVE)
        if rng.random() < (life.shower_weekend if weekend else life.shower_weekday):
            add(lay.bathroom, rng.uniform(8, 18), "showering", ACTIVE)
        add(lay.bathroom, rng.uniform(4, 9), "grooming", ACTIVE)
        add(lay.bedroom, rng.uniform(4, 10), "dressing", ACTIVE)
        add(lay.kitchen, rng.uniform(5, 10) * life.kitchen_share, "breakfast", ACTIVE)
        add(lay.kitchen, rng.uniform(10, 25) * life.kitchen_share, "breakfast", MEAL)

        # Anchored activities (start in minutes after midnight, length in minutes, kind).
        anchors: list[tuple[float, float, str]] = []
        if weekend:
            if rng.random() < life.weekend_outing:
                anchors.append((rng.uniform(10.5, 15) * 60, rng.uniform(120, 300), "outing"))
        else:
            if rng.random() < life.morning_outing:
                anchors.append((rng.uniform(9.25, 11) * 60, rng.uniform(90, 210), "outing"))
            if rng.random() < life.afternoon_outing:
                anchors.append((rng.uniform(15, 16.5) * 60, rng.uniform(60, 120), "outing"))
        anchors.append((rng.gauss(life.lunch_at, 25), rng.uniform(25, 45), "lunch"))
        anchors.append((rng.gauss(life.dinner_at, 30), rng.uniform(30, 55), "dinner"))
        if life.day_out and extra.random() < life.day_out:  # replaces the outings and lunch at home
            anchors = [a for a in anchors if a[2] == "dinner"]
            anchors.append((extra.uniform(8.5, 11) * 60, extra.uniform(*life.day_out_hours) * 60, "outing"))
        elif life.nap and extra.random() < life.nap:
            anchors.append((extra.uniform(13.25, 15.5) * 60, extra.uniform(*life.nap_minutes), "nap"))
        anchors.sort()
        bed_mean, bed_spread = life.bed_weekend if weekend else life.bed_weekday
        bedtime = _at(day, rng.gauss(bed_mean, bed_spread), zone)
        if life.late_night and extra.random() < life.late_night:
            bedtime += extra.uniform(*life.late_night_hours) * 3600
        bedtime = min(bedtime, next_wake - 3 * 3600)  # a short night, never one that ends before it begins

        for start_min, length, kind in anchors:
            start = max(_at(day, start_min, zone), t)
            if start + length * 60 > bedtime - 1800:
                continue  # the day ran late: skip rather than push bedtime
            self._leisure(out, t, start, rng, life=life)
            t = start
            if kind == "outing":
                seen = not (life.door_missed and extra.random() < life.door_missed)
                add(lay.entrance, rng.uniform(0.4, 1.2), "leaving", ACTIVE, door="out" if seen else "")
                add(AWAY, length, "out", SILENT)
                add(lay.entrance, rng.uniform(0.4, 1.5), "arriving", ACTIVE, door="in" if seen else "")
            elif kind == "nap":
                add(lay.bedroom if life.nap_in_bed else lay.livingroom, length, "napping", SLEEP)
            else:
                add(lay.kitchen, length * 0.4 * life.kitchen_share, "cooking", ACTIVE)
                add(lay.kitchen, length * 0.6 * life.kitchen_share, kind, MEAL)
        bedtime = max(bedtime, t + 600)
        if life.long_evening and extra.random() < life.long_evening:
            self._leisure(out, t, bedtime, rng, life.long_evening_minutes, QUIET, life)
        else:
            self._leisure(out, t, bedtime, rng, life.sitting_minutes, life=life)
        t = bedtime
        add(lay.bathroom, rng.uniform(6, 14), "grooming", ACTIVE)
        self._night(out, t, next_wake, rng, life.night_toilet_rate)
        return out

    def _leisure(self, out: list[Segment], start: float, end: float, rng: random.Random,
                 sitting_minutes: float = 40.0, level: str = STILL, life: Lifestyle | None = None) -> None:
        """Sitting in the living room, broken up by short visits elsewhere."""
        lay = self.layout
        t = start
        while end - t > 60:
            chunk = min(end - t, rng.lognormvariate(math.log(sitting_minutes * 60), 0.6))
            out.append(Segment(lay.livingroom, t, t + chunk, "leisure", level))
            t += chunk
            if end - t < 5 * 60:
                break
            u = rng.random()
            toilet = (life or self.life).toilet_breaks
            room, activity = ((lay.toilet_room, "toileting") if u < toilet else
                              (lay.kitchen, "drink") if u < toilet + 0.3 else (lay.bedroom, "bedroom"))
            visit = min(end - t, rng.uniform(2, 7) * 60)
            out.append(Segment(room, t, t + visit, activity, ACTIVE))
            t += visit
        if end > t:
            out.append(Segment(lay.livingroom, t, end, "leisure", level))

    def _night(self, out: list[Segment], start: float, end: float, rng: random.Random, rate: float = 1.0) -> None:
        """Sleep with night-time toilet visits (0 to 3, about one a night; up to 6 at a higher `rate`)."""
        lay = self.layout
        most = 3 if rate <= 1.0 else 6
        visits = sorted(rng.uniform(start + 1800, end - 1800) for _ in range(min(most, _poisson(rng, rate)))
                        ) if end - start > 7200 else []
        t = start
        for at in visits:
            if at <= t + 600:
                continue
            out.append(Segment(lay.bedroom, t, at, "sleeping", SLEEP))
            length = rng.uniform(3, 7) * 60
            out.append(Segment(lay.toilet_room, at, at + length, "toileting", ACTIVE))
            t = at + length
        out.append(Segment(lay.bedroom, t, end, "sleeping", SLEEP))

    def visit(self, day: date) -> list[Segment]:
        """A visitor's segments on this day (arriving, sitting with the resident, a toilet or kitchen
        visit now and then, leaving), or none. The caller drops a visit the resident is not home for."""
        life = self.life
        if not life.visits:
            return []
        rng = _rng(self.seed, day, "visit")
        if rng.random() >= life.visits:
            return []
        lay = self.layout
        t = _at(day, rng.uniform(14, 17.5) * 60, self.zone)
        leave = t + rng.uniform(*life.visit_hours) * 3600
        out = [Segment(lay.entrance, t, t + 60, "visiting", ACTIVE, door="in", who=VISITOR)]
        t += 60
        while leave - t > 300:
            chunk = min(leave - t, rng.lognormvariate(math.log(30 * 60), 0.6))
            out.append(Segment(lay.livingroom, t, t + chunk, "visiting", STILL, who=VISITOR))
            t += chunk
            if leave - t > 600:
                room = lay.toilet_room if rng.random() < 0.5 else lay.kitchen
                length = rng.uniform(2, 6) * 60
                out.append(Segment(room, t, t + length, "toileting" if room == lay.toilet_room else "drink",
                                   ACTIVE, who=VISITOR))
                t += length
        out.append(Segment(lay.entrance, t, t + 60, "visiting", ACTIVE, door="out", who=VISITOR))
        return out


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k
