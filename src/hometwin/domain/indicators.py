"""Daily health indicators: one number per local day (or night) and indicator, from stays and events.

The same code feeds `hometwin trends`, the dashboard's Trends page, the weekly e-mail and
`hometwin evaluate --trends`. Usage (pure: the caller reads the events and passes `now`):

    daily = daily_indicators(events, tz="Europe/Berlin", now=now)
    daily.series("night_toilet_visits")   # float array over daily.days, NaN = missing
    report = trend_report(daily, now=now)  # hometwin.domain.change: baselines and changes

A value is NaN (missing), never 0 by default, where the data cannot support it: the home has no
sensor for it (no bedroom sensor: no time in bed; no outside-door contact: no outings; no kitchen
room: no kitchen figures), the day has a data gap (more than `IndicatorParams.max_gap_hours` without
any event, or the day is not complete before `now`), the person was away most of the day, or the
night's rest could not be found. docs/trends.md defines every indicator.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import numpy as np

from hometwin.domain.events import SensorEvent, SensorKind
from hometwin.domain.indicators_night import whole_nights
from hometwin.domain.localtime import DAY, LocalClock
from hometwin.domain.rest import night_rests, waking_mask
from hometwin.domain.silence import is_sleeping_room
from hometwin.domain.stays import StayParams, Timeline, event_arrays, overlaps_gaps, room_key, timeline_from_arrays


class Unit(StrEnum):
    COUNT = "count"
    MINUTES = "minutes"
    HOURS = "hours"
    CLOCK = "clock"  # minutes after local midnight (beyond 1440: after the next midnight)


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    """What one indicator measures.

    `per`: "night" values belong to the morning the night ends on, "evening" to the day the night
    begins, "day" to the local calendar day. `by_weekday`: the personal normal differs between
    weekdays and weekends (sleeping in, family outings), so a day is compared with days of its kind.
    `min_scale`: the resolution of the indicator: values closer than half of it count as equal when
    a day is ranked among the baseline days, so a very regular person is not alarmed by a minute's
    difference. `min_change`: the smallest change (in `unit`, before vs after) worth a
    nurse's time; a CUSUM alarm for less is not reported. `poisson`: a small count per night, watched
    also by the count CUSUM for one more a night (domain/change.py).
    """

    key: str
    label: str
    unit: Unit
    per: str
    by_weekday: bool
    min_scale: float
    min_change: float
    needs: str
    poisson: bool = False


INDICATORS: tuple[IndicatorSpec, ...] = (
    IndicatorSpec("night_toilet_visits", "Night-time toilet visits", Unit.COUNT, "night", False, 0.5, 0.5,
                  "a toilet or bathroom room", poisson=True),
    IndicatorSpec("bed_exits", "Times out of bed at night", Unit.COUNT, "night", False, 0.5, 0.5,
                  "a bedroom sensor"),
    IndicatorSpec("time_in_bed", "Time in bed", Unit.HOURS, "night", False, 0.33, 1.0, "a bedroom sensor"),
    IndicatorSpec("getting_up", "Getting up", Unit.CLOCK, "night", True, 15.0, 45.0, "a night's rest"),
    IndicatorSpec("going_to_bed", "Going to bed", Unit.CLOCK, "evening", True, 15.0, 45.0, "a night's rest"),
    IndicatorSpec("time_out", "Time out of home", Unit.HOURS, "day", True, 0.5, 1.5, "an outside-door contact"),
    IndicatorSpec("outings", "Outings", Unit.COUNT, "day", True, 0.5, 0.5, "an outside-door contact"),
    IndicatorSpec("kitchen_visits", "Kitchen visits", Unit.COUNT, "day", False, 1.0, 2.0, "a kitchen room"),
    IndicatorSpec("kitchen_time", "Time in the kitchen", Unit.MINUTES, "day", False, 10.0, 15.0,
                  "a kitchen room"),
    IndicatorSpec("room_transitions", "Activity (room changes)", Unit.COUNT, "day", False, 3.0, 8.0,
                  "two rooms with sensors"),
    IndicatorSpec("bathroom_visit_minutes", "Time in the bathroom per visit", Unit.MINUTES, "day", False, 1.0,
                  3.0, "a toilet or bathroom room"),
)
SPECS: dict[str, IndicatorSpec] = {s.key: s for s in INDICATORS}

ACTIVE_GRACE = 60.0  # seconds a stay lasts after its last event (a PIR sees a moving person every minute)
TOILET_WORDS = ("toilet", "bath", "wc", "restroom", "lavatory")
KITCHEN_WORDS = ("kitchen", "küche", "cook")


def is_toilet_room(room: str) -> bool:
    key = room_key(room)
    return any(w in key for w in TOILET_WORDS)


def is_kitchen_room(room: str) -> bool:
    key = room_key(room)
    return any(w in key for w in KITCHEN_WORDS)


@dataclass(frozen=True, slots=True)
class IndicatorParams:
    """Knobs of `daily_indicators` (docs/trends.md gives the reasons).

    max_gap_hours: a day (or a night, 18:00 to 12:00) with more time than this without any event
        (an outage, see StayParams.unknown_after, or before the first event) is a data gap.
    away_day_hours: a day with at least this much time away is "not at home": no indicator.
    merge_seconds: stays in rooms of one kind (toilet rooms, kitchen) that follow each other within
        this long are one visit (toilet, then bathroom to wash hands; kitchen, hall, kitchen).
    kitchen_cap_hours / bathroom_cap_hours: time in a room is a stay's active time (first to last
        event, plus `ACTIVE_GRACE`); each stay counts at most this long (a sensor stuck on).
    """

    max_gap_hours: float = 3.0
    away_day_hours: float = 20.0
    merge_seconds: float = 120.0
    kitchen_cap_hours: float = 2.0
    bathroom_cap_hours: float = 3.0

    def __post_init__(self) -> None:
        for name in ("max_gap_hours", "away_day_hours", "merge_seconds", "kitchen_cap_hours", "bathroom_cap_hours"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"IndicatorParams.{name} must be a positive number, got {value!r}")


@dataclass(frozen=True)
class DailyIndicators:
    """Every indicator as a float array over `days` (local dates, oldest first; NaN = missing).

    `unsupported` says, for an indicator missing on every day because the home lacks a sensor, why.
    `gap` marks days with a data gap or not at home. `last_visit` is when each room was last
    left (for "rooms not visited for days"), `visit_share` the share of the last 28 usable days with
    a visit to the room.
    """

    tz: str
    days: tuple[date, ...]
    values: dict[str, np.ndarray]
    unsupported: dict[str, str] = field(default_factory=dict)
    gap: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    last_visit: dict[str, datetime] = field(default_factory=dict)
    visit_share: dict[str, float] = field(default_factory=dict)

    def series(self, key: str) -> np.ndarray:
        if key not in SPECS:
            raise KeyError(f"unknown indicator {key!r} (known: {', '.join(SPECS)})")
        return self.values[key]

    def to_dict(self) -> dict[str, object]:
        return {"tz": self.tz, "days": [d.isoformat() for d in self.days],
                "values": {k: [None if np.isnan(x) else round(float(x), 3) for x in v] for k, v in self.values.items()},
                "unsupported": dict(self.unsupported), "gap": [bool(g) for g in self.gap],
                "last_visit": {r: t.isoformat() for r, t in self.last_visit.items()},
                "visit_share": {r: round(s, 3) for r, s in self.visit_share.items()}}


@dataclass(frozen=True, slots=True)
class UnvisitedRoom:
    """A room the person usually visits (on `usual_share` of days) but has not for `days` days."""

    room: str
    last_visit: datetime
    days: float
    usual_share: float


def unvisited_rooms(daily: DailyIndicators, now: datetime, min_days: float = 2.0,
                    usual_share: float = 0.5) -> list[UnvisitedRoom]:
    """Rooms visited on at least `usual_share` of the recent usable days but not for `min_days`."""
    out = []
    for room, last in daily.last_visit.items():
        share = daily.visit_share.get(room, 0.0)
        days = (now - last).total_seconds() / 86400
        if share >= usual_share and days >= min_days:
            out.append(UnvisitedRoom(room, last, days, share))
    return sorted(out, key=lambda u: -u.days)


def daily_indicators(events: Iterable[SensorEvent], *, tz: str, now: datetime,
                     params: IndicatorParams = IndicatorParams(),
                     stay_params: StayParams = StayParams()) -> DailyIndicators:
    """The indicators of every complete local day from the first event's day to the day before `now`.

    Events at or after `now` are ignored (a replay sees only the past). `tz` is the home's zone.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    zone = ZoneInfo(tz)
    cutoff = now.timestamp()
    evs = sorted(e for e in events if e.time.timestamp() < cutoff)
    if not evs:
        return DailyIndicators(tz, (), {s.key: np.empty(0) for s in INDICATORS},
                               {s.key: "no data" for s in INDICATORS})
    a = event_arrays(evs, stay_params)
    tl = timeline_from_arrays(a, stay_params)
    first_day = evs[0].time.astimezone(zone).date()
    last_day = now.astimezone(zone).date() - timedelta(days=1)
    days = tuple(first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1))
    if not days:
        return DailyIndicators(tz, (), {s.key: np.empty(0) for s in INDICATORS})
    bounds = np.array([datetime.combine(d, time(), zone).timestamp()
                       for d in (*days, last_day + timedelta(days=1))])
    return _Computation(a.t, a.rooms, a.room, a.kind, a.present, tl, tz, days, bounds, params, now).run()


