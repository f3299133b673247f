"""The silence model's training data, vectorised: one context per presence event, as
`silence.presence_contexts` reads them one by one at a check (a year of events costs a few
numpy passes instead of a Python loop per event).

Pure: numpy arrays in, arrays out.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter

import numpy as np

from hometwin.domain.events import SensorEvent, SensorKind
from hometwin.domain.localtime import DAY, LocalClock
from hometwin.domain.stays import KINDS, EventArrays, room_key

_PRESSURE = KINDS.index(SensorKind.PRESSURE)
REST_LEVELS = ("", "seat", "bed")


def _codes(values: list[str]) -> tuple[np.ndarray, list[str]]:
    names = list(dict.fromkeys(values))
    index = {v: i for i, v in enumerate(names)}
    return np.fromiter(map(index.__getitem__, values), np.int64, len(values)), names


def training_contexts(a: EventArrays, rest_max_hours: float, sleeping: Callable[[str], bool]
                      ) -> tuple[np.ndarray, np.ndarray, list[dict[str, str]]]:
    """(positions of the presence events in canonical order, their context ids, the levels of each
    context id): the last event's sensor, kind, on/off and room, the room of the stay before, and the
    rest state (a mat on in a sleeping room: "bed", elsewhere: "seat"; stale after `rest_max_hours`)."""
    ordered: list[SensorEvent] = [a.events[i] for i in a.order.tolist()]
    sensor, sensors = _codes(list(map(attrgetter("sensor"), ordered)))
    room, rooms = _codes(list(map(attrgetter("room"), ordered)))
    on = (a.value > 0).astype(np.int64)
    pidx = np.nonzero(a.present)[0]
    if len(pidx) == 0:
        return pidx, pidx, []
    # The event's own state: sensor, room spelling, kind and on/off.
    state = ((sensor[pidx] * len(rooms) + room[pidx]) * len(KINDS) + a.kind[pidx]) * 2 + on[pidx]
    # Where the person came from: the room of the stay before (rooms change between presence events).
    rp = room[pidx]
    change = np.concatenate(([False], rp[1:] != rp[:-1]))
    stay = np.cumsum(change)
    stay_room = rp[np.concatenate(([0], np.nonzero(change)[0]))]
    prev = np.where(stay > 0, stay_room[np.maximum(stay - 1, 0)], -1)
    # Rest: each mat's last event at or before the presence event.
    rest = np.zeros(len(pidx), dtype=np.int64)
    is_mat = a.kind == _PRESSURE
    for m in np.unique(sensor[is_mat]).tolist():
        pos = np.nonzero(is_mat & (sensor == m))[0]
        j = np.searchsorted(pos, pidx, side="right") - 1
        last = pos[np.maximum(j, 0)]
        active = (j >= 0) & (on[last] == 1) & (a.t[pidx] - a.t[last] <= rest_max_hours * 3600)
        level = 2 if sleeping(rooms[int(room[pos[0]])]) else 1
        rest = np.where(active, np.maximum(rest, level), rest)
    key = (state * (len(rooms) + 1) + prev + 1) * len(REST_LEVELS) + rest
    uniq, first, ctx = np.unique(key, return_index=True, return_inverse=True)
    levels: list[dict[str, str]] = []
    for k in first.tolist():
        e = ordered[int(pidx[k])]
        onoff = "on" if e.value > 0 else "off"
        levels.append({"state": f"{room_key(e.room)}|{e.kind.value}|{onoff}|{e.sensor}",
                       "kind": f"{e.kind.value}|{onoff}", "room": room_key(e.room),
                       "prev": room_key(rooms[int(prev[k])]) if prev[k] >= 0 else "",
                       "rest": REST_LEVELS[int(rest[k])]})
    return pidx, ctx.reshape(-1), levels


def sensor_days(a: EventArrays, tz: str) -> dict[str, float]:
    """Share of the local calendar days from the first to the last event on which each sensor reported."""
    if len(a) == 0:
        return {}
    sensor, sensors = _codes([a.events[i].sensor for i in a.order.tolist()])
    day = np.floor(LocalClock(tz, float(a.t[0]), float(a.t[-1])).wall(a.t) / DAY).astype(np.int64)
    n_days = int(day[-1] - day[0]) + 1
    pairs = np.unique(sensor * (n_days + 1) + (day - day[0]))
    counts = np.bincount(pairs // (n_days + 1), minlength=len(sensors))
    return {s: int(c) / n_days for s, c in zip(sensors, counts.tolist(), strict=True)}


def mat_sensors(a: EventArrays) -> list[str]:
    return sorted({a.events[i].sensor for i in a.order[a.kind == _PRESSURE].tolist()})




# A sensor's silences are learned from at least this many gaps between its events. If gaps had a
# light tail, one twice the longest of n would come about once in n * n gaps, once in n * days
# sensor-days; they do not (a flush three times a day, a hall passed only when going out: two days
# at home, two days without), and sensors with fewer than 100 gaps in the training weeks gave the
# false reports on development seed 104 (the hall with 58, flushes with 75 and 77), those with
# hundreds or thousands none.
MIN_QUIET_GAPS = 100


def sensor_quiet_hours(a: EventArrays) -> dict[str, tuple[str, int, int]]:
    """Per sensor with at least `MIN_QUIET_GAPS` gaps between its events: (its room, the most active
    hours, in which another sensor reported, that passed between two of its events, the number of
    gaps). Only the whole hours strictly between the two events count, as `detectors.silent_sensor`
    counts them at a check. The silence after a sensor's last event is left out: a sensor that died
    in the training weeks must not teach that it may stay silent."""
    if len(a) < 2:
        return {}
    ordered = [a.events[i] for i in a.order.tolist()]
    sensor, sensors = _codes(list(map(attrgetter("sensor"), ordered)))
    room = {e.sensor: e.room for e in ordered}  # where each sensor last reported
    hours = np.floor(a.t / 3600).astype(np.int64)
    active = np.unique(hours)
    by_sensor = np.lexsort((a.t, sensor))
    s, h = sensor[by_sensor], hours[by_sensor]
    same = s[1:] == s[:-1]
    gaps = np.searchsorted(active, h[1:], side="left") - np.searchsorted(active, h[:-1], side="right")
    codes, gaps = s[1:][same], np.maximum(gaps[same], 0)
    count = np.bincount(codes, minlength=len(sensors))
    most = np.zeros(len(sensors), dtype=np.int64)
    np.maximum.at(most, codes, gaps)
    return {name: (room[name], int(most[code]), int(count[code])) for code, name in enumerate(sensors)
            if count[code] >= MIN_QUIET_GAPS}
