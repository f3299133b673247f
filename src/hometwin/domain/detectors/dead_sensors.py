"""Sensor data missing, in the data: most sensors that report every day have been silent for many
hours while others still fire, or one sensor has been silent far longer than it ever was while the
person was about.

Most of them silent is a failing gateway or dead batteries, not the person: someone who lies still
silences every sensor, not most of them for half a day while one room keeps reporting. While it
fires, the room whose sensor still fires says nothing about where the person is, so prolonged stays
are blocked.

One of them silent is a dead battery, a sensor out of range, or a contact or mat stuck in one state
(it sent its last change and then nothing). Its silence is measured in *active hours*, the hours in
which some other sensor reported: a day out, an unbroken night's sleep or a gateway outage adds
none, so a kitchen sensor that is quiet while the person is away is not dead, and one that stays
quiet through ten active hours, when in the training weeks it never missed more than five, is. The
limit is `silent_sensor_factor` times the most active hours the sensor was quiet in the training
weeks: with hundreds of gaps learned, twice the longest is far beyond any gap the person makes by
chance. Only sensors with a limit the recent events can show are watched (a front door quiet for two
days of staying in cannot be told from a dead one in 36 hours).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
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
    silent_sensor_factor: float = knob(
        2.0, "One sensor silent for this many times its longest quiet spell in active hours is dead (0: off).",
        ge=0)


# A sensor's limit is at least `silent_sensor_factor` times this many active hours: a sensor that was
# never quiet for more than an hour or two in training (a hall PIR passed all day) still gets a few
# hours of slack for a day unlike the training weeks.
MIN_QUIET_HOURS = 4


class DeadSensors:
    name = "dead_sensors"
    kind = FindingKind.SENSOR_DATA_MISSING
    params = DeadSensorsParams

    def assess(self, situation: Situation) -> list[Assessment]:
        """Most sensors silent (one finding for the home) or else each silent sensor (one finding in
        its room). Nothing fired for `dead_sensor_after_h` at all is a silence, left to the person
        detectors."""
        if not situation.at_home:
            return []
        most = _most_silent(situation)
        one = _silent_sensors(situation)
        if any(a.fires for a in most):  # one incident, the installation's, not one per sensor
            one = [replace(a, suppressed=True) for a in one]
        return most + one


def _most_silent(situation: Situation) -> list[Assessment]:
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


def _silent_sensors(situation: Situation) -> list[Assessment]:
    """Per watched sensor: the score is the active hours since its last event (since the first recent
    event when it is not among them), the limit `silent_sensor_factor` times its longest quiet
    spell in training."""
    recent, now, p = situation.recent, situation.now, situation.params
    quiet = situation.model.silence.sensor_quiet
    if p.silent_sensor_factor <= 0 or not quiet:
        return []
    span = (now - recent[0].time).total_seconds() / 3600
    limits = {s: p.silent_sensor_factor * max(most, MIN_QUIET_HOURS) for s, (_, most, _) in quiet.items()}
    limits = {s: limit for s, limit in limits.items() if limit < span}  # what the window can show
    if not limits:
        return []
    out: list[Assessment] = []
    for sensor, (active, last) in sorted(active_hours_since(recent, limits, now).items()):
        room, most, gaps = quiet[sensor]
        limit = limits[sensor]
        began = last if last is not None else recent[0].time.replace(hour=0, minute=0, second=0, microsecond=0)
        if situation.scores_only:
            out.append(score_only(FindingKind.SENSOR_DATA_MISSING, Severity.WARNING, room, began, active, limit))
            continue
        message = (f"The sensor {sensor} in the {room} has reported nothing "
                   f"{'for ' + duration_text((now - last).total_seconds()) if last else 'for more than a day'}, "
                   f"through {active} hours in which other sensors saw the person; in the {gaps} quiet spells "
                   f"of the training weeks it never missed more than {most} such hours. It looks dead (a flat "
                   "battery, out of range) or stuck, and what it watches cannot be seen until it is fixed: "
                   "please check the sensor.")
        finding = Finding(FindingKind.SENSOR_DATA_MISSING, Severity.WARNING, room, began, observed=active * 3600.0,
                          expected=most * 3600.0, threshold=limit * 3600, percentile=100.0, message=message)
        out.append(Assessment(finding, active, limit, None))
    return out


def active_hours_since(recent: Sequence[SensorEvent], sensors: Iterable[str], now: datetime
                       ) -> dict[str, tuple[int, datetime | None]]:
    """Per sensor of `sensors`: (the active hours, with an event, strictly between the hour of its
    last event in `recent` and the hour of `now`; the time of that event). A sensor not in `recent`
    counts from the hour of the first event, with None. As `silence_training.sensor_quiet_hours`
    counts them in training. Read from the end, stopped once every sensor is found."""
    wanted = set(sensors)
    now_hour = _hour(now)
    out: dict[str, tuple[int, datetime | None]] = {}
    active, hour = 0, now_hour
    for e in reversed(recent):
        h = _hour(e.time)
        if h < hour:  # an hour with an event; the hour of `now` is not over and does not count yet
            active += hour < now_hour
            hour = h
        if e.sensor in wanted and e.sensor not in out:
            out[e.sensor] = (active, e.time)
            if len(out) == len(wanted):
                return out
    out.update((sensor, (active, None)) for sensor in wanted - set(out))
    return out


def _hour(at: datetime) -> int:
    return int(at.timestamp() // 3600)


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
