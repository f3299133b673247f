"""The behaviour model: the person's routine per room, weekday and time of day (pure, JSON).

What it learns (docs/model.md explains why):
- stay durations per (room, weekday, time-of-day bin of the stay's START): `stay_duration`;
- visits: stays starting in a bin, per observed bin of each training day: `visits`;
  and per night (23:00-07:00) / day (07:00-23:00): `daily_visits`;
- the night's rest (domain/rest.py): the wake-up, i.e. the first activity of the day after the
  night's rest, `first_activity`, and the bedtime, `bedtime`;
- away durations (front door then silence) by the time the person left: `away_duration`;
- the silence model of domain/silence.py, stored under "silence";
- stay lengths by room, previous room and time of day (domain/stay_hazard.py), "stay_hazard".

Cells are in the home's local time (`tz`, DST-exact). Sparse cells borrow strength from coarser
levels by shrinkage (domain/distributions.py): cell -> daytype (weekday/weekend) -> hour (all
weekdays) -> room -> home. Away and unknown intervals are excluded: a bin that was mostly away or
without data is not a "zero visits" sample, and stays cut by an outage (or by the start or end of
the data) do not count as durations.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np

from hometwin.domain.calibration_result import Calibration
from hometwin.domain.distributions import (
    CountDistribution,
    CountStats,
    Distribution,
    Sketch,
    pool_counts,
    pool_sketches,
)
from hometwin.domain.events import SensorEvent
from hometwin.domain.model_params import Levels, ModelParams
from hometwin.domain.model_training import learn
from hometwin.domain.packed_cells import packed_levels
from hometwin.domain.silence import SilenceModel
from hometwin.domain.stay_hazard import StayHazard
from hometwin.domain.stays import (
    KINDS,
    EventArrays,
    Timeline,
    event_arrays,
    room_key,
    timeline_from_arrays,
)

SCHEMA_VERSION = 2  # 2: the silence model became a hazard regression (schema 1 must be retrained)
MODEL_KIND = "behaviour"
_time = attrgetter("time")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
Part = Literal["night", "day"]


class OutdatedModel(ValueError):
    """A model document of an older schema that this HomeTwin cannot use: train a new model."""

@dataclass
class BehaviourModel:
    """A trained model. Build with `train_model`; every query takes an aware datetime."""

    home_id: str
    tz: str
    params: ModelParams
    rooms: list[str]
    training: dict[str, Any]
    durations: dict[str, Levels]  # room -> levels (cell, daytype, hour, room) of Sketch
    home_durations: Sketch | None
    visit_counts: dict[str, Levels]  # room -> levels of CountStats per bin
    home_visits: CountStats | None
    daily: dict[str, dict[str, Levels]]  # room -> part -> levels (cell, daytype, hour) of CountStats
    first: Levels  # levels (cell, daytype, hour) of Sketch, minutes after midnight
    away: Levels  # levels (cell, daytype, hour, home) of Sketch, seconds
    silence: SilenceModel
    bedtimes: Levels = field(default_factory=dict)  # levels of Sketch, minutes after the evening's midnight
    stay_hazard: StayHazard | None = None  # stay lengths by room, previous room and time of day
    calibration: Calibration | None = None  # this home's limit shifts (domain/calibration.py), if calibrated
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _room_of: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._zone = ZoneInfo(self.tz)
        self._room_of = {room_key(r): r for r in self.rooms}

    @property
    def bin_minutes(self) -> int:
        return self.params.bin_minutes

    # ------------------------------------------------------------------------------ queries
    def _cell(self, at: datetime) -> tuple[int, int]:
        if at.tzinfo is None:
            raise ValueError("the time of a model query must be timezone-aware")
        local = at.astimezone(self._zone)
        return local.weekday(), (local.hour * 60 + local.minute) // self.bin_minutes

    def _chain(self, levels: Levels | None, w: int, b: int, top: str) -> list[tuple[str, Any]]:
        levels = levels or {}
        keys = (("cell", f"{w}:{b}"), ("daytype", f"{int(w >= 5)}:{b}"), ("hour", str(b)), (top, ""))
        return [(lv, levels.get(lv, {}).get(key)) for lv, key in keys]

    def canonical_room(self, room: str) -> str | None:
        return self._room_of.get(room_key(room))

    def stay_duration(self, room: str, at: datetime) -> Distribution:
        """Durations (seconds) of stays in `room` that START in the bin of `at`."""
        w, b = self._cell(at)
        name = self.canonical_room(room)
        chain = self._chain(self.durations.get(name) if name else None, w, b, "room")
        return pool_sketches([*chain, ("home", self.home_durations)], self.params.prior_strength)

    def visits(self, room: str, at: datetime) -> CountDistribution:
        """Number of stays in `room` starting in the bin of `at` on one day."""
        w, b = self._cell(at)
        name = self.canonical_room(room)
        chain = self._chain(self.visit_counts.get(name) if name else None, w, b, "room")
        return pool_counts([*chain, ("home", self.home_visits)], self.params.prior_strength)

    def daily_visits(self, room: str, at: datetime, part: Part | str) -> CountDistribution:
        """Visits to `room` in one night (23:00-07:00, keyed by the evening it starts) or one day
        (07:00-23:00). `at` is any time in that night or day, or its start."""
        if part not in ("night", "day"):
            raise ValueError(f"part must be 'night' or 'day', got {part!r}")
        local = at.astimezone(self._zone)
        if part == "night":
            local -= timedelta(hours=self.params.night_end_hour)
        w = local.weekday()
        name = self.canonical_room(room)
        levels = self.daily.get(name, {}).get(part, {}) if name else {}
        keys = (("cell", str(w)), ("daytype", str(int(w >= 5))), ("hour", ""))
        return pool_counts([(lv, levels.get(lv, {}).get(k)) for lv, k in keys], self.params.prior_strength)

    def first_activity(self, at: datetime) -> Distribution:
        """Time of the first activity of the day (minutes after local midnight) on `at`'s weekday."""
        w = at.astimezone(self._zone).weekday()
        keys = (("cell", str(w)), ("daytype", str(int(w >= 5))), ("hour", ""))
        return pool_sketches([(lv, self.first.get(lv, {}).get(k)) for lv, k in keys],
                             self.params.prior_strength)

    def bedtime(self, at: datetime) -> Distribution:
        """Bedtime (minutes after the midnight that starts the evening, so 23:30 is 1410 and 00:30 is
        1470) on the evening of `at`'s weekday (before noon: the evening before)."""
        local = at.astimezone(self._zone) - timedelta(hours=12)
        w = local.weekday()
        keys = (("cell", str(w)), ("daytype", str(int(w >= 5))), ("hour", ""))
        return pool_sketches([(lv, self.bedtimes.get(lv, {}).get(k)) for lv, k in keys],
                             self.params.prior_strength)

    def away_duration(self, at: datetime) -> Distribution:
        """Durations (seconds) of away intervals that started in the bin of `at`."""
        w, b = self._cell(at)
        return pool_sketches(self._chain(self.away, w, b, "home"), self.params.prior_strength)

    def away_duration_any_time(self) -> Distribution:
        """Durations (seconds) of all away intervals, whenever they started."""
        return pool_sketches([("home", (self.away or {}).get("home", {}).get(""))], self.params.prior_strength)

    def room_average_duration(self) -> dict[str, float]:
        """Mean stay duration per room (seconds; winsorised, see distributions.py)."""
        out: dict[str, float] = {}
        for room in self.rooms:
            s = self.durations.get(room, {}).get("room", {}).get("")
            out[room] = s.mean if s is not None else math.nan
        return out

    def grid(self, room: str, stat: Literal["visits", "mean_duration"]) -> list[list[float]]:
        """7 weekdays (Monday first) x bins of the cell's OWN data (no pooling, so a heat map shows
        what was observed): mean visits per day, or mean stay duration in seconds; NaN = no data."""
        name = self.canonical_room(room)
        if stat == "visits":
            cells = self.visit_counts.get(name, {}).get("cell", {}) if name else {}
        elif stat == "mean_duration":
            cells = self.durations.get(name, {}).get("cell", {}) if name else {}
        else:
            raise ValueError(f"stat must be 'visits' or 'mean_duration', got {stat!r}")
        return [[float(c.mean) if (c := cells.get(f"{w}:{b}")) is not None else math.nan
                 for b in range(self.params.bins)] for w in range(7)]

    # ------------------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": MODEL_KIND,
            "home_id": self.home_id,
            "tz": self.tz,
            "bin_minutes": self.bin_minutes,
            "params": self.params.to_dict(),
            "rooms": list(self.rooms),
            "training": self.training,
            "durations": {r: _levels_json(lv) for r, lv in self.durations.items()},
            "home_durations": self.home_durations.to_json() if self.home_durations else None,
            "visits": {r: _levels_json(lv) for r, lv in self.visit_counts.items()},
            "home_visits": self.home_visits.to_json() if self.home_visits else None,
            "daily_visits": {r: {p: _levels_json(lv) for p, lv in parts.items()}
                             for r, parts in self.daily.items()},
            "first_activity": _levels_json(self.first),
            "bedtime": _levels_json(self.bedtimes),
            "away": _levels_json(self.away),
            "silence": self.silence.to_dict(),
            "stay_hazard": self.stay_hazard.to_dict() if self.stay_hazard else None,
            "calibration": self.calibration.to_dict() if self.calibration else None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BehaviourModel:
        version = d.get("schema_version")
        if isinstance(version, int) and not isinstance(version, bool) and 0 < version < SCHEMA_VERSION:
            raise OutdatedModel(f"behaviour model schema_version {version} is older than this HomeTwin's "
                                f"{SCHEMA_VERSION} (the silence model changed): retrain the model (`hometwin train`)")
        if version != SCHEMA_VERSION:
            raise ValueError(f"behaviour model schema_version {version!r} is not supported "
                             f"(this HomeTwin reads {SCHEMA_VERSION}): retrain the model (`hometwin train`)")
        try:
            sk, cs = Sketch.from_json, CountStats.from_json
            return cls(
                home_id=str(d["home_id"]), tz=str(d["tz"]), params=ModelParams.from_dict(d["params"]),
                rooms=[str(r) for r in d["rooms"]], training=dict(d["training"]),
                durations={r: _levels_from(lv, sk) for r, lv in d["durations"].items()},
                home_durations=sk(d["home_durations"]) if d.get("home_durations") else None,
                visit_counts={r: _levels_from(lv, cs) for r, lv in d["visits"].items()},
                home_visits=cs(d["home_visits"]) if d.get("home_visits") else None,
                daily={r: {p: _levels_from(lv, cs) for p, lv in parts.items()}
                       for r, parts in d["daily_visits"].items()},
                first=_levels_from(d["first_activity"], sk), away=_levels_from(d["away"], sk),
                silence=SilenceModel.from_dict(d["silence"]), bedtimes=_levels_from(d.get("bedtime", {}), sk),
                stay_hazard=StayHazard.from_dict(d["stay_hazard"]) if d.get("stay_hazard") else None,
                calibration=Calibration.from_dict(d["calibration"]) if d.get("calibration") else None,
            )
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"behaviour model document is incomplete or malformed: {exc!r}") from exc


