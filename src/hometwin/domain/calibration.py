"""Per-home calibration of the alarm limits to a false-alarm budget, by cross-validation over days.

One setting for every home, the budget (alarms per day, `false_alarm_budget`), shared out equally
over the detectors that raise alarms about the person. For each, the limit shift that this home's
own history says meets its share: the days are cut into `folds` blocks; for each block a model is
trained on the other days and the block's days are replayed at the monitoring's pace with the very
check the monitoring runs (`detection.assess`); every alarm there is false (nothing happened, as far
as anybody knows).

A few weeks of replayed days say little about a rate of 0.025 alarms a day ("no alarm at all in
these days"), so the home's own counts are shrunk toward a prior (domain/calibration_prior.py: what
a model learned from three weeks does on the week after them, pooled over development homes of the
simulated population): the estimated rate at a shift is (alarms here + `prior_days` x the prior
rate) / (days here + `prior_days`), and the shift is the smallest one (up to `MAX_SHIFT`) whose
estimate is at most the detector's share. With no replayed day at all (a model learned from the
first week, too short to cross-validate) the limits are those of the first-week prior
(`prior_calibration`); as days accumulate, the home's own alarms count more. Only the last 8 weeks
are cross-validated (`HISTORY`, the modeling window). A shift is below zero (more eager than the defaults,
down to `MIN_SHIFT`) only when the home's own days are enough to show a rate below the share at all:
no alarm in n days bounds the rate by 3 / n (the rule of three).

The figures (days replayed, prior weight, alarms at the defaults and at the chosen shifts) are kept
with the shifts so that `hometwin model show` can say how much to trust them.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

import numpy as np

from hometwin.domain.calibration_prior import ALARM_DETECTORS, PRIOR_DAYS, SHIFTS, episodes, prior_rate
from hometwin.domain.calibration_result import Calibration
from hometwin.domain.detection import RECENT_WINDOW, DetectionParams, assess
from hometwin.domain.detectors import DETECTORS
from hometwin.domain.events import SensorEvent
from hometwin.domain.findings import TECHNICAL_KINDS, Severity
from hometwin.domain.model import train_model
from hometwin.domain.model_params import ModelParams

__all__ = ["ALARM_DETECTORS", "MAX_SHIFT", "MIN_SHIFT", "SHIFTS", "calibrate", "calibrate_or_prior",
           "choose_shift", "episodes", "fill_shares", "prior_calibration", "replay_day"]

MIN_SHIFT, MAX_SHIFT = float(SHIFTS[0]), float(SHIFTS[-1])
# What the replay runs: the alarm detectors and the technical ones, which can block them (dead or
# stuck sensors block stays); the informational ones (unusual frequency, a quarter of a check's time)
# change no alarm's margin.
REPLAYED = tuple(d for d in DETECTORS if d.name in ALARM_DETECTORS
                 or (d.kind in TECHNICAL_KINDS and d.name != "silent_sensor"))  # it blocks nothing
Margins = dict[str, list[np.ndarray]]
# The calibration cross-validates over the last 8 weeks, the modeling component's window
# (`HOMETWIN_MODELING_WINDOW_DAYS`): the home's current habits, and a year of history costs no more
# time than the window (4 trainings on 6 weeks instead of on 9 months).
HISTORY = timedelta(days=56)  # per detector: one row of check margins per replayed day
_time = attrgetter("time")


def calibrate(events: Sequence[SensorEvent], *, tz: str, budget: float, params: ModelParams = ModelParams(),
              detection: DetectionParams = DetectionParams(), folds: int = 4, max_days: int = 28,
              cadence: timedelta = timedelta(minutes=10), prior_days: float = PRIOR_DAYS,
              history: timedelta = HISTORY) -> Calibration | None:
    """The shifts for this home's `events` (sorted or not); None when there are too few days."""
    _check_budget(budget)
    replayed = cross_validated_margins(events, tz=tz, params=params, detection=detection, folds=folds,
                                       max_days=max_days, cadence=cadence, history=history)
    if replayed is None:
        return None
    margins, days = replayed
    return _calibration(margins, days, budget, folds, prior_days)


def calibrate_or_prior(events: Sequence[SensorEvent], *, tz: str, budget: float, params: ModelParams = ModelParams(),
                       detection: DetectionParams = DetectionParams(), folds: int = 4, max_days: int = 28,
                       cadence: timedelta = timedelta(minutes=10), prior_days: float = PRIOR_DAYS) -> Calibration:
    """`calibrate`, or the prior's limits while the history is too short to cross-validate: a model
    that cannot be calibrated is never looser than what the budget implies for a typical home."""
    found = calibrate(events, tz=tz, budget=budget, params=params, detection=detection, folds=folds,
                      max_days=max_days, cadence=cadence, prior_days=prior_days)
    return found if found is not None else prior_calibration(budget)


def prior_calibration(budget: float) -> Calibration:
    """The limits of a home with no replayed day: each detector at the prior's shift for its share."""
    _check_budget(budget)
    return _calibration({name: [] for name in ALARM_DETECTORS}, 0.0, budget, 0, PRIOR_DAYS, first_week=True)


