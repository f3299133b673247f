"""Emergency detection: from the learned model, the recent events and `now` to findings.

Every detector (one module each in domain/detectors/, registered in `DETECTORS`) turns its
observation into a *surprise*, -log10 of the probability that the learned behaviour produces
something at least this extreme (2 = 1 in 100, 4 = 1 in 10,000), and fires when the surprise reaches
its limit and the observation passes a plain floor (minutes). Using the tail probability of a
heavy-tailed distribution makes a threshold follow both the magnitude and the variability of the
behaviour: a room where stays vary a lot gets a late threshold, a room with regular short visits an
early one. The surprise of every detector only grows while nothing happens, so the evaluation can
sweep the limits exactly from each episode's maximum (see docs/detection.md).

This module is the pipeline: `assess` runs every detector and applies the rules between them;
`detect` (what the monitoring runs) keeps the findings whose score reached the limit. The
evaluation uses `assess` and a test proves `detect(...) == [a.finding for a in assess(...) if a.fires]`.

Pure: no I/O, no clock; `now` is an argument.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from hometwin.domain.detectors import DETECTORS, Assessment, DetectionParams, Detector, Situation
from hometwin.domain.events import SensorEvent
from hometwin.domain.findings import PERSON_KINDS, Finding

if TYPE_CHECKING:
    from hometwin.domain.model import BehaviourModel

__all__ = ["PERSON_KINDS", "RECENT_WINDOW", "Assessment", "DetectionParams", "assess", "detect"]

# How much history the monitoring reads before `now`: a night, the day before, and a margin, so the
# silence and daily-frequency detectors see the events they reason about.
RECENT_WINDOW = timedelta(hours=36)


def detect(model: BehaviourModel, events: Sequence[SensorEvent], now: datetime,
           params: DetectionParams = DetectionParams(), *,
           source_error_since: datetime | None = None) -> list[Finding]:
    """The findings at `now`: what the monitoring reports. `events` are the recent events, sorted."""
    return [a.finding for a in assess(model, events, now, params, source_error_since=source_error_since)
            if a.fires]


def assess(model: BehaviourModel, events: Sequence[SensorEvent], now: datetime,
           params: DetectionParams = DetectionParams(), *,
           source_error_since: datetime | None = None,
           detectors: Sequence[Detector] = DETECTORS, scores_only: bool = False) -> list[Assessment]:
    """Every detector's score at `now`, firing or not. Events after `now` are ignored. (`detectors`:
    a subset, for a caller that needs only some scores, e.g. the calibration's replay; `scores_only`:
    for a caller that reads only the scores, limits, blocking and the findings' kind and severity,
    which are then the same, while findings may come without words: `Situation.scores_only`.)"""
    situation = Situation.at(model, events, now, params, source_error_since, scores_only=scores_only)
    out = [a for detector in detectors for a in detector.assess(situation)]
    return _one_person_finding(_blocked(out))


def _blocked(items: list[Assessment]) -> list[Assessment]:
    """A firing assessment that says other findings mean nothing blocks them.

    (Most sensors dead: a "stay" in the room whose sensor still fires is the outage, not someone
    lying still.)"""
    kinds = {k for a in items if a.fires for k in a.blocks}
    if not kinds:
        return items
    return [replace(a, blocked=True) if a.finding.kind in kinds else a for a in items]


def _one_person_finding(items: list[Assessment]) -> list[Assessment]:
    """A fall shows as a silence, a long stay and a missing routine at once: keep one alert.

    The person-level finding whose threshold was crossed first (the smallest `threshold` moment)
    wins, so the incident key stays the same from check to check; the others are kept non-firing.
    """
    firing = [a for a in items if a.fires and a.finding.kind in PERSON_KINDS]
    if len(firing) < 2:
        return items
    first = min(firing, key=_crossed_at)
    return [a if a is first or a not in firing else replace(a, suppressed=True) for a in items]


def _crossed_at(a: Assessment) -> tuple[datetime, int]:
    return a.crossed_at or a.finding.started_at, PERSON_KINDS.index(a.finding.kind)
