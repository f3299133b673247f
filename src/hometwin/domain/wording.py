"""How a caregiver reads a duration: one wording for the detectors' sentences, the e-mails and the
dashboard, so the same minutes never read two ways."""

from __future__ import annotations

import math


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
