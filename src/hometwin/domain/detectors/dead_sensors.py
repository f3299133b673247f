"""Sensor data missing, in the data: most sensors that report every day have been silent for many
hours while others still fire.

Most of them silent is a failing gateway or dead batteries, not the person: someone who lies still
silences every sensor, not most of them for half a day while one room keeps reporting. While it
fires, the room whose sensor still fires says nothing about where the person is, so prolonged stays
are blocked.

One of them silent is `silent_sensor.py`'s.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter

from hometwin.domain.detectors.base import Assessment, Situation, knob, score_only
from hometwin.domain.detectors.tails import plus
from hometwin.domain.events import SensorEvent
from hometwin.domain.findings import Finding, FindingKind, Severity
from hometwin.domain.wording import duration_text


@dataclass(frozen=True)
class DeadSensorsParams:
    dead_sensor_after_h: float = knob(
        24.0, "Daily sensors silent this many hours while others report are dead (0: off).", ge=0)
    dead_sensor_share: float = knob(
        0.75, "... when at least this share of the daily sensors is: data missing.", gt=0, le=1)
    daily_sensor_share: float = knob(
        0.7, "A daily sensor reported on at least this share of the training days.", gt=0, le=1)


class DeadSensors:
    name = "dead_sensors"
    kind = FindingKind.SENSOR_DATA_MISSING
    params = DeadSensorsParams

    def assess(self, situation: Situation) -> list[Assessment]:
        """Nothing fired for `dead_sensor_after_h` at all is a silence, left to the person detectors."""
        return most_silent(situation) if situation.at_home else []


def most_silent(situation: Situation) -> list[Assessment]:
    """The score is how long at least `dead_sensor_share` of the daily sensors have been silent
    (hours); a sensor not in the window counts as silent since the window's first event."""
    recent, now, p = situation.recent, situation.now, situation.params
    daily = situation.model.silence.daily_sensors(p.daily_sensor_share)
    limit = p.dead_sensor_after_h
    if len(daily) < 3 or limit <= 0 or (now - recent[-1].time).total_seconds() >= limit * 3600:
        return []
    seen = _last_times(recent, daily)  # each daily sensor's last event
    # A sensor not in the recent events has been silent at least since the first of them (all we
    # can see: a monitoring that has just started, or a caller passing a short history, never
    # claims more).
    window = recent[0].time
    since = sorted(seen.get(s, window) for s in daily)
    k = max(1, math.ceil(p.dead_sensor_share * len(daily)))
    began = since[k - 1]  # at least k daily sensors have been silent since then
    hours = (now - began).total_seconds() / 3600
    if situation.scores_only:
        return [score_only(FindingKind.SENSOR_DATA_MISSING, Severity.WARNING, None, began, hours, limit,
                           blocks=(FindingKind.PROLONGED_STAY,))]
    dead = [s for s in daily if seen.get(s, window) <= began]
    if began <= window:
        # silent for the whole window: anchor the incident to a day, not to the sliding window start
        began = began.replace(hour=0, minute=0, second=0, microsecond=0)
    after = bisect_right(recent, began, key=attrgetter("time"))
    alive = sorted({e.sensor for e in recent[after:]} - set(dead))
    verb = "reports" if len(alive) == 1 else "report"
    message = (f"{len(dead)} of the {len(daily)} sensors that report every day have been silent for "
               f"{duration_text(hours * 3600)} ({', '.join(dead[:4])}{', ...' if len(dead) > 4 else ''}), "
               f"while only {', '.join(alive[:3]) or 'others'} still {verb}. This looks like dead sensors "
               "or a failing gateway, not the person; the person cannot be watched properly until they "
               "are fixed: please check the installation, and the person if you cannot reach the sensors.")
    finding = Finding(FindingKind.SENSOR_DATA_MISSING, Severity.WARNING, None, began, observed=hours * 3600,
                      expected=0.0, threshold=limit * 3600, percentile=100.0, message=message)
    return [Assessment(finding, hours, limit, plus(began, limit * 3600),
                       blocks=(FindingKind.PROLONGED_STAY,))]


def _last_times(recent: Sequence[SensorEvent], sensors: Sequence[str]) -> dict[str, datetime]:
    """When each of `sensors` last fired in `recent` (sorted); absent when it did not. Read from the
    end and stopped once every sensor is found: the daily sensors of a home that is not failing all
    fired in the last hours, so a check reads a few of the 36 h of events, not all of them."""
    wanted = set(sensors)
    seen: dict[str, datetime] = {}
    for e in reversed(recent):
        if e.sensor in wanted and e.sensor not in seen:
            seen[e.sensor] = e.time
            if len(seen) == len(wanted):
                break
    return seen
