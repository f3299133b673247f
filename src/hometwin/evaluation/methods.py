"""The methods the harness compares: HomeTwin's detectors and the three baselines.

Each method turns "the events seen so far and now" into one number, its *score*, and raises an
alarm when the score reaches its knob `theta`. Every score only grows while nothing happens (a
silence or a stay just gets longer), which is what lets the harness sweep `theta` exactly from one
replay: an episode alarms at `theta` iff its running score reaches `theta`.

HomeTwin's score is the largest margin (surprise - limit) over the alarming findings of
`hometwin.domain.detection.assess`, i.e. the very code `detect` runs; `theta = -sensitivity`, so the
default setting is `theta = 0`, and `detect` reports an alarm iff `score >= 0` (proved by a test).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import numpy as np

from hometwin.domain.detection import DetectionParams, assess
from hometwin.domain.detectors.presence import current_stay
from hometwin.domain.events import SensorEvent
from hometwin.domain.findings import TECHNICAL_KINDS, FindingKind, Severity
from hometwin.domain.stays import StayParams, Timeline

if TYPE_CHECKING:
    from hometwin.domain.model import BehaviourModel

ALARM_SEVERITIES = (Severity.EMERGENCY, Severity.WARNING)
DEFAULT_STAYS = StayParams()  # the baselines have no model: they read stays the default way
# A check's score, the "detector:room" of its top finding, and the largest margin among technical
# findings (-inf if none): a technical episode lasting days is counted once per day.
Scored = tuple[float, str, float]
NO_SCORE: Scored = (-math.inf, "", -math.inf)


class Method(Protocol):
    name: str
    label: str
    default_theta: float
    knob: str  # what theta means, for the table and the plot
    sweep: tuple[float, ...]  # theta values from conservative to eager

    def score(self, recent: Sequence[SensorEvent], now: datetime) -> Scored:
        """(score, "detector:room" of the top finding, score of the technical findings alone).
        `recent` ends at or before `now`."""
        ...

    def emergency_score(self, recent: Sequence[SensorEvent], now: datetime) -> float:
        """The score from the alarms that can notice the person's emergency (for injected emergencies)."""
        ...


def _frange(a: float, b: float, step: float) -> tuple[float, ...]:
    n = int(round((b - a) / step))
    return tuple(round(a + i * step, 6) for i in range(n + 1))


def _geometric(a: float, b: float, n: int) -> tuple[float, ...]:
    return tuple(round(float(x), 4) for x in np.geomspace(a, b, n))


@dataclass
class HomeTwinMethod:
    model: BehaviourModel
    params: DetectionParams
    name: str = "hometwin"
    label: str = "HomeTwin"
    default_theta: float = 0.0
    knob: str = "-sensitivity (surprise units, log10)"
    sweep: tuple[float, ...] = _frange(8.0, -3.0, -0.25)

    def __post_init__(self) -> None:
        # theta carries the sensitivity, so the scores are computed at sensitivity 0.
        self.params = replace(self.params, sensitivity=0.0)

    def score(self, recent: Sequence[SensorEvent], now: datetime) -> Scored:
        return self._score(recent, now, ())

    def emergency_score(self, recent: Sequence[SensorEvent], now: datetime) -> float:
        # A technical finding (dead sensors) says "check the installation", not "the person fell":
        # it is a false alarm on unmodified data, but it does not count as noticing an emergency.
        return self._score(recent, now, TECHNICAL_KINDS)[0]

    def _score(self, recent: Sequence[SensorEvent], now: datetime, skip: tuple[FindingKind, ...]) -> Scored:
        best, what, technical = -math.inf, "", -math.inf
        for a in assess(self.model, recent, now, self.params):
            if a.finding.severity not in ALARM_SEVERITIES or a.finding.kind in skip:
                continue
            if a.margin > best:
                best, what = a.margin, f"{a.finding.kind.value}:{a.finding.room or '-'}"
            if a.finding.kind in TECHNICAL_KINDS:
                technical = max(technical, a.margin)
        return best, what, technical


@dataclass
class TimerBaseline:
    """A fixed inactivity timer: alarm after `theta` hours without any event."""

    name: str = "timer_3h"
    label: str = "3 h timer"
    default_theta: float = 3.0
    knob: str = "hours without any event"
    sweep: tuple[float, ...] = (24.0, 18.0, *_frange(12.0, 0.5, -0.5))

    def emergency_score(self, recent: Sequence[SensorEvent], now: datetime) -> float:
        return self.score(recent, now)[0]

    def score(self, recent: Sequence[SensorEvent], now: datetime) -> Scored:
        if not recent:
            return NO_SCORE
        return (now - recent[-1].time).total_seconds() / 3600.0, f"timer:{recent[-1].room}", -math.inf


@dataclass
class StayBaseline:
    """Per-room stay duration without seasonality: mean + theta * sd, or theta * mean.

    Stays come from the same `extract_timeline` the model uses; the current stay is the room of the
    last event since the person entered it (as the prolonged-stay detector sees it).
    """

    mean: dict[str, float]
    sd: dict[str, float]
    use_sd: bool
    name: str = ""
    label: str = ""
    default_theta: float = 3.0
    knob: str = ""
    sweep: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.use_sd:
            self.name, self.label, self.knob = "mean_3sd", "room mean + 3 sd", "k in mean + k sd"
            self.sweep = self.sweep or _geometric(1000.0, 0.5, 40)
        else:
            self.name, self.label, self.knob = "mean_x3", "3 x room mean", "multiple of the room mean"
            self.sweep = self.sweep or _geometric(1000.0, 1.0, 40)

    @classmethod
    def train(cls, timeline: Timeline, use_sd: bool) -> StayBaseline:
        by_room: dict[str, list[float]] = {}
        for s in timeline.stays:
            by_room.setdefault(s.room, []).append(s.duration.total_seconds())
        mean = {r: statistics.fmean(v) for r, v in by_room.items()}
        sd = {r: statistics.pstdev(v) if len(v) > 1 else mean[r] for r, v in by_room.items()}
        return cls(mean=mean, sd=sd, use_sd=use_sd)

    def emergency_score(self, recent: Sequence[SensorEvent], now: datetime) -> float:
        return self.score(recent, now)[0]

    def score(self, recent: Sequence[SensorEvent], now: datetime) -> Scored:
        if not recent:
            return NO_SCORE
        room, start = current_stay(recent, DEFAULT_STAYS)
        if room not in self.mean:
            return NO_SCORE
        d = (now - start).total_seconds()
        m = max(self.mean[room], 1.0)
        if self.use_sd:
            return (d - m) / max(self.sd[room], 1.0), f"stay:{room}", -math.inf
        return d / m, f"stay:{room}", -math.inf
