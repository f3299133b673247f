"""The evaluation protocol: when the model is (re)trained, which time is tested, where emergencies
are injected.

Schedules (`folds`): `rolling` (the default) retrains like the modeling component in production, a
new model every `retrain_every` (7 days) on all data so far, each model tested on the days until
the next one, from `min_train` (7 days) after the first event to the last; `split` is the earlier
protocol, one model on the first `train_fraction` of the span, tested on the rest.

Injected emergency ("the person falls and lies still"): from the injection time t on, every sensor
event is removed for `horizon` (12 h). `anchored` puts t one minute after a randomly chosen real
event while the person is at home (falls happen while moving); `random` puts t uniformly over the
at-home test time. Half the injections fall by day (07:00-23:00 local), half by night.
"Stuck in the bathroom": t one minute after a real bathroom event; afterwards only sparse motion in
that room (one event every 10-20 minutes) until the horizon.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from hometwin.domain.events import SensorEvent, SensorKind
from hometwin.domain.model import ModelParams
from hometwin.domain.stays import Timeline
from hometwin.evaluation.exclusions import Intervals

ANCHOR_OFFSET = timedelta(minutes=1)
# Day and night of the protocol: the behaviour model's default night (23:00-07:00), for every home.
NIGHT_START_HOUR, NIGHT_END_HOUR = ModelParams().night_start_hour, ModelParams().night_end_hour


@dataclass(frozen=True, slots=True)
class Injection:
    home: str
    t: datetime  # the emergency starts here; nothing (or only sparse bathroom motion) afterwards
    part: str  # "day" | "night" (local hour of t)
    variant: str  # "fall" | "stuck"
    room: str  # the room of the last real event before t
    extra: tuple[SensorEvent, ...] = ()  # synthetic events after t (stuck variant)


def part_of_day(at: datetime, zone: ZoneInfo) -> str:
    h = at.astimezone(zone).hour
    return "day" if NIGHT_END_HOUR <= h < NIGHT_START_HOUR else "night"


@dataclass(frozen=True, slots=True)
class Fold:
    """Train on every event before `origin`, test [origin, end) with that model."""

    origin: datetime
    end: datetime


def folds(events: Sequence[SensorEvent], schedule: str, *, train_fraction: float = 0.6,
          min_train: timedelta = timedelta(days=7), retrain_every: timedelta = timedelta(days=7)) -> list[Fold]:
    """The train/test folds of a home (`events` sorted), in time order, covering the test span."""
    start, end = events[0].time, events[-1].time
    if schedule == "split":
        return [Fold(split(events, train_fraction)[1], end)]
    if schedule != "rolling":
        raise ValueError(f"schedule {schedule!r} is not rolling or split")
    if min_train <= timedelta(0) or retrain_every <= timedelta(0):
        raise ValueError("the minimum training span and the retraining interval must be positive")
    origins = []
    at = start + min_train
    while at < end:
        origins.append(at)
        at += retrain_every
    if not origins:
        raise ValueError(f"only {(end - start).total_seconds() / 86400:.1f} days of data: the rolling "
                         f"protocol trains on at least {min_train.total_seconds() / 86400:g} days first")
    return [Fold(o, min(o + retrain_every, end)) for o in origins]


def split(events: Sequence[SensorEvent], train_fraction: float) -> tuple[datetime, datetime, datetime]:
    """(start, split, end) by time: the first `train_fraction` of the recorded span trains."""
    if not 0.05 <= train_fraction <= 0.95:
        raise ValueError("train fraction must be between 0.05 and 0.95")
    start, end = events[0].time, events[-1].time
    return start, start + (end - start) * train_fraction, end


class _AtHome:
    """Is the person at home at a moment? Not inside an away or unknown interval of the timeline,
    nor inside a `blocked` interval."""

    def __init__(self, timeline: Timeline, blocked: Intervals | None = None) -> None:
        spans = sorted((i.start, i.end) for i in [*timeline.away, *timeline.unknown])
        self._starts = [s for s, _ in spans]
        self._ends = [e for _, e in spans]
        self._blocked = blocked or Intervals()

    def __call__(self, at: datetime) -> bool:
        i = bisect.bisect_right(self._starts, at) - 1
        return not (i >= 0 and self._ends[i] > at) and at not in self._blocked


def choose_injections(home: str, events: Sequence[SensorEvent], timeline: Timeline, test_start: datetime,
                      test_end: datetime, n: int, protocol: str, horizon: timedelta, tz: str,
                      rng: np.random.Generator, blocked: Intervals | None = None) -> list[Injection]:
    """`n` injections, half by day and half by night (fewer when a part has no candidates); none
    inside `blocked` (absences, data gaps: the honest protocol)."""
    zone = ZoneInfo(tz)
    at_home = _AtHome(timeline, blocked)
    latest = test_end - horizon
    times = [e.time for e in events]
    out: list[Injection] = []
    for part, count in (("day", n - n // 2), ("night", n // 2)):
        if protocol == "anchored":
            cands = [e for e in events if test_start <= e.time and e.time + ANCHOR_OFFSET <= latest
                     and part_of_day(e.time + ANCHOR_OFFSET, zone) == part
                     and at_home(e.time + ANCHOR_OFFSET)]
            if not cands:
                continue
            idx = rng.choice(len(cands), size=count, replace=count > len(cands))
            for i in sorted(idx):
                e = cands[int(i)]
                out.append(Injection(home, e.time + ANCHOR_OFFSET, part, "fall", e.room))
        elif protocol == "random":
            span = (latest - test_start).total_seconds()
            if span <= 0:
                continue
            found, tries = 0, 0
            while found < count and tries < 200 * count:
                tries += 1
                t = test_start + timedelta(seconds=float(rng.uniform(0, span)))
                if part_of_day(t, zone) != part or not at_home(t):
                    continue
                j = bisect.bisect_right(times, t) - 1
                if j < 0:
                    continue
                out.append(Injection(home, t, part, "fall", events[j].room))
                found += 1
        else:
            raise ValueError(f"injection protocol {protocol!r} is not anchored or random")
    return sorted(out, key=lambda i: i.t)


def choose_stuck(home: str, events: Sequence[SensorEvent], timeline: Timeline, test_start: datetime,
                 test_end: datetime, n: int, horizon: timedelta, tz: str,
                 rng: np.random.Generator, blocked: Intervals | None = None) -> list[Injection]:
    """Stuck in the bathroom: after a real bathroom event, sparse motion there until the horizon."""
    at_home = _AtHome(timeline, blocked)
    baths = [e for e in events if "bath" in e.room.lower() and test_start <= e.time
             and e.time + ANCHOR_OFFSET + horizon <= test_end and at_home(e.time + ANCHOR_OFFSET)]
    if not baths or n <= 0:
        return []
    motion = {e.room: e for e in events if e.kind is SensorKind.MOTION and "bath" in e.room.lower()}
    chosen: list[Injection] = []
    for i in sorted(rng.choice(len(baths), size=n, replace=n > len(baths))):
        anchor = baths[int(i)]
        t = anchor.time + ANCHOR_OFFSET
        proto = motion.get(anchor.room, anchor)
        extra: list[SensorEvent] = []
        at = t
        while True:
            at = at + timedelta(minutes=float(rng.uniform(10, 20)))
            if at >= t + horizon:
                break
            extra.append(SensorEvent(at, proto.sensor, anchor.room, proto.kind, 1.0))
        chosen.append(Injection(home, t, part_of_day(t, ZoneInfo(tz)), "stuck", anchor.room, tuple(extra)))
    return chosen