def _levels_json(levels: Levels) -> dict[str, dict[str, Any]]:
    return {lv: {k: v.to_json() for k, v in cells.items()} for lv, cells in levels.items()}


def _levels_from(d: dict[str, dict[str, Any]], parse: Any) -> Levels:
    return packed_levels(d, parse)  # a fleet monitoring holds thousands of models: domain/packed_cells.py


def checks_only_document(document: dict[str, Any]) -> dict[str, Any]:
    """The model document without what no detector reads: the training summary, the visit counts per
    time of day (the dashboard's heat maps; the unusual-frequency detector reads the daily counts)
    and, when the model has its stay model (what the prolonged-stay detector asks then), the stay
    durations per time of day. What a fleet's monitoring holds, and what `train_model(checks_only=True)`
    leaves out: its checks find what the whole model's find."""
    unread: dict[str, Any] = {"training": {}, "visits": {}}
    if document.get("stay_hazard"):
        unread["durations"] = {}
    return {**document, **unread}


# ---------------------------------------------------------------------------------------- training
def train_model(events: Sequence[SensorEvent], *, tz: str, params: ModelParams = ModelParams(),
                start: datetime | None = None, end: datetime | None = None,
                home_id: str = "home", checks_only: bool = False) -> BehaviourModel:
    """Learn the routine from `events` in [start, end) (default: all of them).

    `checks_only`: a model for checks alone (the calibration's replays), without computing what
    `checks_only_document` leaves out (the dashboard and the reports read it)."""
    ZoneInfo(tz)  # fail early on an unknown zone
    evs = list(events)
    if (start is not None or end is not None) and evs:
        lo = start or datetime.min.replace(tzinfo=UTC)
        hi = end or datetime.max.replace(tzinfo=UTC)
        if not (lo <= min(map(_time, evs)) and max(map(_time, evs)) < hi):  # else all are in [lo, hi)
            evs = [e for e in evs if lo <= e.time < hi]
    arrays = event_arrays(evs, params.stays)
    timeline = timeline_from_arrays(arrays, params.stays)
    if len(arrays) == 0:
        raise ValueError("no sensor events in the training period")
    t_start = start.timestamp() if start else float(arrays.t[0])
    t_end = end.timestamp() if end else float(arrays.t[-1])
    stats = learn(arrays, timeline, tz, params, t_start, t_end, checks_only)
    silence = SilenceModel.train(evs, timeline, tz, params.silence, params.stays, arrays)
    training = {} if checks_only else _training_info(arrays, timeline, params, t_start, t_end, home_id, tz)
    return BehaviourModel(home_id=home_id, tz=tz, params=params, rooms=list(arrays.rooms),
                          training=training, silence=silence, **stats)


