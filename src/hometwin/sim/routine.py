"""A resident's day as a list of segments: where the person is, doing what, and how much they move.

Each local day is planned from its own random stream (seeded by the seed and the date), from that
day's wake-up to the next day's wake-up, so any window of days is planned identically whether it is
simulated in one go or continued live. Times are epoch seconds (floats) for speed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from hometwin.sim.layout import HomeLayout

AWAY = "away"

# How much a person moves, as the median gap between movements (seconds) and its log-spread.
ACTIVE, MEAL, STILL, SLEEP, SILENT = "active", "meal", "still", "sleep", "silent"
MOTION = {ACTIVE: (6.0, 0.6), MEAL: (25.0, 0.9), STILL: (150.0, 1.1), SLEEP: (2400.0, 0.8)}


@dataclass(slots=True)
class Segment:
    room: str  # a room of the layout, or AWAY
    start: float
    end: float
    activity: str
    level: str  # ACTIVE, MEAL, STILL, SLEEP or SILENT
    door: str = ""  # "out": the front door opens near the end; "in": near the start


def _rng(seed: int, day: date, stream: str) -> random.Random:
    return random.Random(f"{seed}:{day.isoformat()}:{stream}")  # str seeds hash stably (sha512)


def _at(day: date, minutes: float, zone: ZoneInfo) -> float:
    """Epoch seconds of `minutes` after local midnight of `day` (wall clock, so DST days work)."""
    minutes = max(0.0, minutes)
    extra_days, minutes = divmod(minutes, 1440)
    local = datetime.combine(date.fromordinal(day.toordinal() + int(extra_days)), time(), zone)
    hour, minute = divmod(minutes, 60)
    return local.replace(hour=int(hour), minute=int(minute), second=int((minute % 1) * 60)).timestamp()


def wake_time(seed: int, day: date, zone: ZoneInfo) -> float:
    rng = _rng(seed, day, "wake")
    weekend = day.weekday() >= 5
    minutes = rng.gauss(8 * 60 + 15, 40) if weekend else rng.gauss(6 * 60 + 45, 20)
    return _at(day, min(max(minutes, 5 * 60), 11 * 60), zone)


class DayPlanner:
    def __init__(self, layout: HomeLayout, seed: int) -> None:
        self.layout = layout
        self.seed = seed
        self.zone = ZoneInfo(layout.tz)

    def plan(self, day: date) -> list[Segment]:
        """Segments from this day's wake-up to the next day's wake-up, contiguous."""
        lay, zone = self.layout, self.zone
        rng = _rng(self.seed, day, "day")
        weekend = day.weekday() >= 5
        t = wake_time(self.seed, day, zone)
        next_wake = wake_time(self.seed, date.fromordinal(day.toordinal() + 1), zone)
        out: list[Segment] = []

        def add(room: str, minutes: float, activity: str, level: str, door: str = "") -> None:
            nonlocal t
            end = t + max(minutes, 0.2) * 60
            out.append(Segment(room, t, end, activity, level, door))
            t = end

        add(lay.bathroom, rng.uniform(3, 6), "toileting", ACTIVE)
        if rng.random() < (0.5 if weekend else 0.65):
            add(lay.bathroom, rng.uniform(8, 18), "showering", ACTIVE)
        add(lay.bathroom, rng.uniform(4, 9), "grooming", ACTIVE)
        add(lay.bedroom, rng.uniform(4, 10), "dressing", ACTIVE)
        add(lay.kitchen, rng.uniform(5, 10), "breakfast", ACTIVE)
        add(lay.kitchen, rng.uniform(10, 25), "breakfast", MEAL)

        # Anchored activities (start in minutes after midnight, length in minutes, kind).
        anchors: list[tuple[float, float, str]] = []
        if weekend:
            if rng.random() < 0.6:
                anchors.append((rng.uniform(10.5, 15) * 60, rng.uniform(120, 300), "outing"))
        else:
            if rng.random() < 0.75:
                anchors.append((rng.uniform(9.25, 11) * 60, rng.uniform(90, 210), "outing"))
            if rng.random() < 0.3:
                anchors.append((rng.uniform(15, 16.5) * 60, rng.uniform(60, 120), "outing"))
        anchors.append((rng.gauss(12.5 * 60, 25), rng.uniform(25, 45), "lunch"))
        anchors.append((rng.gauss(18.5 * 60, 30), rng.uniform(30, 55), "dinner"))
        anchors.sort()
        bedtime = _at(day, rng.gauss(23.25 * 60, 35) if weekend else rng.gauss(22.5 * 60, 25), zone)

        for start_min, length, kind in anchors:
            start = max(_at(day, start_min, zone), t)
            if start + length * 60 > bedtime - 1800:
                continue  # the day ran late: skip rather than push bedtime
            self._leisure(out, t, start, rng)
            t = start
            if kind == "outing":
                add(lay.entrance, rng.uniform(0.4, 1.2), "leaving", ACTIVE, door="out")
                add(AWAY, length, "out", SILENT)
                add(lay.entrance, rng.uniform(0.4, 1.5), "arriving", ACTIVE, door="in")
            else:
                add(lay.kitchen, length * 0.4, "cooking", ACTIVE)
                add(lay.kitchen, length * 0.6, kind, MEAL)
        bedtime = max(bedtime, t + 600)
        self._leisure(out, t, bedtime, rng)
        t = bedtime
        add(lay.bathroom, rng.uniform(6, 14), "grooming", ACTIVE)
        self._night(out, t, next_wake, rng)
        return out

    def _leisure(self, out: list[Segment], start: float, end: float, rng: random.Random) -> None:
        """Sitting in the living room, broken up by short visits elsewhere."""
        lay = self.layout
        t = start
        while end - t > 60:
            chunk = min(end - t, rng.lognormvariate(math.log(40 * 60), 0.6))
            out.append(Segment(lay.livingroom, t, t + chunk, "leisure", STILL))
            t += chunk
            if end - t < 5 * 60:
                break
            u = rng.random()
            room, activity = ((lay.bathroom, "toileting") if u < 0.5 else
                              (lay.kitchen, "drink") if u < 0.8 else (lay.bedroom, "bedroom"))
            visit = min(end - t, rng.uniform(2, 7) * 60)
            out.append(Segment(room, t, t + visit, activity, ACTIVE))
            t += visit
        if end > t:
            out.append(Segment(lay.livingroom, t, end, "leisure", STILL))

    def _night(self, out: list[Segment], start: float, end: float, rng: random.Random) -> None:
        """Sleep with night-time bathroom visits (0 to 3, about one a night)."""
        lay = self.layout
        visits = sorted(rng.uniform(start + 1800, end - 1800) for _ in range(min(3, _poisson(rng, 1.0)))
                        ) if end - start > 7200 else []
        t = start
        for at in visits:
            if at <= t + 600:
                continue
            out.append(Segment(lay.bedroom, t, at, "sleeping", SLEEP))
            length = rng.uniform(3, 7) * 60
            out.append(Segment(lay.bathroom, at, at + length, "toileting", ACTIVE))
            t = at + length
        out.append(Segment(lay.bedroom, t, end, "sleeping", SLEEP))


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k
