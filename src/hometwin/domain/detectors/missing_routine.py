"""Missing routine: no activity yet today, long after the usual first activity of that weekday.

The day starts with the first sign of the person outside the sleeping rooms after the night's rest
(domain/rest.py), as the model learned it: a bed mat or a bedroom sensor during sleep, a motion
sensor timing out or an appliance switching off is not the day's activity. The detector watches
from the earliest usual wake-up (the learned 1st percentile less an hour, never before the model's
`day_start_hour`), so a toilet visit in the small hours does not count as getting up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from hometwin.domain.detectors.base import Assessment, Situation, knob, score_only
from hometwin.domain.detectors.phrases import WEEKDAYS
from hometwin.domain.detectors.tails import percentile_of, plus, tail_score, value_at
from hometwin.domain.findings import Finding, FindingKind, Severity
from hometwin.domain.wording import clock_text


@dataclass(frozen=True)
class MissingRoutineParams:
    routine_limit: float = knob(2.0, "Missing routine (no activity yet today) fires at this surprise.")


class MissingRoutine:
    name = "missing_routine"
    kind = FindingKind.MISSING_ROUTINE
    params = MissingRoutineParams

    def assess(self, situation: Situation) -> list[Assessment]:
        if not situation.at_home:
            return []
        model, now, p = situation.model, situation.now, situation.params
        dist = model.first_activity(now)
        if dist.n <= 0:
            return []
        local_now = now.astimezone(situation.zone)
        midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
        earliest = max(model.params.day_start_hour * 60.0, float(dist.quantile(0.01)) - 60.0)
        day_start = midnight + timedelta(minutes=min(earliest, 12 * 60.0))
        waking = situation.last_waking
        if local_now < day_start or (waking is not None and waking >= day_start):
            return []  # before the day can start, or the day already had activity
        minutes = (local_now - midnight).total_seconds() / 60
        limit = p.effective_limit(p.routine_limit) + situation.shift(self.name)
        score = tail_score(dist, minutes, p.few_samples, clock=True)
        if situation.scores_only:
            return [score_only(self.kind, Severity.WARNING, None, day_start.astimezone(now.tzinfo), score, limit)]
        typical = float(dist.median)
        unusual = value_at(dist, limit, p.few_samples, clock=True) if score >= limit else math.nan
        day = WEEKDAYS[local_now.weekday()]
        message = (f"No activity yet today at {local_now:%H:%M}; on {day}s the day usually starts at "
                   f"{clock_text(typical)}, and no activity by {clock_text(unusual)} is already unusual.")
        finding = Finding(FindingKind.MISSING_ROUTINE, Severity.WARNING, None, day_start.astimezone(now.tzinfo),
                          observed=minutes, expected=typical, threshold=unusual,
                          percentile=percentile_of(score), message=message)
        return [Assessment(finding, score, limit, plus(midnight, unusual * 60))]

