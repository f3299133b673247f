"""The silence model: how long the home normally stays quiet after the last sign of the person.

A silence runs from a *presence* event (domain/stays.py: motion on, a contact or mat either way,
a switch turned on) to the next one. A motion sensor timing out or an appliance switching off is
not the person, so it neither ends a silence nor becomes its context. Its normal length depends on
that last event and on the moment: a bed mat switching on at 23:00 is followed by hours of quiet,
a toilet flush at 03:00 by a few minutes until the person is back in bed.

The model is a hazard regression with shared parameters (domain/hazard.py): the log rate at which
a silence ends is a sum of effects of the last event's sensor (with its on/off), its kind, its
room, the room the person came from, the rest state (lying on a bed mat, sitting on a seat mat),
and the time of day *now* (three harmonics, also per room and per rest state: a sleeper wakes up
at the home's hour whenever they went to bed), each tilted along the silence's length (transit
contexts end fast; the few silences that last are a rest). A sensor seen twice borrows the shared
effects of its kind, its room and the hour instead of being mixed with a parent cell full of
sleep: nothing caps how unusual a silence can look.

Training leaves out silences that overlap an away or unknown interval (docs/model.md): time away
and data outages are not silences of a person at home; and it learns from the silences that lasted
a minute (`MIN_SECONDS`): the answers are about those, P(silence > t | it lasted a minute).

Pure: no I/O, no clock. JSON via `to_dict`/`from_dict` (coefficients, never pickle).
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from hometwin.domain.events import SensorEvent, SensorKind
from hometwin.domain.hazard import Design, HazardModel, mix, scale_free_tail, seconds_at, survival_at
from hometwin.domain.localtime import DAY, LocalClock
from hometwin.domain.silence_training import mat_sensors, sensor_days, sensor_quiet_hours, training_contexts
from hometwin.domain.stays import EventArrays, StayParams, Timeline, event_arrays, overlaps_gaps, room_key

SCHEMA_VERSION = 2
MAX_SECONDS = 4 * 24 * 3600.0  # a longer gap is a data outage, not a silence we learn from
# The model learns and answers about silences that lasted at least a minute (the monitoring's
# resolution): shorter gaps are bursts (a mat flickering on and off, a PIR re-triggering, a door
# bouncing) whose rhythm says nothing about how long a real pause lasts.
MIN_SECONDS = 60.0
# Pause lengths at which a room's pauses are counted: a minute (shorter ones are bursts, as for the
# silences) to a day, each 15 % longer than the last.
PAUSE_GRID = np.geomspace(MIN_SECONDS, 86400.0, 53)
_LOG_GRID = np.log(PAUSE_GRID).tolist()
DESIGN = Design(groups=("state", "kind", "room", "prev", "rest"), clock_groups=("room", "rest"))
_LN10 = math.log(10.0)


@dataclass(frozen=True, slots=True)
class SilenceParams:
    """Knobs of the silence model (JSON-able)."""

    prior_sd: float = 1.0  # prior spread of every effect, in log hazard (a factor e either way)
    rest_max_hours: float = 16.0  # a mat still "on" after this long is a missed "off", not a rest

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SilenceParams:
        known = set(cls.__dataclass_fields__)  # knobs of schema 1 (pooling) are ignored
        return cls(**{k: float(v) for k, v in d.items() if k in known})


def state_key(event: SensorEvent) -> str:
    """The context an event leaves behind: room, sensor kind, on or off, and the sensor itself."""
    return f"{room_key(event.room)}|{event.kind.value}|{'on' if event.value > 0 else 'off'}|{event.sensor}"


def is_presence(event: SensorEvent, stays: StayParams) -> bool:
    """As in the stays: motion on, contacts/mats/doors either way, a switch turned on (value 1)."""
    if event.kind is SensorKind.OTHER:
        return event.value == 1.0
    return event.value != 0.0 or event.kind in stays.off_means_present


@lru_cache(maxsize=4096)
def is_sleeping_room(room: str) -> bool:
    """A bedroom (or a bed area): where a mat means lying in bed, and where the night is spent."""
    return "bed" in room_key(room)


@dataclass(frozen=True, slots=True)
class SilenceContext:
    """What a silence is judged after: the last presence event, where the person came from, rest."""

    event: SensorEvent
    prev_room: str = ""  # the room of the stay before the current one ("" unknown)
    rest: str = ""  # "bed" (a bedroom mat is on), "seat" (another mat is on) or ""

    @property
    def room(self) -> str:
        return self.event.room

    @property
    def time(self) -> datetime:
        return self.event.time

    def levels(self) -> dict[str, str]:
        e = self.event
        return {"state": state_key(e), "kind": f"{e.kind.value}|{'on' if e.value > 0 else 'off'}",
                "room": room_key(e.room), "prev": room_key(self.prev_room) if self.prev_room else "",
                "rest": self.rest}


def presence_contexts(events: Sequence[SensorEvent], stays: StayParams = StayParams(),
                      rest_max_hours: float = 16.0, start: int = 0,
                      mat_sensors: Sequence[str] = ()) -> list[SilenceContext | None]:
    """For every event (sorted) from `start` on, its context if it is a presence event, else None
    (None before `start` too). One pass; what happened before `start` (the room, where the person came
    from, the mats `mat_sensors`) is read by a backward scan, at most `rest_max_hours` back."""
    start = max(0, min(start, len(events)))
    out: list[SilenceContext | None] = [None] * start
    limit = rest_max_hours * 3600
    mats, room, prev = _state_before(events, start, stays, limit, set(mat_sensors))
    for e in events[start:]:
        if e.kind is SensorKind.PRESSURE:
            mats[e.sensor] = (e.value > 0, e.time, is_sleeping_room(e.room))
        if not is_presence(e, stays):
            out.append(None)
            continue
        if e.room != room:
            prev, room = room, e.room
        rest = ""
        for on, since, bed in mats.values():
            if on and (e.time - since).total_seconds() <= limit:
                rest = "bed" if bed else (rest or "seat")
        out.append(SilenceContext(e, prev, rest))
    return out


def room_pauses(a: EventArrays, pidx: np.ndarray, timeline: Timeline | None) -> dict[str, array[int]]:
    """Per room: how many pauses between consecutive presence events (`pidx`, canonical order) both in
    that room, outside away and unknown time, there were (a minute of pauses shorter than a minute
    counting as one), and how many lasted at least each point of `PAUSE_GRID` (up to the first point
    none reached)."""
    t, room = a.t[pidx], a.room[pidx]
    if len(t) < 2:
        return {}
    gap = np.diff(t)
    same = (room[1:] == room[:-1]) & (gap <= MAX_SECONDS) & ~overlaps_gaps(t[:-1], t[1:], timeline)
    out: dict[str, np.ndarray] = {}
    for code in np.unique(room[:-1][same]).tolist():
        g = np.sort(gap[same & (room[:-1] == code)])
        at_least = len(g) - np.searchsorted(g, PAUSE_GRID, side="left")
        # Bursts are not pauses (as for the silences): a motion sensor re-firing while someone moves,
        # or a mat that flickers, counts once a minute, not once an event.
        n = at_least[0] + round(float(g[g < MIN_SECONDS].sum()) / MIN_SECONDS)
        counts = np.concatenate(([n], at_least)).astype(np.int64)
        key = room_key(a.rooms[int(code)])
        out[key] = out[key] + counts if key in out else counts
    return {k: array("i", v[: int(np.count_nonzero(v))].tolist()) for k, v in out.items()}


def _state_before(events: Sequence[SensorEvent], start: int, stays: StayParams, limit: float,
                  mat_sensors: set[str]) -> tuple[dict[str, tuple[bool, datetime, bool]], str, str]:
    """The mats' last states, the current room and the room before it, just before `start`."""
    mats: dict[str, tuple[bool, datetime, bool]] = {}
    room = prev = ""
    if start == 0:
        return mats, room, prev
    horizon = events[start - 1].time.timestamp() - limit
    for e in reversed(events[:start]):
        if e.time.timestamp() < horizon:
            break
        if e.kind is SensorKind.PRESSURE and e.sensor not in mats:
            mats[e.sensor] = (e.value > 0, e.time, is_sleeping_room(e.room))
        if is_presence(e, stays):
            if not room:
                room = e.room
            elif not prev and e.room != room:
                prev = e.room
        if prev and mat_sensors <= mats.keys():
            break  # where the person came from and every mat's last state are known
    return mats, room, prev