def cross_validated_margins(events: Sequence[SensorEvent], *, tz: str, params: ModelParams = ModelParams(),
                            detection: DetectionParams = DetectionParams(), folds: int = 4, max_days: int = 28,
                            cadence: timedelta = timedelta(minutes=10),
                            history: timedelta = HISTORY) -> tuple[Margins, float] | None:
    """Per detector, the check margins of the held-out days (and how many days): None when too few.
    Only the last `history` of the events takes part."""
    if not events:
        return None
    # Only the last `history` is sorted (a home-year holds six times as many events as it).
    since = max(map(_time, events)) - history
    evs = sorted(e for e in events if e.time >= since)
    first, last = evs[0].time, evs[-1].time
    n_days = int((last - first).total_seconds() // 86400)
    if n_days < 2 * folds:
        return None
    times = [e.time for e in evs]
    per_fold = max(1, min(max_days // folds, n_days // folds))
    plain = replace(detection, sensitivity=0.0)
    margins: Margins = {name: [] for name in ALARM_DETECTORS}
    replayed = 0.0
    for k in range(folds):
        lo = first + timedelta(days=k * n_days / folds)
        hi = first + timedelta(days=(k + 1) * n_days / folds)
        train = evs[:bisect.bisect_left(times, lo)] + evs[bisect.bisect_left(times, hi):]  # (sorted)
        try:
            model = train_model(train, tz=tz, params=params, checks_only=True)
        except ValueError:
            continue
        # Replay whole days spread over the block (after its first day: the window needs a history).
        block_days = max(1, int((hi - lo).total_seconds() // 86400) - 1)
        picks = sorted({1 + round(i * (block_days - 1) / max(per_fold - 1, 1)) for i in range(per_fold)})
        for d in picks:
            day0 = lo + timedelta(days=d)
            if day0 + timedelta(days=1) > hi:
                continue
            for name, row in replay_day(model, evs, times, day0, cadence, plain).items():
                margins[name].append(row)
            replayed += 1.0
    return (margins, replayed) if replayed > 0 else None


def choose_shift(counts: Sequence[int], days: float, share: float, prior: Sequence[float], prior_days: float,
                 lowest: float) -> float:
    """The smallest shift (of `SHIFTS`, at least `lowest`) whose shrunk rate, (counts + prior_days x
    prior) / (days + prior_days), is at most `share`; `MAX_SHIFT` when none is."""
    weight = days + prior_days
    for s, c, p in zip(SHIFTS.tolist(), counts, prior, strict=True):
        if s >= lowest and weight > 0 and (c + prior_days * p) / weight <= share:
            return float(s)
    return MAX_SHIFT


def fill_shares(at_floor: Mapping[str, float], budget: float) -> dict[str, float]:
    """The budget shared out over the detectors, spent where it buys delay: a detector whose
    estimated rate at its floor (its most eager allowed limit) is within an even share of what is
    left keeps only that rate, and the rest goes to the others (water-filling, from the quietest
    detector up). What the detectors can spend adds up to at most the budget."""
    shares: dict[str, float] = {}
    left = budget
    order = sorted(at_floor, key=lambda name: at_floor[name])
    for k, name in enumerate(order):
        even = left / (len(order) - k)
        shares[name] = even
        left -= min(at_floor[name], even)
    return shares


def _calibration(margins: Mapping[str, list[np.ndarray]], days: float, budget: float, folds: int,
                 prior_days: float, *, first_week: bool = False) -> Calibration:
    share = budget / len(margins)  # an even share: what the rule of three must be able to show
    # "No false alarm in n days" bounds the rate by 3 / n (95 %, the rule of three): only a history
    # long enough to show a rate below the share may make a detector more eager than its default.
    lowest = MIN_SHIFT if days >= 3.0 / share else 0.0
    shifts: dict[str, float] = {}
    at_default: dict[str, int] = {}
    at_shift: dict[str, int] = {}
    floor = float(SHIFTS[int(np.searchsorted(SHIFTS, lowest - 1e-9))])
    weight = max(days + prior_days, 1e-9)
    at_floor = {name: (sum(episodes(r, floor) for r in rows)
                       + prior_days * prior_rate(name, floor, first_week=first_week)) / weight
                for name, rows in margins.items()}
    shares = fill_shares(at_floor, budget)
    for name, rows in margins.items():
        counts = [sum(episodes(r, s) for r in rows) for s in SHIFTS.tolist()]
        prior = [prior_rate(name, s, first_week=first_week) for s in SHIFTS.tolist()]
        chosen = choose_shift(counts, days, shares[name], prior, prior_days, lowest)
        shifts[name] = chosen
        at_default[name] = sum(episodes(r, 0.0) for r in rows)
        at_shift[name] = sum(episodes(r, chosen) for r in rows)
    return Calibration(budget, shifts, days, folds, at_default, at_shift, prior_days,
                       {name: round(v, 5) for name, v in shares.items()})


def _check_budget(budget: float) -> None:
    if budget <= 0:
        raise ValueError("the false-alarm budget must be positive (alarms per day)")


def replay_day(model: Any, evs: list[SensorEvent], times: list[datetime], day0: datetime, cadence: timedelta,
               params: DetectionParams) -> dict[str, np.ndarray]:
    """Per alarm detector, its largest margin (score - limit) at every check of one day."""
    steps = int(timedelta(days=1) / cadence)
    out = {name: np.full(steps, -np.inf) for name in ALARM_DETECTORS}
    for i in range(steps):
        now = day0 + i * cadence
        hi = bisect.bisect_right(times, now)
        lo = bisect.bisect_left(times, now - RECENT_WINDOW)
        for a in assess(model, evs[lo:hi], now, params, detectors=REPLAYED, scores_only=True):
            name = a.finding.kind.value
            if name in out and a.finding.severity in (Severity.EMERGENCY, Severity.WARNING):
                out[name][i] = max(out[name][i], a.margin)
    return out


# The names the tests and the benchmarks used before these became public.
_replay_day, _episodes = replay_day, episodes
