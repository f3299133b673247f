"""Unusual frequency (info only): visits to a room in the last complete night or day far above the
usual count. Night and day are the model's (`ModelParams.night_start_hour` / `night_end_hour`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from hometwin.domain.detectors.base import Assessment, Situation, knob
from hometwin.domain.detectors.presence import count_visits
from hometwin.domain.findings import Finding, FindingKind, Severity


@dataclass(frozen=True)
class UnusualFrequencyParams:
    frequency_limit: float = knob(2.0, "Unusual daily frequency (info only) at this surprise.")
    frequency_min_excess: float = knob(2.0, "... and at least this many visits above the usual mean.", ge=0)


class UnusualFrequency:
    name = "unusual_frequency"
    kind = FindingKind.UNUSUAL_FREQUENCY
    params = UnusualFrequencyParams

    def assess(self, situation: Situation) -> list[Assessment]:
        """After the night ends, its visits per room; after the day ends, the day's."""
        recent, now, model, p = situation.recent, situation.now, situation.model, situation.params
        if not recent:
            return []
        night_start, night_end = model.params.night_start_hour, model.params.night_end_hour
        local_now = now.astimezone(situation.zone)
        end = local_now.replace(minute=0, second=0, microsecond=0)
        if local_now.hour >= night_start:
            part, end = "day", end.replace(hour=night_start)
            start = end.replace(hour=night_end)
        elif local_now.hour >= night_end:
            part, end = "night", end.replace(hour=night_end)
            start = (end - timedelta(days=1)).replace(hour=night_start)  # the night spans midnight
        else:
            return []
        start_utc, end_utc = start.astimezone(now.tzinfo), end.astimezone(now.tzinfo)
        if recent[0].time > start_utc:
            return []  # the window does not cover the whole part of the day
        visits = count_visits(recent, start_utc, end_utc)
        hours = (f"{night_start:02d}:00-{night_end:02d}:00" if part == "night"
                 else f"{night_end:02d}:00-{night_start:02d}:00")
        out: list[Assessment] = []
        limit = p.effective_limit(p.frequency_limit)
        for room in sorted(model.rooms):
            dist = model.daily_visits(room, start_utc, part)
            x = next((c for r, c in visits.items() if model.canonical_room(r) == room), 0)
            if dist.n_days <= 0:
                continue
            pct = dist.percentile(x)
            score = -math.log10(max(1e-9, 1.0 - min(pct, 100.0) / 100.0))
            blocked = x < dist.mean + p.frequency_min_excess
            message = (f"{x} visits to the {room} during the {part} ({hours}); usually {dist.mean:.1f}, "
                       f"and more than {dist.quantile(0.99):.0f} is unusual.")
            finding = Finding(FindingKind.UNUSUAL_FREQUENCY, Severity.INFO, room, start_utc, observed=float(x),
                              expected=dist.mean, threshold=dist.quantile(0.99), percentile=pct, message=message)
            out.append(Assessment(finding, score, limit, blocked=blocked))
        return out
