"""How a nurse reads the trends: indicator values, normal bands and changes in plain words.

The same words for `hometwin trends`, the dashboard's Trends page and the weekly e-mail. A change
is described, never interpreted: "since Tuesday 4 March the resident goes to the toilet 2 times
a night instead of once; that happened in no week of the last 8 weeks", not a diagnosis.
Durations, clock times and counts come from `domain/wording.py`.
"""

from __future__ import annotations

import math
from datetime import date

from hometwin.domain.change import Change
from hometwin.domain.indicators import SPECS, IndicatorSpec, Unit
from hometwin.domain.wording import clock_text, count_text, duration_text

# What the person does, per indicator: "{subject} {phrase}" with {after} and {before} as values.
PHRASES: dict[str, str] = {
    "night_toilet_visits": "goes to the toilet {after} a night instead of {before}",
    "bed_exits": "gets out of bed {after} a night instead of {before}",
    "time_in_bed": "spends {after} in bed at night instead of {before}",
    "getting_up": "gets up at {after} instead of {before}",
    "going_to_bed": "goes to bed at {after} instead of {before}",
    "time_out": "spends {after} a day out of home instead of {before}",
    "outings": "goes out {after} a day instead of {before}",
    "kitchen_visits": "goes into the kitchen {after} a day instead of {before}",
    "kitchen_time": "spends {after} a day in the kitchen instead of {before}",
    "room_transitions": "moves between rooms {after} a day instead of {before}",
    "bathroom_visit_minutes": "stays {after} in the bathroom per visit instead of {before}",
}
# When a count falls to none: "no longer goes out (usually once a day)".
STOPPED: dict[str, str] = {
    "night_toilet_visits": "no longer goes to the toilet at night (usually {before} a night)",
    "bed_exits": "no longer gets out of bed at night (usually {before} a night)",
    "outings": "no longer goes out (usually {before} a day)",
    "kitchen_visits": "no longer goes into the kitchen (usually {before} a day)",
}
DIRECTION = {"up": "more", "down": "less"}
CLOCK_DIRECTION = {"up": "later", "down": "earlier"}


def times_text(value: float) -> str:
    """'once', 'twice', '3 times', '1.5 times', 'not once' (counts of a thing done)."""
    if not math.isfinite(value):
        return "–"
    number = count_text(value)
    return {"0": "not once", "1": "once", "2": "twice"}.get(number, f"{number} times")


def value_text(spec: IndicatorSpec | str, value: float) -> str:
    """An indicator's value in its unit: '2.5', '42 min', '7 h 30 min', '07:15'; '–' when missing."""
    spec = SPECS[spec] if isinstance(spec, str) else spec
    if value is None or not math.isfinite(value):
        return "–"
    if spec.unit is Unit.CLOCK:
        return clock_text(value)
    if spec.unit is Unit.MINUTES:
        return duration_text(value * 60)
    if spec.unit is Unit.HOURS:
        return duration_text(value * 3600)
    return count_text(value)


def band_text(spec: IndicatorSpec | str, low: float, high: float) -> str:
    """The personal normal band: '0 – 2', '06:40 – 07:50'; 'learning' while it is not known yet."""
    spec = SPECS[spec] if isinstance(spec, str) else spec
    if not (math.isfinite(low) and math.isfinite(high)):
        return "learning"
    if spec.unit is not Unit.CLOCK:
        low = max(low, 0.0)
    return f"{value_text(spec, low)} – {value_text(spec, high)}"


def day_text(day: date) -> str:
    """'Tuesday 4 March'."""
    return f"{day:%A} {day.day} {day:%B}"


def _phrase_value(spec: IndicatorSpec, value: float) -> str:
    return times_text(value) if spec.unit is Unit.COUNT and spec.key != "room_transitions" else value_text(spec, value)


def unusual_text(change: Change) -> str:
    """'that happened in no week of the last 8 weeks' (or in 2 of them; '' without history)."""
    n = change.weeks_compared
    if n == 0:
        return ""
    weeks = "week" if n == 1 else f"{n} weeks"
    last = f"the last {weeks}" if n > 1 else "the week before"
    if change.weeks_as_extreme == 0:
        return f"that happened in no week of {last}"
    return f"that happened in {change.weeks_as_extreme} of {last}"


def change_summary(change: Change) -> str:
    """A short line for a table: 'more (once -> twice a night) since Tue 4 Mar'."""
    spec = change.spec
    # The word follows the levels shown next to it: the CUSUM side that fired can disagree with the
    # medians before and after (a noisy week), and "earlier: 06:45 -> 06:55" would read as a mistake.
    direction = change.direction
    if change.after != change.before:
        direction = "up" if change.after > change.before else "down"
    word = (CLOCK_DIRECTION if spec.unit is Unit.CLOCK else DIRECTION)[direction]
    return (f"{word}: {value_text(spec, change.before)} → {value_text(spec, change.after)} "
            f"since {change.since:%a %d %b}")


def change_sentence(change: Change, subject: str = "the resident") -> str:
    """The plain-language reading of a change a nurse needs: what, since when, how unusual."""
    spec = change.spec
    template = PHRASES.get(spec.key, "{after} instead of {before}")
    if spec.key in STOPPED and count_text(change.after) == "0":
        template = STOPPED[spec.key]
    phrase = template.format(
        after=_phrase_value(spec, change.after), before=_phrase_value(spec, change.before))
    unusual = unusual_text(change)
    sentence = f"Since {day_text(change.since)} {subject} {phrase}"
    return f"{sentence}; {unusual}." if unusual else f"{sentence}."
