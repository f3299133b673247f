"""What changed between two behaviour models, in numbers and in plain language.

The modeling component stores this summary with each new model (kind "behaviour-change"), the
dashboard shows it. Per room: visits per day, the typical (median) visit duration, the mean visit
duration and night-time visits (23:00-07:00 by default); for the home: the usual time of the first
activity of the day. A change is "notable" when it is both relatively and absolutely large
(thresholds below): a move from 0.1 to 0.2 night visits is +100 % but means nothing.

The result is plain JSON (None where a model has no data; never NaN).
"""

from __future__ import annotations

import math
from typing import Any

from hometwin.domain.model import BehaviourModel
from hometwin.domain.model_params import Levels
from hometwin.domain.wording import clock_text, duration_text

# (relative change, absolute change) both needed for a change to be notable
NOTABLE = {
    "visits_per_day": (0.20, 0.5),
    "median_duration_s": (0.25, 60.0),
    "mean_duration_s": (0.25, 60.0),
    "night_visits": (0.30, 0.5),
    "first_activity_min": (0.0, 30.0),
}
MEDIAN_INDEX = 6  # QUANTILE_GRID[6] == 0.5


def compare_models(old: BehaviourModel, new: BehaviourModel) -> dict[str, Any]:
    """The behaviour-change summary from `old` to `new` (see the module doc)."""
    rooms: dict[str, Any] = {}
    notable: list[str] = []
    for room in sorted(set(old.rooms) | set(new.rooms)):
        metrics = {name: _change(name, fn(old, room), fn(new, room)) for name, fn in _ROOM_METRICS.items()}
        lines = [_room_line(room, name, m) for name, m in metrics.items()]
        lines = [line for line in lines if line]
        if room not in old.rooms:
            lines.insert(0, f"{room}: a room not seen in the previous model")
        elif room not in new.rooms:
            lines.insert(0, f"{room}: no longer seen (no events in the new training period)")
        notable += [_room_line(room, name, m) for name, m in metrics.items() if m["notable"]]
        rooms[room] = {**metrics, "lines": lines}
    first = _change("first_activity_min", _first_activity(old), _first_activity(new))
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
        "rooms": rooms,
        "first_activity_min": first,
        "notable": notable,
        "lines": lines,
    }


def _stat(levels: Levels | None, level: str, attr: str) -> float | None:
    s = (levels or {}).get(level, {}).get("")
    return None if s is None else float(getattr(s, attr))


def _visits_per_day(m: BehaviourModel, room: str) -> float | None:
    parts = m.daily.get(room, {})
    values = [_stat(parts.get(p), "hour", "mean") for p in ("night", "day")]
    return None if all(v is None for v in values) else sum(v or 0.0 for v in values)


def _night_visits(m: BehaviourModel, room: str) -> float | None:
    return _stat(m.daily.get(room, {}).get("night"), "hour", "mean")


def _median_duration(m: BehaviourModel, room: str) -> float | None:
    s = m.durations.get(room, {}).get("room", {}).get("")
    return None if s is None else float(s.q[MEDIAN_INDEX])


def _mean_duration(m: BehaviourModel, room: str) -> float | None:
    return _stat(m.durations.get(room), "room", "mean")


def _first_activity(m: BehaviourModel) -> float | None:
    s = m.first.get("hour", {}).get("")
    return None if s is None else float(s.q[MEDIAN_INDEX])


_ROOM_METRICS = {
    "visits_per_day": _visits_per_day,
    "median_duration_s": _median_duration,
    "mean_duration_s": _mean_duration,
    "night_visits": _night_visits,
}


def _change(name: str, old: float | None, new: float | None) -> dict[str, Any]:
    old = None if old is None or not math.isfinite(old) else round(old, 3)
    new = None if new is None or not math.isfinite(new) else round(new, 3)
    if old is None or new is None:
        return {"old": old, "new": new, "change": None, "relative": None, "notable": False}
    diff = new - old
    rel = diff / old if old else (math.inf if diff else 0.0)
    rel_limit, abs_limit = NOTABLE[name]
    notable = abs(diff) >= abs_limit and abs(rel) >= rel_limit
    return {"old": old, "new": new, "change": round(diff, 3),
            "relative": round(rel, 3) if math.isfinite(rel) else None, "notable": notable}


def _pct(m: dict[str, Any]) -> str:
    return "new" if m["relative"] is None else f"{m['relative'] * 100:+.0f}%"


def _room_line(room: str, name: str, m: dict[str, Any]) -> str:
    old, new = m["old"], m["new"]
    if new is None:
        return ""
    if name == "visits_per_day":
        text = f"{new:.1f} visits a day"
        return f"{room}: {text}" + (f" (was {old:.1f}, {_pct(m)})" if old is not None else "")
    if name == "night_visits":
        text = f"{new:.1f} visits a night"
        return f"{room}: {text}" + (f" (was {old:.1f}, {_pct(m)})" if old is not None else "")
    label = "a typical visit (median) lasts" if name == "median_duration_s" else "an average visit lasts"
    was = f" (was {duration_text(old)}, {_pct(m)})" if old is not None else ""
    return f"{room}: {label} {duration_text(new)}{was}"


def _first_line(m: dict[str, Any]) -> str:
    old, new = m["old"], m["new"]
    if new is None:
        return "The first activity of the day: no data in the new model."
    text = f"The day usually starts at {clock_text(new)}"
    if old is None:
        return text + "."
    diff = new - old
    when = "later" if diff > 0 else "earlier"
    was = clock_text(old)
    return text + (f" (was {was}, {abs(diff):.0f} min {when})." if round(diff) else f" (was {was}).")
