"""Unusual silence: no sign of the person anywhere for far longer than is normal after the last one.

The silence runs from the last *presence* event (a motion sensor timing out or an appliance
switching off is not the person). The silence model (domain/silence.py) knows how long the home
normally stays quiet after that event: its sensor, room, where the person came from, whether they
lie in bed, and the time of day.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from hometwin.domain.detectors.base import Assessment, Situation, knob, score_only
from hometwin.domain.detectors.tails import percentile_of, plus
from hometwin.domain.findings import Finding, FindingKind, Severity
from hometwin.domain.wording import duration_text


@dataclass(frozen=True)
class UnusualSilenceParams:
    silence_limit: float = knob(3.0, "Unusual silence fires at this surprise.")
    silence_floor_min: float = knob(20.0, "No silence alarm before this many minutes.", ge=0)


class UnusualSilence:
    name = "unusual_silence"
    kind = FindingKind.UNUSUAL_SILENCE
    params = UnusualSilenceParams

    def assess(self, situation: Situation) -> list[Assessment]:
        if not situation.at_home:
            return []
        now, p = situation.now, situation.params
        silence = situation.model.silence
        ctx = situation.last_presence
        seconds = (now - ctx.time).total_seconds()
        if seconds <= 0:
            return []
        score = silence.surprise(ctx, seconds)
        limit = p.effective_limit(p.silence_limit) + situation.shift(self.name)
        blocked = seconds < p.silence_floor_min * 60
        room = situation.stay[0]  # where the person is (presence), stable from check to check
        if situation.scores_only:
            return [score_only(self.kind, Severity.EMERGENCY, room, ctx.time, score, limit, blocked)]
        typical = silence.quantile(ctx, 0.5)
        unusual = max(silence.seconds_at_surprise(ctx, limit), p.silence_floor_min * 60)
        local = ctx.time.astimezone(ZoneInfo(silence.tz))
        rest = {"bed": " in bed", "seat": " while seated"}.get(ctx.rest, "")
        message = (f"No sensor event for {duration_text(seconds)}, since the {room} at "
                   f"{local:%H:%M}; after activity in the {ctx.room}{rest} around {local:%H}:00 the home is "
                   f"usually quiet for {duration_text(typical)}, and {duration_text(unusual)} is already "
                   "unusual.")
        finding = Finding(FindingKind.UNUSUAL_SILENCE, Severity.EMERGENCY, room, ctx.time,
                          observed=seconds, expected=typical, threshold=unusual,
                          percentile=percentile_of(score), message=message)
        return [Assessment(finding, score, limit, plus(ctx.time, unusual), blocked)]
