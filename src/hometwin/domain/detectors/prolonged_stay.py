"""Prolonged stay: the current stay lasts far longer than stays in that room at that weekday and hour,
or the pauses between movements within it add up to far more than usual."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from hometwin.domain.detectors.base import Assessment, Situation, knob, score_only
from hometwin.domain.detectors.phrases import when_text
from hometwin.domain.detectors.tails import percentile_of, plus, tail_score, value_at
from hometwin.domain.findings import Finding, FindingKind, Severity
from hometwin.domain.wording import duration_text

if TYPE_CHECKING:
    from hometwin.domain.silence import SilenceContext, SilenceModel

QUIET_EVENTS = 120  # the pauses of at most this many events of the stay count (bounds the work per check)


@dataclass(frozen=True)
class ProlongedStayParams:
    stay_limit: float = knob(3.5, "Prolonged stay fires at this surprise.")
    stay_floor_min: float = knob(30.0, "No prolonged-stay alarm before this many minutes.", ge=0)
    room_floor_min: dict[str, float] = knob(
        {}, "Per-room stay floors in minutes, e.g. 'bathroom=40,bedroom=600'.", ge=0, env="room_floors",
        pair="room=minutes")
    stay_gap_slack: float = knob(
        2.0, "Pauses within a stay add their silence surprise above this (0: off).", ge=0)


class ProlongedStay:
    name = "prolonged_stay"
    kind = FindingKind.PROLONGED_STAY
    params = ProlongedStayParams

    def assess(self, situation: Situation) -> list[Assessment]:
        if not situation.at_home:
            return []
        model, now, p = situation.model, situation.now, situation.params
        room, start = situation.stay
        seconds = (now - start).total_seconds()
        if seconds <= 0 or model.canonical_room(room) is None:
            return []
        limit = p.effective_limit(p.stay_limit) + situation.shift(self.name)
        floor = p.room_floor_min.get(room, p.stay_floor_min) * 60
        if situation.scores_only:
            quiet = quiet_evidence(model.silence, situation.stay_contexts, start, now, p.stay_gap_slack, limit)[0]
            score = max(_length_score(situation, room, start, seconds), quiet)
            return [score_only(self.kind, Severity.EMERGENCY, room, start, score, limit, seconds < floor)]
        long_score, typical, long_at, when = _length(situation, room, start, seconds, limit)
        quiet, quiet_at = quiet_evidence(model.silence, situation.stay_contexts, start, now, p.stay_gap_slack, limit)
        score = max(long_score, quiet)
        # From when on the stay is unusual: the earlier of the two crossings, fixed once crossed (so
        # the incident keeps its place among the person-level findings from check to check).
        crossings = [max(long_at, floor)] if long_score >= limit else []
        if quiet_at is not None:
            crossings.append(max((quiet_at - start).total_seconds(), floor))
        unusual = min(crossings) if score >= limit and crossings else math.nan
        message = (f"In the {room} for {duration_text(seconds)}; {when} a visit usually lasts "
                   f"{duration_text(typical)}, and {duration_text(unusual)} is already unusual.")
        if quiet > long_score and score >= limit:
            message = (f"In the {room} for {duration_text(seconds)} with only rare movement: the pauses "
                       f"between movements there are far longer than usual; {when} a visit usually lasts "
                       f"{duration_text(typical)}.")
        finding = Finding(FindingKind.PROLONGED_STAY, Severity.EMERGENCY, room, start, observed=seconds,
                          expected=typical, threshold=unusual, percentile=percentile_of(score), message=message)
        return [Assessment(finding, score, limit, plus(start, unusual), seconds < floor)]


def _length(situation: Situation, room: str, start: datetime, seconds: float, limit: float
            ) -> tuple[float, float, float, str]:
    """How unusual the stay's length is: (surprise, usual length, length at the limit, "when" words).

    From the stay model (this room, the room before, the time of day: an evening on the sofa or a
    night in bed is judged against this home's evenings and nights); a model without one (trained
    before it existed) falls back to the pooled (room, weekday, hour) distribution."""
    model, p = situation.model, situation.params
    local = start.astimezone(situation.zone)
    stays = model.stay_hazard
    if stays is not None:
        prev = _room_before(situation, start)
        return (stays.surprise(room, prev, start, seconds), stays.quantile(room, prev, start, 0.5),
                stays.seconds_at_surprise(room, prev, start, limit), f"when it starts around {local:%H}:00")
    dist = model.stay_duration(room, start)
    return (tail_score(dist, seconds, p.few_samples), float(dist.median), value_at(dist, limit, p.few_samples),
            when_text(start, model.tz, dist.level))


def _length_score(situation: Situation, room: str, start: datetime, seconds: float) -> float:
    """The first part of `_length` alone: how unusual the stay's length is (for `scores_only`)."""
    model = situation.model
    if model.stay_hazard is not None:
        return model.stay_hazard.surprise(room, _room_before(situation, start), start, seconds)
    return tail_score(model.stay_duration(room, start), seconds, situation.params.few_samples)


def _room_before(situation: Situation, start: datetime) -> str:
    """Where the person came from into the stay that began at `start` ("" when unknown)."""
    first = next((c for c in situation.stay_contexts if c is not None and c.time >= start), None)
    return first.prev_room if first is not None else ""


def quiet_evidence(silence: SilenceModel, contexts: Sequence[SilenceContext | None], start: datetime,
                   now: datetime, slack: float, limit: float = math.inf) -> tuple[float, datetime | None]:
    """Accumulated surprise of the pauses within the current stay (a CUSUM of silence surprises), and
    the moment it reached `limit` (None if it has not).

    Someone stuck in a room still moves a little now and then: each pause alone may be only mildly
    unusual, but many in a row are not. A pause runs from one sign of presence to the next (a motion
    sensor timing out is not the person) and contributes its surprise above `slack`, the ongoing
    pause included, so the sum only grows while the stay goes on. A pause the person ended in the
    room is judged with that knowledge (`SilenceModel.pause_surprise`: where a silence of 15 minutes
    after the bathroom is ordinary because it ends in bed, one that ends back in the bathroom is
    not); the ongoing one may still end elsewhere, so it is judged as a silence. The crossing
    moment depends only on the pauses before it, so later checks (and later movements) do not move
    it: a pause that crossed while it went on keeps that moment once it ends. The last
    `QUIET_EVENTS` presence events of the stay are considered, to bound the work per check.
    """
    if slack <= 0:
        return 0.0, None
    stay: list[SilenceContext] = []
    for c in reversed(contexts):
        if c is None:
            continue
        if c.time < start or len(stay) >= QUIET_EVENTS:
            break
        stay.append(c)
    stay.reverse()
    total, crossed = 0.0, None
    for a, b in zip(stay, [*stay[1:], None], strict=True):
        if b is None:
            gain = max(0.0, silence.surprise(a, (now - a.time).total_seconds()) - slack)
            if crossed is None and total + gain >= limit:
                crossed = a.time + timedelta(seconds=silence.seconds_at_surprise(a, limit - total + slack))
        else:
            # That the pause ended in the room is known when it ended: it counts from then on, unless
            # it crossed already as the ongoing silence it was (the moment the checks then reported).
            seconds = (b.time - a.time).total_seconds()
            gain = max(0.0, silence.pause_surprise(a, seconds) - slack)
            if crossed is None and total + gain >= limit:
                early = silence.seconds_at_surprise(a, limit - total + slack)
                crossed = a.time + timedelta(seconds=early) if early <= seconds else b.time
        total += gain
    return total, crossed
