"""One sensor silent far longer than it ever was while the person was about: a dead battery, a
sensor out of range, or a contact or mat stuck in one state (it sent its last change and then
nothing).

Its silence is measured in *active hours*, the clock hours in which some sensor reported: a day out,
an unbroken night's sleep or a gateway outage adds none, so a kitchen sensor that is quiet while the
person is away is not dead, and one that stays quiet through ten active hours, when in the training
weeks it never missed more than five, is. The limit is `silent_sensor_factor` times the most active
hours the sensor was quiet in the training weeks (`SilenceModel.sensor_quiet`, sensors with at least
100 gaps): with hundreds of gaps learned, twice the longest is far beyond any gap the person makes
by chance. Only sensors with a limit the recent events can show are watched (a front door quiet for
two days of staying in cannot be told from a dead one in 36 hours). It blocks nothing, so the
calibration's replay leaves it out; while most daily sensors are dead (`dead_sensors`) its findings
are suppressed: one incident, the installation's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from hometwin.domain.detectors.base import Assessment, Situation, knob, score_only
from hometwin.domain.detectors.dead_sensors import most_silent
from hometwin.domain.events import SensorEvent
from hometwin.domain.findings import Finding, FindingKind, Severity
from hometwin.domain.wording import duration_text


@dataclass(frozen=True)
class SilentSensorParams:
    silent_sensor_factor: float = knob(
        2.0, "One sensor silent for this many times its longest quiet spell in active hours is dead (0: off).",
        ge=0)


# A sensor's limit is at least `silent_sensor_factor` times this many active hours: a sensor that was
# never quiet for more than an hour or two in training (a hall PIR passed all day) still gets a few
# hours of slack for a day unlike the training weeks.
MIN_QUIET_HOURS = 4


class SilentSensor:
    name = "silent_sensor"
    kind = FindingKind.SENSOR_DATA_MISSING
    params = SilentSensorParams

    def assess(self, situation: Situation) -> list[Assessment]:
        """Per silent sensor, one finding in its room; suppressed while most sensors are dead."""
        if not situation.at_home:
            return []
        out = _silent_sensors(situation)
        if out and any(a.fires for a in most_silent(situation)):
            out = [replace(a, suppressed=True) for a in out]
        return out


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
