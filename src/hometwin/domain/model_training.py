"""The statistics behind `train_model` (domain/model.py): vectorised, one pass per question.

Exposure: the training period is sampled once a minute; a sample is "observed" unless it lies in
an away or unknown interval. A bin of a day (or a night, or a day part) takes part in the visit
counts only when at least `min_exposure` of it was observed, so time away is never read as
"zero visits". Stays cut by an outage or by the ends of the data are counted as visits but not
as durations (their length is unknown).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from hometwin.domain.distributions import CountStats, Sketch
from hometwin.domain.localtime import DAY, LocalClock, weekday_of_day
from hometwin.domain.model_params import Levels, ModelParams
from hometwin.domain.rest import night_rests, waking_mask
from hometwin.domain.silence import is_sleeping_room
from hometwin.domain.stay_hazard import StayHazard
from hometwin.domain.stays import EventArrays, Timeline, overlaps_gaps

STEP = 60.0  # seconds between exposure samples


def learn(a: EventArrays, tl: Timeline, tz: str, params: ModelParams, t_start: float,
          t_end: float, checks_only: bool = False) -> dict[str, Any]:
    """The model's statistics; with `checks_only`, without the cells no check reads (see `train_model`)."""
    clock = LocalClock(tz, t_start, t_end)
    bin_s = params.bin_minutes * 60
    bins = params.bins
    rooms = a.rooms
    room_index = {r: i for i, r in enumerate(rooms)}

    # Exposure samples (minute midpoints) and which of them were observed.
    n_samples = max(int(np.ceil((t_end - t_start) / STEP)), 1)
    ts = t_start + STEP * np.arange(n_samples) + STEP / 2
    gaps = sorted([(i.start.timestamp(), i.end.timestamp()) for i in (*tl.away, *tl.unknown)])
    # Before the first event and long after the last one nothing was observed: a training window
    # wider than the data must not read as days without visits.
    observed = (ts >= a.t[0]) & (ts <= a.t[-1] + params.stays.unknown_after.total_seconds())
    if gaps:
        g_start = np.array([g[0] for g in gaps])
        g_end = np.array([g[1] for g in gaps])
        k = np.searchsorted(g_start, ts, side="right") - 1
        observed &= ~((k >= 0) & (ts < g_end[np.maximum(k, 0)]))
    wall = clock.wall(ts)

    # Stays as arrays.
    st_start = np.array([s.start.timestamp() for s in tl.stays])
    st_end = np.array([s.end.timestamp() for s in tl.stays])
    st_room = np.array([room_index[s.room] for s in tl.stays], dtype=np.int64)
    st_wall = clock.wall(st_start)

    # ---- durations per (room, weekday, bin of the start); censored stays left out
    unknown_starts = {i.start.timestamp() for i in tl.unknown}
    unknown_ends = {i.end.timestamp() for i in tl.unknown}
    complete = np.ones(len(tl.stays), dtype=bool)
    if len(complete):
        complete[0] = complete[-1] = False
        for i, (s0, s1) in enumerate(zip(st_start.tolist(), st_end.tolist(), strict=True)):
            if s1 in unknown_starts or s0 in unknown_ends:
                complete[i] = False
    dur = st_end - st_start
    w_st, b_st = _weekday_bin(st_wall, bin_s)
    stay_hazard = StayHazard.train(tl, tz, complete, params.silence.prior_sd)
    durations: dict[str, Levels] = {}
    for r, room in enumerate(rooms):
        m = complete & (st_room == r)
        if m.any() and not (checks_only and stay_hazard is not None):
            durations[room] = _levels(w_st[m], b_st[m], dur[m], bins, "room", _sketcher(params))
    home_durations = Sketch.of(dur[complete], params.outlier_k) if complete.any() else None

    # ---- visits per (room, observed bin occurrence)
    occ = np.floor(wall / bin_s).astype(np.int64)
    occ0 = int(occ.min())
    exposure = np.bincount(occ - occ0, weights=observed.astype(np.float64)) * STEP
    valid = np.nonzero(exposure >= params.min_exposure * bin_s)[0]
    st_occ = np.floor(st_wall / bin_s).astype(np.int64) - occ0
    w_occ, b_occ = _weekday_bin((valid + occ0).astype(np.float64) * bin_s, bin_s)
    visits: dict[str, Levels] = {}
    all_counts: list[np.ndarray] = []
    for r, room in enumerate(rooms):
        sel = (st_room == r) & (st_occ >= 0) & (st_occ < len(exposure))
        counts = np.bincount(st_occ[sel], minlength=len(exposure))[valid].astype(np.float64)
        if len(valid) and not checks_only:
            visits[room] = _levels(w_occ, b_occ, counts, bins, "room", CountStats.of)
            all_counts.append(counts)
    home_visits = CountStats.of(np.concatenate(all_counts)) if all_counts else None

    # ---- visits per night / day
    ns, ne = params.night_start_hour * 3600, params.night_end_hour * 3600
    part_len = {1: (DAY - ns + ne), 0: ns - ne}

    def part_occ(w: np.ndarray) -> np.ndarray:
        sod = np.mod(w, DAY)
        night = (sod >= ns) | (sod < ne)
        day = np.floor(np.where(night, w - ne, w) / DAY).astype(np.int64)
        return day * 2 + night.astype(np.int64)

    pocc = part_occ(wall)
    pocc0 = int(pocc.min())
    p_exposure = np.bincount(pocc - pocc0, weights=observed.astype(np.float64)) * STEP
    p_ids = np.arange(len(p_exposure)) + pocc0
    p_is_night = (p_ids % 2).astype(np.int64)
    p_need = np.where(p_is_night == 1, part_len[1], part_len[0]) * params.min_exposure
    st_pocc = part_occ(st_wall) - pocc0
    daily: dict[str, dict[str, Levels]] = {}
    for part, flag in (("night", 1), ("day", 0)):
        ok = np.nonzero((p_exposure >= p_need) & (p_is_night == flag))[0]
        w_part = weekday_of_day((ok + pocc0) // 2)
        for r, room in enumerate(rooms):
            sel = (st_room == r) & (st_pocc >= 0) & (st_pocc < len(p_exposure))
            counts = np.bincount(st_pocc[sel], minlength=len(p_exposure))[ok].astype(np.float64)
            if len(ok):
                daily.setdefault(room, {})[part] = _day_levels(w_part, counts, CountStats.of)

    # ---- the night's rest: bedtime and wake-up (domain/rest.py); the day starts at the wake-up
    first: Levels = {}
    bedtime: Levels = {}
    sleeping = np.array([is_sleeping_room(r) for r in rooms], dtype=bool)
    waking = waking_mask(a.present, sleeping[a.room] if len(rooms) else np.zeros(len(a), dtype=bool))
    tw = a.t[waking]
    if len(tw) > 1:
        blocked = overlaps_gaps(tw[:-1], tw[1:], tl)
        bed_t, wake_t = night_rests(tw, clock.wall(tw), blocked, a.t[a.present])
        if len(wake_t):
            wake_wall, bed_wall = clock.wall(wake_t), clock.wall(bed_t)
            wake_day = np.floor(wake_wall / DAY).astype(np.int64)
            first = _day_levels(weekday_of_day(wake_day), (wake_wall - wake_day * DAY) / 60.0, _sketcher(params))
            evening = np.floor((bed_wall - DAY / 2) / DAY).astype(np.int64)  # bedtime after noon, before noon
            bedtime = _day_levels(weekday_of_day(evening), (bed_wall - evening * DAY) / 60.0, _sketcher(params))

    # ---- away durations by the time the person left
    # Not winsorised: a day out among shorter outings is this person's routine, not an anomaly of
    # the training weeks (whoever did not come back is not in them). Absences over a day are trips,
    # which no outing model can tell from not coming back: they are left out.
    away: Levels = {}
    outings = [i for i in tl.away if i.duration.total_seconds() <= DAY]
    if outings:
        a_start = np.array([i.start.timestamp() for i in outings])
        a_dur = np.array([i.duration.total_seconds() for i in outings])
        w_a, b_a = _weekday_bin(clock.wall(a_start), bin_s)
        away = _levels(w_a, b_a, a_dur, bins, "home", lambda values: Sketch.of(values, math.inf))

    return {"durations": durations, "home_durations": home_durations, "visit_counts": visits,
            "home_visits": home_visits, "daily": daily, "first": first, "bedtimes": bedtime, "away": away,
            "stay_hazard": stay_hazard}


def _sketcher(params: ModelParams) -> Callable[[np.ndarray], Sketch]:
    return lambda values: Sketch.of(values, params.outlier_k)


def _weekday_bin(wall: np.ndarray, bin_s: int) -> tuple[np.ndarray, np.ndarray]:
    day = np.floor(wall / DAY).astype(np.int64)
    return weekday_of_day(day), (np.mod(wall, DAY) // bin_s).astype(np.int64)


def _groups(keys: np.ndarray, values: np.ndarray) -> list[tuple[int, np.ndarray]]:
    order = np.argsort(keys, kind="stable")
    k, v = keys[order], values[order]
    cuts = np.flatnonzero(np.diff(k)) + 1
    return [(int(part[0]), vals) for part, vals in zip(np.split(k, cuts), np.split(v, cuts), strict=True)
            if len(part)]


def _levels(w: np.ndarray, b: np.ndarray, values: np.ndarray, bins: int, top: str,
            summarise: Callable[[np.ndarray], Any]) -> Levels:
    """cell (weekday:bin), daytype (weekend?:bin), hour (bin), top ("" = all) summaries."""
    weekend = (w >= 5).astype(np.int64)

    def cells(keys: np.ndarray) -> dict[str, Any]:
        return {f"{key // bins}:{key % bins}": summarise(v) for key, v in _groups(keys, values)}

    return {
        "cell": cells(w * bins + b),
        "daytype": cells(weekend * bins + b),
        "hour": {str(key): summarise(v) for key, v in _groups(b, values)},
        top: {"": summarise(values)},
    }


def _day_levels(w: np.ndarray, values: np.ndarray, summarise: Callable[[np.ndarray], Any]) -> Levels:
    """cell (weekday), daytype (weekend?), hour ("" = every day) summaries."""
    return {
        "cell": {str(key): summarise(v) for key, v in _groups(w, values)},
        "daytype": {str(key): summarise(v) for key, v in _groups((w >= 5).astype(np.int64), values)},
        "hour": {"": summarise(values)} if len(values) else {},
    }