class _Computation:
    """One pass over one home's stays, rests and gaps; `run` fills every indicator."""

    def __init__(self, t: np.ndarray, rooms: list[str], room: np.ndarray, kind: np.ndarray, present: np.ndarray,
                 tl: Timeline, tz: str, days: tuple[date, ...], bounds: np.ndarray, params: IndicatorParams,
                 now: datetime) -> None:
        self.t, self.rooms, self.room, self.kind, self.present = t, rooms, room, kind, present
        self.tl, self.tz, self.days, self.bounds, self.p, self.now = tl, tz, days, bounds, params, now
        self.n = len(days)
        self.values: dict[str, np.ndarray] = {s.key: np.full(self.n, np.nan) for s in INDICATORS}
        self.unsupported: dict[str, str] = {}
        stays = tl.stays
        self.st_room = [s.room for s in stays]
        self.st_start = np.array([s.start.timestamp() for s in stays])
        self.st_end = np.array([s.end.timestamp() for s in stays])
        self.st_day = np.searchsorted(bounds, self.st_start, side="right") - 1  # -1 or n: outside
        # Active time of a stay: to its last event (plus a minute), not to the first event elsewhere,
        # which may come hours later from a room without a sensor (the sofa, when the living room has
        # none, would otherwise count as kitchen time).
        tp = t[present]
        last = tp[np.clip(np.searchsorted(tp, self.st_end, side="left") - 1, 0, None)] if len(tp) else self.st_start
        self.st_active = np.clip(np.minimum(last + ACTIVE_GRACE, self.st_end) - self.st_start, 0, None)

    # -- gaps ------------------------------------------------------------------------------------
    def _no_data(self) -> list[tuple[float, float]]:
        spans = [(i.start.timestamp(), i.end.timestamp()) for i in self.tl.unknown]
        spans.append((-np.inf, float(self.t[0])))
        silence_after = self.now.timestamp() - float(self.t[-1])
        if silence_after >= self.p.max_gap_hours * 3600:
            spans.append((float(self.t[-1]), np.inf))
        return spans

    @staticmethod
    def _overlap(spans: list[tuple[float, float]], lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        total = np.zeros(len(lo))
        for a, b in spans:
            total += np.clip(np.minimum(hi, b) - np.maximum(lo, a), 0, None)
        return total

    def run(self) -> DailyIndicators:
        lo, hi = self.bounds[:-1], self.bounds[1:]
        no_data = self._no_data()
        away = [(i.start.timestamp(), i.end.timestamp()) for i in self.tl.away]
        limit = self.p.max_gap_hours * 3600
        self.day_ok = ((self._overlap(no_data, lo, hi) <= limit)
                       & (self._overlap(away, lo, hi) < self.p.away_day_hours * 3600))
        # The night before day d: 18:00 the evening before to noon (a late getting-up is still seen).
        self.night_ok = self._overlap(no_data, lo - 6 * 3600, lo + 12 * 3600) <= limit
        self._day_indicators(away)
        self._night_indicators()
        for key, values in self.values.items():
            if key not in self.unsupported:
                values[~self.day_ok] = np.nan
        visited = self._visits()
        return DailyIndicators(self.tz, self.days, self.values, self.unsupported, ~self.day_ok, *visited)

    # -- day indicators ------------------------------------------------------------------------------
    def _episodes(self, members: np.ndarray) -> np.ndarray:
        """Indices of the stays (among `members`, a bool mask) that begin a visit: stays of one kind
        within `merge_seconds` of the previous one belong to its visit."""
        idx = np.nonzero(members)[0]
        if len(idx) == 0:
            return idx
        starts = self.st_start[idx]
        prev_end = np.concatenate(([-np.inf], self.st_end[idx][:-1]))
        return idx[starts - prev_end > self.p.merge_seconds]

    def _per_day(self, idx: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        day = self.st_day[idx]
        ok = (day >= 0) & (day < self.n)
        w = None if weights is None else weights[ok]
        return np.bincount(day[ok], weights=w, minlength=self.n)[: self.n].astype(np.float64)

    def _day_indicators(self, away: list[tuple[float, float]]) -> None:
        v, n_stays = self.values, len(self.st_room)
        presence_rooms = {self.rooms[r] for r in np.unique(self.room[self.present]).tolist()}
        toilet = np.array([is_toilet_room(r) for r in self.st_room], dtype=bool)
        kitchen = np.array([is_kitchen_room(r) for r in self.st_room], dtype=bool)
        if any(is_kitchen_room(r) for r in presence_rooms):
            starts = self._episodes(kitchen)
            v["kitchen_visits"] = self._per_day(starts)
            capped = np.minimum(self.st_active, self.p.kitchen_cap_hours * 3600) / 60
            v["kitchen_time"] = self._per_day(np.nonzero(kitchen)[0], capped[kitchen])
        else:
            self._unsupported(("kitchen_visits", "kitchen_time"), "no kitchen sensor")
        if any(is_toilet_room(r) for r in presence_rooms):
            v["bathroom_visit_minutes"] = self._visit_length(toilet)
        else:
            self._unsupported(("bathroom_visit_minutes", "night_toilet_visits"), "no toilet or bathroom sensor")
        if len(presence_rooms) >= 2 and n_stays:
            follows = np.concatenate(([False], self.st_start[1:] == self.st_end[:-1]))
            v["room_transitions"] = self._per_day(np.nonzero(follows)[0])
        else:
            self._unsupported(("room_transitions",), "fewer than two rooms with sensors")
        if bool((self.kind == list(SensorKind).index(SensorKind.DOOR)).any()):
            lo, hi = self.bounds[:-1], self.bounds[1:]
            v["time_out"] = self._overlap(away, lo, hi) / 3600
            a_start = np.array([a for a, _ in away])
            a_day = np.searchsorted(self.bounds, a_start, side="right") - 1
            ok = (a_day >= 0) & (a_day < self.n)
            v["outings"] = np.bincount(a_day[ok], minlength=self.n)[: self.n].astype(np.float64)
        else:
            self._unsupported(("time_out", "outings"), "no outside-door contact")

    def _visit_length(self, toilet: np.ndarray) -> np.ndarray:
        """Median minutes per toilet/bathroom visit of each day (merged stays, each capped)."""
        out = np.full(self.n, np.nan)
        idx = np.nonzero(toilet)[0]
        if len(idx) == 0:
            return out
        begins = set(self._episodes(toilet).tolist())
        cap = self.p.bathroom_cap_hours * 3600
        visits: list[tuple[int, float]] = []
        for i in idx.tolist():
            length = min(float(self.st_active[i]), cap)
            if i in begins or not visits:
                visits.append((int(self.st_day[i]), length))
            else:
                visits[-1] = (visits[-1][0], visits[-1][1] + length)
        per_day: dict[int, list[float]] = {}
        for day, length in visits:
            if 0 <= day < self.n:
                per_day.setdefault(day, []).append(length / 60)
        for day, lengths in per_day.items():
            out[day] = float(np.median(lengths))
        return out

    def _unsupported(self, keys: tuple[str, ...], why: str) -> None:
        for key in keys:
            self.unsupported[key] = why
            self.values[key][:] = np.nan

    # -- night indicators ----------------------------------------------------------------------------
    def _night_indicators(self) -> None:
        sleeping_code = np.array([is_sleeping_room(r) for r in self.rooms], dtype=bool)
        sleeping = sleeping_code[self.room] if len(self.rooms) else np.zeros(len(self.t), dtype=bool)
        has_bedroom = bool((self.present & sleeping).any())
        if not has_bedroom:
            self._unsupported(("time_in_bed", "bed_exits"), "no bedroom sensor")
        waking = waking_mask(self.present, sleeping)
        tw = self.t[waking]
        if len(tw) < 2:
            return
        clock = LocalClock(self.tz, float(self.t[0]), float(self.t[-1]))
        blocked = overlaps_gaps(tw[:-1], tw[1:], self.tl)
        wall_w = clock.wall(tw)
        bed_t, wake_t = night_rests(tw, wall_w, blocked, self.t[self.present])
        if not len(wake_t):
            return
        toilet_code = np.array([is_toilet_room(r) for r in self.rooms], dtype=bool)
        bed_t, wake_t = whole_nights(tw, wall_w, blocked, toilet_code[self.room[waking]], bed_t, wake_t,
                                     self.t[self.present])
        v = self.values
        wake_day = np.searchsorted(self.bounds, wake_t, side="right") - 1
        bed_wall = clock.wall(bed_t)
        evening = np.floor((bed_wall - DAY / 2) / DAY).astype(np.int64)  # the day the night begins
        first_evening = int(np.floor(clock.wall(np.array([self.bounds[0]]))[0] / DAY))
        bed_day = evening - first_evening
        toilet_stay = np.array([is_toilet_room(r) for r in self.st_room], dtype=bool)
        sleeping_stay = np.array([is_sleeping_room(r) for r in self.st_room], dtype=bool)
        toilet_starts = self.st_start[self._episodes(toilet_stay)]
        for b, w, d, e in zip(bed_t.tolist(), wake_t.tolist(), wake_day.tolist(), bed_day.tolist(), strict=True):
            if 0 <= e < self.n:
                v["going_to_bed"][e] = (float(clock.wall(np.array([b]))[0]) - (e + first_evening) * DAY) / 60
            if not (0 <= d < self.n and self.night_ok[d]):
                continue
            v["getting_up"][d] = (float(clock.wall(np.array([w]))[0]) % DAY) / 60
            if "night_toilet_visits" not in self.unsupported:
                v["night_toilet_visits"][d] = float(np.count_nonzero((toilet_starts > b) & (toilet_starts < w)))
            if has_bedroom:
                v["time_in_bed"][d] = (w - b) / 3600
                inside = np.nonzero((self.st_start > b) & (self.st_start < w))[0]
                exits = 0
                for i in inside.tolist():
                    if sleeping_stay[i]:
                        continue
                    after_bed = i > 0 and sleeping_stay[i - 1] and self.st_end[i - 1] == self.st_start[i]
                    exits += int(after_bed or i == 0 or self.st_end[i - 1] < self.st_start[i])
                v["bed_exits"][d] = float(exits)

    # -- rooms not visited -----------------------------------------------------------------------------
    def _visits(self) -> tuple[dict[str, datetime], dict[str, float]]:
        last: dict[str, datetime] = {}
        for s in self.tl.stays:
            last[s.room] = s.end
        usable = np.nonzero(self.day_ok)[0][-28:]
        share: dict[str, float] = {}
        if len(usable):
            for room in last:
                mask = np.array([r == room for r in self.st_room], dtype=bool)
                visited = np.zeros(self.n, dtype=bool)
                day = self.st_day[mask]
                visited[day[(day >= 0) & (day < self.n)]] = True
                share[room] = float(visited[usable].mean())
        return last, share
