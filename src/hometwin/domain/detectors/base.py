"""What every detector shares: the Protocol, what it sees at a check, what it returns.

A detector (`Detector`) has a `name`, the `kind` of finding it reports, its `params` (a frozen
dataclass of its knobs, declared with `knob`; they become fields of `DetectionParams`, settings
`HOMETWIN_DETECT_*` and rows of docs/configuration.md) and `assess(situation)`, which returns its
scores at one check, firing or not. domain/detection.py runs every registered detector on one
`Situation` and applies the rules between them (one alert per incident).

Pure: no I/O, no clock; `now` is part of the situation.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from hometwin.domain.detectors.presence import current_stay, leaving
from hometwin.domain.events import SensorEvent
from hometwin.domain.findings import Finding, FindingKind, Severity
from hometwin.domain.silence import SilenceContext, is_presence, is_sleeping_room, presence_contexts

if TYPE_CHECKING:
    from hometwin.domain.detectors import DetectionParams
    from hometwin.domain.model import BehaviourModel


def knob(default: float | dict[str, float], doc: str, *, ge: float | None = None, gt: float | None = None,
         le: float | None = None, env: str | None = None, pair: str = "name=value") -> Any:
    """A detector parameter with what the settings need: its meaning and bounds.

    `doc` is the settings' description; `ge`/`gt`/`le` bound the environment value (a dict's values);
    `env` replaces the field name in `HOMETWIN_DETECT_<NAME>`; a dict is read from the environment
    as comma-separated `pair`s (e.g. "room=minutes").
    """
    meta = {"doc": doc, "bounds": {k: v for k, v in (("ge", ge), ("gt", gt), ("le", le)) if v is not None},
            "env": env, "pair": pair}
    if isinstance(default, dict):
        frozen = dict(default)
        return field(default_factory=lambda: dict(frozen), hash=False, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class SharedParams:
    """Knobs several detectors read."""

    few_samples: float = knob(10.0, "Widen the spread of a cell with n samples by sqrt(1 + this / n).", ge=0)
    sensitivity: float = knob(0.0, "Lowers every limit by this much: > 0 eager, < 0 conservative.")

    def effective_limit(self, limit: float) -> float:
        """A detector's limit moved by the sensitivity (the evaluation sweeps it)."""
        return limit - self.sensitivity


@dataclass(frozen=True, slots=True)
class Assessment:
    """One detector's score at one check. `fires` when `score >= limit`."""

    finding: Finding
    score: float
    limit: float
    crossed_at: datetime | None = None  # when the score reaches the limit if nothing happens
    blocked: bool = False  # below the detector's floor: never fires, whatever the sensitivity
    suppressed: bool = False  # another finding already reports the same incident
    # While this assessment fires, findings of these kinds say nothing (set by the pipeline as `blocked`).
    blocks: tuple[FindingKind, ...] = ()

    @property
    def fires(self) -> bool:
        return not self.blocked and not self.suppressed and self.score >= self.limit

    @property
    def margin(self) -> float:
        """score - limit (ignoring suppression); -inf when blocked. It fires iff margin >= 0."""
        return -math.inf if self.blocked else self.score - self.limit


def score_only(kind: FindingKind, severity: Severity, room: str | None, started_at: datetime, score: float,
               limit: float, blocked: bool = False, blocks: tuple[FindingKind, ...] = ()) -> Assessment:
    """An assessment for a `Situation.scores_only` caller: the score, limit and blocking a full one
    has, a finding without words or thresholds (nan), and no crossing time (which only picks the
    incident that suppresses the others, and suppression changes no margin)."""
    finding = Finding(kind, severity, room, started_at, observed=math.nan, expected=math.nan, threshold=math.nan,
                      percentile=math.nan, message="")
    return Assessment(finding, score, limit, None, blocked, blocks=blocks)


CONTEXT_EVENTS = 400  # the recent events whose silence context a check computes at most


