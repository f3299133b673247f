"""A drawn home for the detection and evaluation tests: a regular routine with known numbers.

Every day (Europe/Berlin): wake 07:00 +- 15 min (bed mat off), bathroom 6 +- 1 min, kitchen, sofa
with motion every 4-8 min, a bathroom visit around 10:00, lunch, an outing 14:00 for 60-120 min
(front door out and in), sofa, a bathroom visit around 19:00 and 22:40, bed mat on at 23:00; on
half the nights a 4-minute toilet visit around 03:00.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hometwin.domain.events import SensorEvent, SensorKind

TZ = "Europe/Berlin"
ZONE = ZoneInfo(TZ)
START = datetime(2024, 1, 8, tzinfo=ZONE)  # a Monday, far from DST


def _room(out: list[SensorEvent], room: str, start: datetime, minutes: float, every: tuple[float, float],
          rng: random.Random) -> datetime:
    """Motion in `room` from `start` for `minutes`, one event every `every` minutes; returns the end."""
    t, end = start, start + timedelta(minutes=minutes)
    while t < end:
        out.append(SensorEvent(t, f"pir_{room}", room))
        t += timedelta(minutes=rng.uniform(*every))
    return end


def drawn_events(days: int, seed: int = 7, start: datetime = START) -> list[SensorEvent]:
    rng = random.Random(seed)
    out: list[SensorEvent] = []
    for d in range(days):
        day = start + timedelta(days=d)
        wake = day + timedelta(hours=7, minutes=rng.gauss(0, 15))
        out.append(SensorEvent(wake, "bed_mat", "bedroom", SensorKind.PRESSURE, 0.0))
        t = _room(out, "bedroom", wake + timedelta(seconds=30), 3, (0.5, 1.0), rng)
        t = _room(out, "bathroom", t, rng.gauss(6, 1), (0.5, 1.0), rng)
        t = _room(out, "kitchen", t, 30, (1, 3), rng)
        t = _room(out, "livingroom", t, (day + timedelta(hours=10) - t).total_seconds() / 60, (4, 8), rng)
        t = _room(out, "bathroom", t, rng.gauss(5, 1), (0.5, 1.0), rng)
        t = _room(out, "livingroom", t, (day + timedelta(hours=12) - t).total_seconds() / 60, (4, 8), rng)
        t = _room(out, "kitchen", t, 40, (1, 3), rng)
        t = _room(out, "livingroom", t, (day + timedelta(hours=14) - t).total_seconds() / 60, (4, 8), rng)
        out.append(SensorEvent(t, "front_door", "hall", SensorKind.DOOR, 1.0))
        back = t + timedelta(minutes=rng.uniform(60, 120))
        out.append(SensorEvent(back, "front_door", "hall", SensorKind.DOOR, 1.0))
        t = _room(out, "livingroom", back + timedelta(minutes=1),
                  (day + timedelta(hours=19) - back).total_seconds() / 60, (4, 8), rng)
        t = _room(out, "bathroom", t, rng.gauss(5, 1), (0.5, 1.0), rng)
        t = _room(out, "livingroom", t, (day + timedelta(hours=22, minutes=40) - t).total_seconds() / 60,
                  (4, 8), rng)
        t = _room(out, "bathroom", t, rng.gauss(6, 1), (0.5, 1.0), rng)
        t = _room(out, "bedroom", t, 5, (0.5, 1.0), rng)
        out.append(SensorEvent(day + timedelta(hours=23), "bed_mat", "bedroom", SensorKind.PRESSURE, 1.0))
        if rng.random() < 0.5:
            night = day + timedelta(hours=27, minutes=rng.uniform(-30, 30))
            out.append(SensorEvent(night, "bed_mat", "bedroom", SensorKind.PRESSURE, 0.0))
            t = _room(out, "bathroom", night + timedelta(seconds=40), 4, (0.5, 1.0), rng)
            out.append(SensorEvent(t + timedelta(seconds=40), "bed_mat", "bedroom", SensorKind.PRESSURE, 1.0))
    return sorted(out)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Local time on day `day` of the drawn period."""
    return START + timedelta(days=day, hours=hour, minutes=minute)
