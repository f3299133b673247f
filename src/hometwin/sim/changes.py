"""Behaviour changes injected into a simulated resident, with ground truth, for the trends evaluation.

A `BehaviourChange` alters the resident's habits from a local day on, suddenly or ramped over
`ramp_days` (a gradual change reaches its full size on the last ramp day):

- night_toilet_x2: night-time toilet visits double (the Poisson mean 1 -> 2);
- wake_later_90: getting up 90 minutes later;
- kitchen_half: meals and breakfast in the kitchen take half as long;
- outings_stop: no more outings (nor whole days out);
- more_bed: 60 minutes earlier to bed and 30 minutes later up (1.5 h more in bed).

Without changes the planner plans exactly what it always planned (the default simulator output is
unchanged), because a change only rewrites the `Lifestyle` of the days it covers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from hometwin.sim.routine import Lifestyle

CHANGE_KINDS: dict[str, str] = {
    "night_toilet_x2": "night-time toilet visits doubled",
    "wake_later_90": "getting up 90 minutes later",
    "kitchen_half": "half the time in the kitchen",
    "outings_stop": "outings stop",
    "more_bed": "1.5 h more in bed (60 min earlier to bed, 30 min later up)",
}
# The indicator that should show each change (what the evaluation expects to be reported).
CHANGE_INDICATOR: dict[str, str] = {
    "night_toilet_x2": "night_toilet_visits",
    "wake_later_90": "getting_up",
    "kitchen_half": "kitchen_time",
    "outings_stop": "outings",
    "more_bed": "time_in_bed",
}
CHANGE_DIRECTION: dict[str, str] = {"night_toilet_x2": "up", "wake_later_90": "up", "kitchen_half": "down",
                                    "outings_stop": "down", "more_bed": "up"}


@dataclass(frozen=True, slots=True)
class BehaviourChange:
    """`kind` (see CHANGE_KINDS) from local day `start` on, full size after `ramp_days` days."""

    kind: str
    start: date
    ramp_days: int = 0

    def __post_init__(self) -> None:
        if self.kind not in CHANGE_KINDS:
            raise ValueError(f"unknown change {self.kind!r} (known: {', '.join(CHANGE_KINDS)})")
        if self.ramp_days < 0:
            raise ValueError("ramp_days must not be negative")

    def strength(self, day: date) -> float:
        """0 before the change, rising linearly to 1 over the ramp, 1 after."""
        elapsed = (day - self.start).days
        if elapsed < 0:
            return 0.0
        return min(1.0, (elapsed + 1) / (self.ramp_days + 1))

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "start": self.start.isoformat(), "ramp_days": self.ramp_days,
                "indicator": CHANGE_INDICATOR[self.kind], "direction": CHANGE_DIRECTION[self.kind]}


def _shift(pair: tuple[float, float], minutes: float) -> tuple[float, float]:
    return (pair[0] + minutes, pair[1])


def apply_change(life: Lifestyle, change: BehaviourChange, s: float) -> Lifestyle:
    """`life` with `change` applied at strength `s` (0..1)."""
    if s <= 0:
        return life
    if change.kind == "night_toilet_x2":
        return replace(life, night_toilet_rate=life.night_toilet_rate * (1 + s))
    if change.kind == "wake_later_90":
        late = 90 * s
        return replace(life, wake_weekday=_shift(life.wake_weekday, late), wake_weekend=_shift(life.wake_weekend, late),
                       wake_bounds=(life.wake_bounds[0], life.wake_bounds[1] + late))
    if change.kind == "kitchen_half":
        return replace(life, kitchen_share=life.kitchen_share * (1 - 0.5 * s))
    if change.kind == "outings_stop":
        keep = 1 - s
        return replace(life, morning_outing=life.morning_outing * keep, afternoon_outing=life.afternoon_outing * keep,
                       weekend_outing=life.weekend_outing * keep, day_out=life.day_out * keep)
    # more_bed
    return replace(life, bed_weekday=_shift(life.bed_weekday, -60 * s), bed_weekend=_shift(life.bed_weekend, -60 * s),
                   wake_weekday=_shift(life.wake_weekday, 30 * s), wake_weekend=_shift(life.wake_weekend, 30 * s),
                   wake_bounds=(life.wake_bounds[0], life.wake_bounds[1] + 30 * s))


def lifestyle_on(life: Lifestyle, changes: Sequence[BehaviourChange], day: date) -> Lifestyle:
    """The habits of local day `day` (the day's wake-up and the night after it)."""
    for change in changes:
        life = apply_change(life, change, change.strength(day))
    return life
