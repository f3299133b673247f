"""What changed between two behaviour models, measured against the person's own variation.

The modeling component stores this summary with each new model (kind "behaviour-change"), the
weekly e-mail and the dashboard show it. Per room: visits a day, visits a night (23:00-07:00 by
default), the typical (median) and the average visit duration; for the home: the usual start of
the day (the wake-up the model learned).

A difference is notable only when it is larger than this person's own variation, the statistic of
the Trends (domain/change.py, docs/trends.md), read here from what a model keeps (summaries of the
days, not the days themselves):

- the spread is the old model's, the baseline: the day-to-day standard deviation of a daily count,
  the robust spread of the wake-up times within weekdays and within weekends (from their 20th and
  80th percentiles), the robust spread of log visit durations (`Sketch.log_sigma`, a MAD);
- it is turned into the spread of the *difference* between the two models' levels, given how many
  days (or visits) each learned from and how many they share: two models trained on overlapping
  windows (the weekly retrain of a 56-day window shares 49 days) differ only by the days one has and
  the other has not, so for two disjoint weeks this is exactly the week-to-week variation;
- `z` is the difference in units of that spread, and a difference is notable when |z| >= `Z_NOTABLE`
  (3, the most one day may weigh in the Trends) and it is at least as large as what is worth a
  nurse's time (`MIN_CHANGE`: the same sizes as the Trends' indicators where they measure the same).

The words follow domain/trends_wording.py ("visited 3 times a night instead of not once"). The
result is plain JSON (None where a model has no data; never NaN).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hometwin.domain.distributions import QUANTILE_GRID, CountStats, Sketch
from hometwin.domain.indicators import SPECS
from hometwin.domain.model import BehaviourModel
from hometwin.domain.trends_wording import times_text
from hometwin.domain.wording import clock_text, count_text, duration_text

Z_NOTABLE = 3.0
MEDIAN_INDEX = QUANTILE_GRID.index(0.5)
_P20, _P80 = QUANTILE_GRID.index(0.2), QUANTILE_GRID.index(0.8)
_P80_Z = 0.8416  # Phi^-1(0.8): the 20th to 80th percentile is 2 * 0.8416 standard deviations
_MEDIAN_EFFICIENCY = 1.2533  # sd of a median / sd of a mean, for normal data (sqrt(pi / 2))

# The smallest difference worth reporting, in the metric's unit: a night visit and the start of the
# day as the Trends' toilet visits and getting up; visits a day and durations as before.
MIN_CHANGE = {
    "visits_per_day": 0.5,
    "night_visits": SPECS["night_toilet_visits"].min_change,
    "median_duration_s": 60.0,
    "mean_duration_s": 60.0,
    "first_activity_min": SPECS["getting_up"].min_change,
}
# The least spread assumed, so a perfectly regular (simulated) routine does not make a difference of
# a hair infinitely unusual: a twentieth of a visit, 5 % of a duration, half the Trends' clock resolution.
_FLOOR = {"count": 0.05, "log": 0.05, "clock": SPECS["getting_up"].min_scale / 2}


@dataclass(frozen=True, slots=True)
class _Level:
    """One model's figure for a metric: its value, how many days (or visits) it rests on, and the
    spread of one such day (or visit): standard deviation, or log-scale sigma for durations."""

    value: float
    n: int
    spread: float


def compare_models(old: BehaviourModel, new: BehaviourModel) -> dict[str, Any]:
    """The behaviour-change summary from `old` to `new` (see the module doc)."""
    shared = _shared_share(old, new)
    rooms: dict[str, Any] = {}
    notable: list[str] = []
    for room in sorted(set(old.rooms) | set(new.rooms)):
        metrics = {name: _change(name, fn(old, room), fn(new, room), shared) for name, fn in _ROOM_METRICS.items()}
        lines = [line for line in (_room_line(room, name, m) for name, m in metrics.items()) if line]
        if room not in old.rooms:
            lines.insert(0, f"{room}: a room not seen in the previous model")
        elif room not in new.rooms:
            lines.insert(0, f"{room}: no longer seen (no events in the new training period)")
        notable += [_room_line(room, name, m) for name, m in metrics.items() if m["notable"]]
        rooms[room] = {**metrics, "lines": lines}
    first = _change("first_activity_min", _first_activity(old), _first_activity(new), shared)
    lines = []
    if first["old"] is not None or first["new"] is not None:
        lines.append(_first_line(first))
        if first["notable"]:
            notable.insert(0, _first_line(first))
    if not notable:
        lines.insert(0, "No notable change in the daily routine.")
    else:
        lines.insert(0, f"{len(notable)} notable change{'s' if len(notable) > 1 else ''}: "
                        + "; ".join(line.rstrip(".") for line in notable) + ".")
    return {
        "old": {"period": old.training.get("period"), "fingerprint": old.training.get("fingerprint")},
        "new": {"period": new.training.get("period"), "fingerprint": new.training.get("fingerprint")},
        "shared_share": round(shared, 3),
        "rooms": rooms,
        "first_activity_min": first,
        "notable": notable,
        "lines": lines,
    }


# ---- the statistics


def _period(m: BehaviourModel) -> tuple[datetime, datetime] | None:
    period = m.training.get("period") or {}
    try:
        start, end = datetime.fromisoformat(period["start"]), datetime.fromisoformat(period["end"])
    except (KeyError, TypeError, ValueError):  # an older or hand-made document: assume nothing shared
        return None
    return (start, end) if end > start else None


def _shared_share(old: BehaviourModel, new: BehaviourModel) -> float:
    """The share of the shorter training period that both models learned from (0 = disjoint)."""
    a, b = _period(old), _period(new)
    if a is None or b is None:
        return 0.0
    overlap = (min(a[1], b[1]) - max(a[0], b[0])).total_seconds()
    shorter = min((a[1] - a[0]).total_seconds(), (b[1] - b[0]).total_seconds())
    return min(max(overlap / shorter, 0.0), 1.0)


def difference_spread(n_old: int, n_new: int, shared: int) -> float:
    """The standard deviation of (mean of n_new values) - (mean of n_old values) when `shared` of the
    values are in both and every value has unit variance and is independent of the others: the
    shared ones cancel except for the difference of their weights."""
    s = min(max(shared, 0), n_old, n_new)
    var = (n_new - s) / n_new**2 + (n_old - s) / n_old**2 + s * (1 / n_new - 1 / n_old) ** 2
    return math.sqrt(max(var, 0.0))


def _change(name: str, old: _Level | None, new: _Level | None, shared_share: float) -> dict[str, Any]:
    old_v = None if old is None or not math.isfinite(old.value) else round(old.value, 3)
    new_v = None if new is None or not math.isfinite(new.value) else round(new.value, 3)
    if old is None or new is None or old_v is None or new_v is None or old.n < 1 or new.n < 1:
        return {"old": old_v, "new": new_v, "change": None, "relative": None, "z": None, "usual": None,
                "notable": False}
    diff = new_v - old_v
    rel = diff / old_v if old_v else (math.inf if diff else 0.0)
    shared = round(shared_share * min(old.n, new.n))
    factor = difference_spread(old.n, new.n, shared)
    if name in ("median_duration_s", "mean_duration_s"):
        # durations are judged on the log scale, where their spread is a robust sigma
        sd = max(_duration_sd(name, old.spread) * factor, _FLOOR["log"])
        moved = math.log(max(new_v, 1.0) / max(old_v, 1.0))
        usual = old_v * (math.exp(Z_NOTABLE * sd) - 1)
    else:
        floor = _FLOOR["clock"] if name == "first_activity_min" else _FLOOR["count"]
        median = _MEDIAN_EFFICIENCY if name == "first_activity_min" else 1.0
        sd = max(old.spread * median * factor, floor)
        moved = diff
        usual = Z_NOTABLE * sd
    z = moved / sd
    notable = abs(z) >= Z_NOTABLE and abs(diff) >= MIN_CHANGE[name]
    return {"old": old_v, "new": new_v, "change": round(diff, 3),
            "relative": round(rel, 3) if math.isfinite(rel) else None,
            "z": round(max(min(z, 99.0), -99.0), 1), "usual": round(usual, 3), "notable": notable}


def _duration_sd(name: str, log_sigma: float) -> float:
    """The spread of one visit's contribution on the log scale: for the median sqrt(pi/2) sigma, for
    the mean the coefficient of variation of a log-normal duration."""
    if name == "median_duration_s":
        return _MEDIAN_EFFICIENCY * log_sigma
    return math.sqrt(math.expm1(min(log_sigma, 3.0) ** 2))


# ---- what each metric reads from a model


def _count(levels: Any) -> CountStats | None:
    s = (levels or {}).get("hour", {}).get("")
    return s if isinstance(s, CountStats) else None


def _visits_per_day(m: BehaviourModel, room: str) -> _Level | None:
    parts = [_count(m.daily.get(room, {}).get(p)) for p in ("night", "day")]
    known = [p for p in parts if p is not None]
    if not known:
        return None
    # night and day are counted on the same days; their variances add (independent parts)
    return _Level(sum(p.mean for p in known), min(p.n for p in known), math.sqrt(sum(p.var for p in known)))


def _night_visits(m: BehaviourModel, room: str) -> _Level | None:
    s = _count(m.daily.get(room, {}).get("night"))
    return None if s is None else _Level(s.mean, s.n, math.sqrt(s.var))


def _sketch(levels: Any, level: str) -> Sketch | None:
    s = (levels or {}).get(level, {}).get("")
    return s if isinstance(s, Sketch) else None


def _median_duration(m: BehaviourModel, room: str) -> _Level | None:
    s = _sketch(m.durations.get(room), "room")
    return None if s is None else _Level(s.q[MEDIAN_INDEX], s.n, s.log_sigma)


def _mean_duration(m: BehaviourModel, room: str) -> _Level | None:
    s = _sketch(m.durations.get(room), "room")
    return None if s is None else _Level(s.mean, s.n, s.log_sigma)


def _robust_sd(s: Sketch) -> float:
    return (s.q[_P80] - s.q[_P20]) / (2 * _P80_Z)


def _first_activity(m: BehaviourModel) -> _Level | None:
    """The usual wake-up (all days) with the spread *within* weekdays and weekends: someone who sleeps
    in on Sundays does not vary by the 90 minutes between the two (the Trends compare a weekday
    with weekdays, too)."""
    s = _sketch(m.first, "hour")
    if s is None:
        return None
    kinds = [k for k in (m.first.get("daytype") or {}).values() if isinstance(k, Sketch)]
    if not kinds:
        return _Level(s.q[MEDIAN_INDEX], s.n, _robust_sd(s))
    pooled = sum(k.n * _robust_sd(k) ** 2 for k in kinds) / sum(k.n for k in kinds)
    return _Level(s.q[MEDIAN_INDEX], s.n, math.sqrt(pooled))


_ROOM_METRICS: dict[str, Callable[[BehaviourModel, str], _Level | None]] = {
    "visits_per_day": _visits_per_day,
    "median_duration_s": _median_duration,
    "mean_duration_s": _mean_duration,
    "night_visits": _night_visits,
}


# ---- words


def _verdict(name: str, m: dict[str, Any]) -> str:
    """', beyond the usual variation (±0.3)' and its kin; '' when there is nothing to compare."""
    if m["z"] is None:
        return ""
    usual = m["usual"]
    if name == "first_activity_min":
        band = duration_text(usual * 60)
    elif name in ("median_duration_s", "mean_duration_s"):
        band = duration_text(usual)
    else:
        band = count_text(usual)
    if abs(m["z"]) < Z_NOTABLE:
        return f", within the usual variation (±{band})"
    return f", beyond the usual variation (±{band})" + ("" if m["notable"] else " but too small to matter")


def _room_line(room: str, name: str, m: dict[str, Any]) -> str:
    old, new = m["old"], m["new"]
    if new is None:
        return ""
    if name in ("visits_per_day", "night_visits"):
        value: Callable[[float], str] = times_text
        when = "a day" if name == "visits_per_day" else "a night"
        text = f"visited {times_text(new)} {when}" if count_text(new) != "0" else "not visited" + (
            " at night" if name == "night_visits" else "")
    else:
        value = duration_text
        label = "a typical visit (median) lasts" if name == "median_duration_s" else "an average visit lasts"
        text = f"{label} {duration_text(new)}"
    if old is None:
        return f"{room}: {text}"
    if value(old) == value(new):  # the same in words: "instead of" would read as a mistake
        return f"{room}: {text}, as before"
    return f"{room}: {text} instead of {value(old)}{_verdict(name, m)}"


def _first_line(m: dict[str, Any]) -> str:
    old, new = m["old"], m["new"]
    if new is None:
        return "The first activity of the day: no data in the new model."
    text = f"The day usually starts at {clock_text(new)}"
    if old is None:
        return text + "."
    if clock_text(old) == clock_text(new):
        return f"{text}, as before."
    diff = round(new) - round(old)  # whole minutes, as the clock times read
    shift = f" ({duration_text(abs(diff) * 60)} {'later' if diff > 0 else 'earlier'})"
    return f"{text} instead of {clock_text(old)}{shift}{_verdict('first_activity_min', m)}."