class Situation:
    """What every detector sees at one check, with the facts several of them need, computed once.

    `recent` are the events up to `now` (sorted); stays and presence follow the model's
    `StayParams`, night hours and day start its `ModelParams`. `scores_only`: the caller reads only
    each assessment's score, limit, blocking and the finding's kind and severity (the calibration's
    replay), so a detector may skip the words and the thresholds it would compute for people
    (`score_only`).
    """

    def __init__(self, model: BehaviourModel, recent: Sequence[SensorEvent], now: datetime,
                 params: DetectionParams, source_error_since: datetime | None = None, *,
                 scores_only: bool = False) -> None:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self.model, self.recent, self.now, self.params = model, recent, now, params
        self.source_error_since = source_error_since
        self.scores_only = scores_only

    @classmethod
    def at(cls, model: BehaviourModel, events: Sequence[SensorEvent], now: datetime, params: DetectionParams,
           source_error_since: datetime | None = None, *, scores_only: bool = False) -> Situation:
        """The situation at `now`: events after `now` are ignored."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        return cls(model, _up_to(events, now), now, params, source_error_since, scores_only=scores_only)

    @property
    def last(self) -> SensorEvent:
        return self.recent[-1]

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.model.tz)

    @cached_property
    def stay(self) -> tuple[str, datetime]:
        """(room, since when) of the current stay; see `presence.current_stay`."""
        return current_stay(self.recent, self.model.params.stays)

    @cached_property
    def contexts(self) -> list[SilenceContext | None]:
        """Per recent event: its silence context when it shows the person (presence), else None.

        Only the tail the detectors judge is computed (the current stay's last `CONTEXT_EVENTS`
        events, and the last presence event): the rest stays None, which keeps a check cheap."""
        recent, silence = self.recent, self.model.silence
        start = bisect_left(recent, self.stay[1], key=attrgetter("time"))
        start = min(max(start, len(recent) - CONTEXT_EVENTS), len(recent) - 1)
        stays = self.model.params.stays
        while start > 0 and not is_presence(recent[start], stays):
            start -= 1  # down to a presence event: the silence runs from there
        return presence_contexts(recent, stays, silence.params.rest_max_hours, start, silence.mat_sensors)

    @cached_property
    def stay_contexts(self) -> list[SilenceContext | None]:
        """`contexts` from the current stay's first event on: what is judged about the stay (the
        events before it, mostly None there, need not be walked through at every check)."""
        return self.contexts[bisect_left(self.recent, self.stay[1], key=attrgetter("time")):]

    @cached_property
    def last_presence(self) -> SilenceContext:
        """The last sign of the person (the last event when none shows presence): silences start there."""
        return next((c for c in reversed(self.contexts) if c is not None), None) or SilenceContext(self.last)

    @cached_property
    def last_waking(self) -> datetime | None:
        """The last sign of the person outside the sleeping rooms (any room, in a home whose sensors
        are all in bedrooms or none is): what says the day has started (domain/rest.py)."""
        rooms = self.model.rooms
        split = any(is_sleeping_room(r) for r in rooms) and not all(is_sleeping_room(r) for r in rooms)
        stays = self.model.params.stays
        for e in reversed(self.recent):
            if is_presence(e, stays) and not (split and is_sleeping_room(e.room)):
                return e.time
        return None

    @cached_property
    def outing(self) -> SensorEvent | None:
        """The door the person left by, when the events say so and the model knows this home's outings.

        (A home whose door never showed an outing in training is watched for silence instead: the
        silence model knows how long it is quiet after that door.)"""
        if not self.recent:
            return None
        door = leaving(self.recent, self.model.params.stays)
        return door if door is not None and self.model.away_duration(door.time).n > 0 else None

    def shift(self, detector: str) -> float:
        """How much this home's calibration moves `detector`'s limit (0 for an uncalibrated model)."""
        calibration = self.model.calibration
        return calibration.shifts.get(detector, 0.0) if calibration is not None else 0.0

    @property
    def at_home(self) -> bool:
        """There are events and the person did not go out: what the in-home detectors watch."""
        return bool(self.recent) and self.outing is None


class Detector(Protocol):
    """One detector. Register an instance in `hometwin.domain.detectors.DETECTORS`."""

    name: str  # unique, snake_case
    kind: FindingKind  # the kind of every finding it reports
    params: type[Any]  # its knobs: a frozen dataclass of `knob` fields, a base of DetectionParams

    def assess(self, situation: Situation) -> list[Assessment]:
        """Its scores at `situation.now`, firing or not; [] when it has nothing to say.

        While no event arrives, an incident's score never falls and a reported incident keeps being
        reported or is gone for good (tests/unit/test_detectors.py checks every registered detector)."""
        ...


def _up_to(events: Sequence[SensorEvent], now: datetime) -> Sequence[SensorEvent]:
    if not events or events[-1].time <= now:
        return events
    lo, hi = 0, len(events)
    while lo < hi:
        mid = (lo + hi) // 2
        if events[mid].time <= now:
            lo = mid + 1
        else:
            hi = mid
    return events[:lo]
