"""A stuck motion sensor: it fires again and again, without a pause, far longer than a person moves.

A PIR in a heater's draught or behind a curtain that moves reports motion as fast as it may, for
hours. Nobody is in the room: the "stay" there is the sensor's, and it would end as a prolonged
stay at night, when the person is asleep elsewhere. People pause: a shower or an hour of cooking
keeps one sensor busy for half an hour at most (the longest such run in the simulated homes is
35 min, in the public homes 31 min), so two hours without a one-minute pause is the sensor. While it
fires, prolonged stays are blocked (the current stay is the stuck room's, since the stuck sensor is
always the last event), and the caregiver is told that the installation needs a look.

A sensor stuck "on" that sends one event and then nothing (as some binary sensors do) cannot be
told from a person by its events at first; the mats' `rest_max_hours` covers the one case that
matters, and `silent_sensor` reports it once it has been quiet far longer than it ever was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from hometwin.domain.detectors.base import Assessment, Situation, knob, score_only
from hometwin.domain.detectors.tails import plus
from hometwin.domain.events import SensorEvent, SensorKind
from hometwin.domain.findings import Finding, FindingKind, Severity
from hometwin.domain.wording import duration_text

# Two motion events of one sensor at most this far apart belong to one run: a PIR re-arms within
# seconds, and a person who is still for a minute breaks the run.
RUN_GAP = timedelta(minutes=1)


@dataclass(frozen=True)
class StuckSensorParams:
    stuck_sensor_after_min: float = knob(
        120.0, "A motion sensor firing at least once a minute for this many minutes is stuck (0: off).", ge=0)


class StuckSensor:
    name = "stuck_sensor"
    kind = FindingKind.SENSOR_STUCK
    params = StuckSensorParams

    def assess(self, situation: Situation) -> list[Assessment]:
        """The score is how long (minutes) each motion sensor still firing at `now` has fired without
        a pause of `RUN_GAP`. A run that stopped is over: if the sensor starts again, that is a new run."""
        limit = situation.params.stuck_sensor_after_min
        if limit <= 0 or not situation.recent:
            return []
        out: list[Assessment] = []
        for sensor, (room, start, last) in sorted(current_runs(situation.recent, situation.now).items()):
            minutes = (last - start).total_seconds() / 60
            blocks = (FindingKind.PROLONGED_STAY,)
            if situation.scores_only:
                out.append(score_only(self.kind, Severity.WARNING, room, start, minutes, limit, blocks=blocks))
                continue
            message = (f"The motion sensor {sensor} in the {room} has reported motion at least once a minute "
                       f"for {duration_text(minutes * 60)} without a pause, longer than a person keeps moving. "
                       "It looks stuck (a draught, a curtain, a heater in view), and a stay in the "
                       f"{room} cannot be judged until it is fixed: please check the sensor.")
            finding = Finding(FindingKind.SENSOR_STUCK, Severity.WARNING, room, start, observed=minutes * 60,
                              expected=0.0, threshold=limit * 60, percentile=100.0, message=message)
            out.append(Assessment(finding, minutes, limit, plus(start, limit * 60), blocks=blocks))
        return out


def current_runs(recent: Sequence[SensorEvent], now: datetime) -> dict[str, tuple[str, datetime, datetime]]:
    """Per motion sensor that fired within `RUN_GAP` before `now`: (room, first, last event) of its
    run of motion events with no gap longer than `RUN_GAP`.

    Read from the end and stopped once every such run is closed: a check reads the last minutes of
    events, and a stuck sensor's whole run only while it is stuck."""
    runs: dict[str, tuple[str, datetime, datetime]] = {}
    open_: set[str] = set()
    for e in reversed(recent):
        if e.kind is not SensorKind.MOTION or e.value <= 0:
            if now - e.time > RUN_GAP and not open_:
                break
            continue
        if e.sensor not in runs:
            if now - e.time > RUN_GAP:  # a sensor quiet at `now`: no run of its own is open
                if not open_:
                    break
                continue
            runs[e.sensor] = (e.room, e.time, e.time)
            open_.add(e.sensor)
        elif e.sensor in open_:
            room, first, last = runs[e.sensor]
            if first - e.time > RUN_GAP:
                open_.discard(e.sensor)
                if not open_:
                    break
            else:
                runs[e.sensor] = (room, e.time, last)
    return runs
