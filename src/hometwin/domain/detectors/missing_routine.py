"""Missing routine: no activity yet today, long after the usual first activity of that weekday."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hometwin.domain.detectors.base import Assessment, Situation, knob
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
        local_now = now.astimezone(situation.zone)
        # the model's definition of the day's first activity (ModelParams.day_start_hour)
        day_start = local_now.replace(hour=model.params.day_start_hour, minute=0, second=0, microsecond=0)
        if local_now < day_start or situation.last.time >= day_start:
            return []  # before the day starts, or the day already had activity
        dist = model.first_activity(now)
        if dist.n <= 0:
            return []
        midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
        minutes = (local_now - midnight).total_seconds() / 60
        limit = p.effective_limit(p.routine_limit)
        score = tail_score(dist, minutes, p.few_samples, clock=True)
        typical = float(dist.median)
        unusual = value_at(dist, limit, p.few_samples, clock=True) if score >= limit else math.nan
        day = WEEKDAYS[local_now.weekday()]
        message = (f"No activity yet today at {local_now:%H:%M}; on {day}s the day usually starts at "
                   f"{clock_text(typical)}, and no activity by {clock_text(unusual)} is already unusual.")
        finding = Finding(FindingKind.MISSING_ROUTINE, Severity.WARNING, None, day_start.astimezone(now.tzinfo),
                          observed=minutes, expected=typical, threshold=unusual,
                          percentile=percentile_of(score), message=message)
        return [Assessment(finding, score, limit, plus(midnight, unusual * 60))]

