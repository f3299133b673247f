"""Pieces of the detectors' sentences that several detectors share (candidates for domain/wording.py)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def when_text(at: datetime, tz: str, level: str) -> str:
    """Which learned cell a distribution came from, as words ("on Tuesdays around 09:00")."""
    local = at.astimezone(ZoneInfo(tz))
    hour = f"around {local:%H}:00"
    if level == "cell":
        return f"on {WEEKDAYS[local.weekday()]}s {hour}"
    if level == "daytype":
        return f"on {'weekends' if local.weekday() >= 5 else 'weekdays'} {hour}"
    if level == "hour":
        return f"on any day {hour}"
    if level == "room":
        return "at any time of day"
    return "in this home"

