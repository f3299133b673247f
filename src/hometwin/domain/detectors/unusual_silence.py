"""Unusual silence: no event anywhere for far longer than is normal after the last event.

The silence model (domain/silence.py) knows, per context of the last event (sensor, on/off, room,
local hour), how long the home normally stays quiet afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from hometwin.domain.detectors.base import Assessment, Situation, knob
from hometwin.domain.detectors.presence import is_present
from hometwin.domain.detectors.tails import percentile_of, plus
from hometwin.domain.findings import Finding, FindingKind, Severity
from hometwin.domain.wording import duration_text

# A switch turning off this soon after the last sign of presence does not replace it as the silence's
# context (interval data closes a flush interval after the bed mat switched on).
BURST = timedelta(seconds=60)


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
        recent, now, p = situation.recent, situation.now, situation.params
        silence, stays = situation.model.silence, situation.model.params.stays
        last = recent[-1]
        seconds = (now - last.time).total_seconds()
        if seconds <= 0:
            return []
        score, ctx = silence.surprise(last, seconds), last  # ctx: the event the silence is judged after
        if not is_present(last, stays):
            # A switch turning off shows nobody; interval data closes a flush interval after the person
            # already lay down. Judge the silence also after the last sign of presence just before.
            for e in reversed(recent[-10:]):
                if last.time - e.time > BURST:
                    break
                if is_present(e, stays):
                    s_e = silence.surprise(e, (now - e.time).total_seconds())
                    if s_e < score:
                        score, ctx = s_e, e
                    break
        limit = p.effective_limit(p.silence_limit)
        blocked = seconds < p.silence_floor_min * 60
        room = situation.stay[0]  # where the person is (presence), stable from check to check
        typical = silence.quantile(ctx, 0.5)
        unusual = max(silence.seconds_at_surprise(ctx, limit) - (last.time - ctx.time).total_seconds(),
                      p.silence_floor_min * 60)
        local = last.time.astimezone(ZoneInfo(silence.tz))
        message = (f"No sensor event for {duration_text(seconds)}, since the {room} at "
                   f"{local:%H:%M}; after activity in the {ctx.room} around {local:%H}:00 the home is "
                   f"usually quiet for {duration_text(typical)}, and {duration_text(unusual)} is already "
                   "unusual.")
        finding = Finding(FindingKind.UNUSUAL_SILENCE, Severity.EMERGENCY, room, last.time,
                          observed=seconds, expected=typical, threshold=unusual,
                          percentile=percentile_of(score), message=message)
        return [Assessment(finding, score, limit, plus(last.time, unusual), blocked)]
