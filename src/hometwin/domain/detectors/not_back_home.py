"""Not back home: the person left by the front door and the outing lasts far longer than outings
starting at that weekday and hour. While the person is out, the in-home detectors stay silent."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hometwin.domain.detectors.base import Assessment, Situation, knob
from hometwin.domain.detectors.phrases import when_text
from hometwin.domain.detectors.tails import percentile_of, plus, tail_score, value_at
from hometwin.domain.findings import Finding, FindingKind, Severity
from hometwin.domain.wording import duration_text


@dataclass(frozen=True)
class NotBackHomeParams:
    away_limit: float = knob(2.5, "Not back home fires at this surprise.")
    away_floor_min: float = knob(180.0, "No not-back-home warning before this many minutes.", ge=0)


class NotBackHome:
    name = "not_back_home"
    kind = FindingKind.NOT_BACK_HOME
    params = NotBackHomeParams

    def assess(self, situation: Situation) -> list[Assessment]:
        door = situation.outing
        if door is None:
            return []
        model, p = situation.model, situation.params
        seconds = (situation.now - door.time).total_seconds()
        if seconds <= 0:
            return []
        # Unusual for outings begun at this hour and for this person's outings at all: the hour's
        # few outings rarely include the day out that the person makes now and then.
        dist, any_time = model.away_duration(door.time), model.away_duration_any_time()
        limit = p.effective_limit(p.away_limit) + situation.shift(self.name)
        score = min(tail_score(d, seconds, p.few_samples) for d in (dist, any_time) if d.n > 0)
        typical = float(dist.median)
        floor = p.away_floor_min * 60
        unusual = (max(*(value_at(d, limit, p.few_samples) for d in (dist, any_time) if d.n > 0), floor)
                   if score >= limit else math.nan)
        usual = f"{when_text(door.time, model.tz, dist.level)} an outing usually lasts {duration_text(typical)}"
        message = (f"Away (or silent after the {door.room} door) for {duration_text(seconds)}; {usual}, "
                   f"and {duration_text(unusual)} is already unusual.")
        finding = Finding(FindingKind.NOT_BACK_HOME, Severity.WARNING, door.room, door.time, observed=seconds,
                          expected=typical, threshold=unusual, percentile=percentile_of(score),
                          message=message)
        return [Assessment(finding, score, limit, plus(door.time, unusual), seconds < floor)]