@dataclass
class SilenceModel:
    """How long silences last after a context. Build with `SilenceModel.train`."""

    tz: str
    params: SilenceParams
    hazard: HazardModel
    n_silences: int = 0
    # share of the training days on which each sensor reported at least once (a sensor that reports
    # every day and then stays silent for a day while others fire is probably dead)
    sensor_days: dict[str, float] = field(default_factory=dict)
    # Per sensor: (its room, the most active hours, in which other sensors reported, that passed
    # between two of its events, how many gaps that is out of); a sensor quiet far longer while the
    # person is about is dead or stuck (`silence_training.sensor_quiet_hours`). Empty in a model
    # trained before it.
    sensor_quiet: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    mat_sensors: list[str] = field(default_factory=list)  # pressure sensors seen in training (rest)
    # Per room: how many pauses between two of its presence events (the person still there) there
    # were, then how many lasted at least each point of PAUSE_GRID (`pause_surprise`). An integer
    # array, not a list of Python ints, for a fleet holding thousands of models.
    room_pauses: dict[str, array[int]] = field(default_factory=dict)
    _cache: dict[tuple[tuple[str, ...], int], np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    _by_context: dict[SilenceContext, np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    _zone: ZoneInfo | None = field(default=None, repr=False, compare=False)
    # Curves kept for reuse (a replay asks for the same ones day after day); a monitoring holding
    # thousands of homes' models keeps fewer (components/monitoring.py: MONITORING_CACHE_LIMIT).
    cache_limit: int = field(default=4096, repr=False, compare=False)

    # ---------------------------------------------------------------- training
    @classmethod
    def train(cls, events: Sequence[SensorEvent], timeline: Timeline | None = None, tz: str = "Europe/Berlin",
              params: SilenceParams = SilenceParams(), stays: StayParams = StayParams(),
              arrays: EventArrays | None = None) -> SilenceModel:
        """Learn from the silences between consecutive presence events, leaving out those that
        overlap an away or unknown interval of `timeline` (time away, data outages). `arrays`, when
        given, are `event_arrays(events, stays)` already computed."""
        a = arrays if arrays is not None else event_arrays(events if isinstance(events, list) else list(events),
                                                           stays)
        pidx, ctx_all, levels = training_contexts(a, params.rest_max_hours, is_sleeping_room)
        if len(pidx) < 2:
            raise ValueError("too few presence events to learn silences from")
        t = a.t[pidx]
        gap = np.diff(t)
        keep = (gap > MIN_SECONDS) & (gap <= MAX_SECONDS) & ~overlaps_gaps(t[:-1], t[1:], timeline)
        idx = np.nonzero(keep)[0]
        if len(idx) == 0:
            raise ValueError("no silences at home to learn from")
        clock = LocalClock(tz, float(t[0]), float(t[-1]))
        hours = np.mod(clock.wall(t[idx]), DAY) / 3600.0
        hazard = HazardModel.fit(DESIGN, levels, ctx_all[idx], hours, gap[idx], np.ones(len(idx), dtype=bool),
                                 prior_sd=params.prior_sd, entry=MIN_SECONDS)
        return cls(tz=tz, params=params, hazard=hazard, n_silences=len(idx), sensor_days=sensor_days(a, tz),
                   sensor_quiet=sensor_quiet_hours(a),
                   mat_sensors=mat_sensors(a), room_pauses=room_pauses(a, pidx, timeline))

    # ---------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "tz": self.tz,
            "params": self.params.to_dict(),
            "n_silences": self.n_silences,
            "sensor_days": dict(sorted(self.sensor_days.items())),
            "sensor_quiet": {k: list(v) for k, v in sorted(self.sensor_quiet.items())},
            "mat_sensors": list(self.mat_sensors),
            "room_pauses": {k: v.tolist() for k, v in sorted(self.room_pauses.items())},
            "hazard": self.hazard.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SilenceModel:
        if d.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"silence model schema {d.get('schema_version')!r} is not {SCHEMA_VERSION}: "
                             "retrain the model (`hometwin train`)")
        return cls(tz=d["tz"], params=SilenceParams.from_dict(d.get("params", {})),
                   hazard=HazardModel.from_dict(d["hazard"]), n_silences=int(d.get("n_silences", 0)),
                   sensor_days={str(k): float(v) for k, v in d.get("sensor_days", {}).items()},
                   sensor_quiet={str(k): (str(v[0]), int(v[1]), int(v[2]))
                                 for k, v in d.get("sensor_quiet", {}).items()},
                   mat_sensors=[str(m) for m in d.get("mat_sensors", [])],
                   room_pauses={str(k): array("i", map(int, v)) for k, v in d.get("room_pauses", {}).items()})

    # ---------------------------------------------------------------- queries
    def daily_sensors(self, share: float) -> list[str]:
        """Sensors that reported on at least `share` of the training days."""
        return sorted(s for s, f in self.sensor_days.items() if f >= share)

    def local_hour(self, at: datetime) -> float:
        if self._zone is None:
            self._zone = ZoneInfo(self.tz)
        local = at.astimezone(self._zone)
        return local.hour + local.minute / 60.0

    def _cum(self, ctx: SilenceContext | SensorEvent) -> np.ndarray:
        """The context's cumulative hazard, mixed with weight 1/n with a scale-free tail beyond its
        median (hazard.scale_free_tail): one silence in n may fit no context, so no context claims
        more than log10(n) + log10(t / median) of surprise, however sure its fit is."""
        c = ctx if isinstance(ctx, SilenceContext) else SilenceContext(ctx)
        # A check asks about the same few contexts many times (the pauses of a stay, the last
        # presence): finding the context's curve by the context itself skips building its key.
        known = self._by_context.get(c)
        if known is not None:
            return known
        lv = c.levels()
        hour = self.local_hour(c.time)
        key = (tuple(lv[g] for g in DESIGN.groups), int(hour * 12))  # 5-minute resolution of the start
        hit = self._cache.get(key)
        if hit is None:
            w = 1.0 / max(self.n_silences, 1)
            own = self.hazard.cumulative(lv, int(hour * 12) / 12.0, since=MIN_SECONDS)
            hit = mix([own, scale_free_tail(own)], [1.0 - w, w])
            if len(self._cache) > self.cache_limit:
                self._cache.clear()
            self._cache[key] = hit
        if len(self._by_context) > self.cache_limit:
            self._by_context.clear()
        self._by_context[c] = hit
        return hit

    def survival(self, ctx: SilenceContext | SensorEvent, seconds: float) -> float:
        """P(a silence after `ctx` lasts longer than `seconds`)."""
        return math.exp(-survival_at(self._cum(ctx), seconds))

    def surprise(self, ctx: SilenceContext | SensorEvent, seconds: float) -> float:
        """-log10 P(silence > seconds | context): 2 means 1 in 100, 4 means 1 in 10,000. Grows with time."""
        return survival_at(self._cum(ctx), seconds) / _LN10

    def seconds_at_surprise(self, ctx: SilenceContext | SensorEvent, surprise: float) -> float:
        """The silence length at which `surprise(ctx, .)` first reaches `surprise` (inverse)."""
        return seconds_at(self._cum(ctx), surprise * _LN10)

    def quantile(self, ctx: SilenceContext | SensorEvent, q: float) -> float:
        """Silence length (seconds) that a fraction `q` of silences in this context stay below."""
        return seconds_at(self._cum(ctx), -math.log(max(1e-300, 1.0 - q)))

    def pause_surprise(self, ctx: SilenceContext, seconds: float) -> float:
        """-log10 P(a silence after `ctx` lasts longer than `seconds` and ends in its room), at least:
        how unusual a pause between two movements in one room is.

        Both the silence's surprise and that of the pause among this home's n pauses in that room
        (`room_pauses`; (count + 1/2) / (n + 1), log-linear between the grid's points) are lower
        bounds of it, so it is the larger of the two. A pause longer than every one seen is half a
        pause in n + 1: no claim beyond what n pauses can show (log10(2 (n + 1)), 3.3 for a thousand).
        Where the bathroom sensor fires every half minute while someone is there, 15 minutes between
        two movements there is that unusual even if a silence after the bathroom (back to a bed no
        sensor sees) often lasts that long. A model from before the pauses were kept: the silence."""
        silence = self.surprise(ctx, seconds)
        counts = self.room_pauses.get(room_key(ctx.room))
        if counts is None or len(counts) == 0 or seconds < PAUSE_GRID[0]:
            return silence
        n = float(counts[0])
        x = math.log(seconds)
        j = bisect_right(_LOG_GRID, x) - 1  # PAUSE_GRID[j] <= seconds
        if j + 1 >= len(counts):
            return max(silence, math.log10(2.0 * (n + 1.0)))
        lo = math.log10((counts[j + 1] + 0.5) / (n + 1.0))
        hi = math.log10((counts[j + 2] + 0.5) / (n + 1.0)) if j + 2 < len(counts) else math.log10(0.5 / (n + 1.0))
        f = (x - _LOG_GRID[j]) / (_LOG_GRID[j + 1] - _LOG_GRID[j]) if j + 1 < len(_LOG_GRID) else 0.0
        return max(silence, -(lo + f * (hi - lo)))