def _training_info(a: EventArrays, tl: Timeline, params: ModelParams, t_start: float, t_end: float,
                   home_id: str, tz: str) -> dict[str, Any]:
    events_per_room = np.bincount(a.room, minlength=len(a.rooms))
    stays_per_room: dict[str, int] = dict.fromkeys(a.rooms, 0)
    for s in tl.stays:
        stays_per_room[s.room] += 1
    return {
        "home_id": home_id,
        "tz": tz,
        # in the home's local time (with its offset): what a reader of `models list` expects
        "period": {"start": datetime.fromtimestamp(t_start, ZoneInfo(tz)).isoformat(),
                   "end": datetime.fromtimestamp(t_end, ZoneInfo(tz)).isoformat()},
        "n_events": len(a),
        "events_per_room": {r: int(n) for r, n in zip(a.rooms, events_per_room, strict=True)},
        "stays_per_room": stays_per_room,
        "n_stays": len(tl.stays),
        "away": {"intervals": len(tl.away),
                 "hours": round(sum(i.duration.total_seconds() for i in tl.away) / 3600, 2)},
        "unknown": {"intervals": len(tl.unknown),
                    "hours": round(sum(i.duration.total_seconds() for i in tl.unknown) / 3600, 2)},
        "fingerprint": fingerprint(a),
        "params": params.to_dict(),
    }


def fingerprint(a: EventArrays) -> str:
    """sha256 of the training events in canonical order (the same events in any order and with
    duplicates give the same fingerprint). Covers time, sensor, room, kind and value."""
    h = hashlib.sha256(b"hometwin-events-v1\n")
    h.update(json.dumps({"rooms": a.rooms, "kinds": [k.value for k in KINDS]}).encode())
    h.update(np.round(a.t * 1e6).astype(np.int64).tobytes())
    h.update(a.room.astype(np.int32).tobytes())
    h.update(a.kind.astype(np.int8).tobytes())
    h.update(a.value.astype(np.float64).tobytes())
    sensors = map(attrgetter("sensor"), map(a.events.__getitem__, a.order.tolist()))
    h.update("\x1f".join(sensors).encode())
    return "sha256:" + h.hexdigest()


__all__ = ["BehaviourModel", "CountDistribution", "Distribution", "OutdatedModel", "train_model"]
