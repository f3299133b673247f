"""How a caregiver reads what the twin found: the one place where findings become words.

The detectors' sentences, the e-mails and the dashboard all take their durations, clock times,
counts and the names of the finding kinds from here, so the same evidence never reads two ways.
Each finding kind states how its numbers read: a stay, a silence or an outing is a duration, a
missing routine is a time of day (its numbers are minutes after local midnight), an unusual
frequency is a number of visits.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from hometwin.domain.findings import FindingKind

MINUTES_PER_DAY = 24 * 60


def duration_text(seconds: float) -> str:
    """'42 s', '52 min', '1 h 10 min', '3 h', '2 days 3 h'; '–' when unknown."""
    if not math.isfinite(seconds):
        return "–"
    seconds = max(0.0, seconds)
    if seconds < 59.5:
        return f"{int(round(seconds))} s"
    minutes = int(round(seconds / 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h" if hours else f"{days} days"


def clock_text(minutes_after_midnight: float) -> str:
    """'07:05' for 425 minutes after midnight, to the nearest minute; 1440 and more wrap to the
    next day ('00:10'); '–' when unknown."""
    if not math.isfinite(minutes_after_midnight):
        return "–"
    minutes = int(round(minutes_after_midnight)) % MINUTES_PER_DAY
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def count_text(value: float) -> str:
    """A count without false precision: '8', '1.1', '12' ('–' when unknown)."""
    if not math.isfinite(value):
        return "–"
    if abs(value) >= 10:
        return f"{value:.0f}"
    return f"{value:.1f}".removesuffix(".0")


def visits_text(value: float) -> str:
    """'1 visit', '1.5 visits', '8 visits'."""
    number = count_text(value)
    return f"{number} visit" if number == "1" else f"{number} visits"


@dataclass(frozen=True, slots=True)
class FindingWording:
    """How one finding kind reads.

    `label` names the kind for a caregiver (sentence case; a subject line lowers its first letter).
    `value` writes the finding's observed, expected and threshold numbers. `beyond` joins the
    threshold: "alert above 40 min" for amounts, "alert after 09:14" for clock times.
    """

    label: str
    value: Callable[[float], str]
    beyond: str = "above"
    # A technical finding (a dead or stuck sensor) has no "usual" value or percentile to show: it is
    # reported after a plain limit, and "usually 0 s, at the 100th percentile" would only puzzle.
    compared: bool = True


FINDING_WORDING: dict[FindingKind, FindingWording] = {
    FindingKind.PROLONGED_STAY: FindingWording("Unusually long stay", duration_text),
    FindingKind.UNUSUAL_SILENCE: FindingWording("Unusual silence", duration_text),
    FindingKind.MISSING_ROUTINE: FindingWording("Missing routine", clock_text, beyond="after"),
    FindingKind.NOT_BACK_HOME: FindingWording("Not back home", duration_text),
    FindingKind.UNUSUAL_FREQUENCY: FindingWording("Unusual number of visits", visits_text),
    FindingKind.SENSOR_DATA_MISSING: FindingWording("Sensor data missing", duration_text, compared=False),
    FindingKind.SENSOR_STUCK: FindingWording("Sensor stuck", duration_text, compared=False),
}


def finding_wording(kind: FindingKind | str) -> FindingWording:
    """The wording of `kind`; a kind this version does not know (say, in an old stored alert)
    still reads: its name in words, its numbers as durations."""
    try:
        return FINDING_WORDING[FindingKind(kind)]
    except (ValueError, KeyError):
        return FindingWording(str(kind).replace("_", " ").capitalize(), duration_text)
