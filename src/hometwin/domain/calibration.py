"""Per-home calibration of the alarm limits to a false-alarm budget, by cross-validation over days.

One setting for every home, the budget (alarms per day, `false_alarm_budget`), shared out equally
over the detectors that raise alarms about the person. For each, the limit shift that this home's
own history says meets its share: the days are cut into `folds` blocks; for each block a model is
trained on the other days and the block's days are replayed at the monitoring's pace with the very
check the monitoring runs (`detection.assess`); every alarm there is false (nothing happened, as far
as anybody knows). The shift is the smallest one (up to `MAX_SHIFT`) at which the held-out days had
at most the detector's share of alarm episodes. It is below zero (more eager than the defaults,
down to `MIN_SHIFT`) only when enough days were replayed to show a rate below the share at all:
no alarm in n days bounds the rate by 3 / n (the rule of three).

With a few weeks of history a share of 0.025 alarms a day means "no alarm at all in the replayed
days", so the shift lands just above the highest false alarm seen: the estimate is coarse, and the
figures (days replayed, alarms at the defaults and at the chosen shifts) are kept with it so that
`hometwin model show` can say how much to trust it.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from hometwin.domain.calibration_result import Calibration
from hometwin.domain.detection import RECENT_WINDOW, DetectionParams, assess
from hometwin.domain.events import SensorEvent
from hometwin.domain.findings import Severity
from hometwin.domain.model import train_model
from hometwin.domain.model_params import ModelParams

# The detectors that alarm about the person (their names are their findings' kinds).
ALARM_DETECTORS = ("unusual_silence", "prolonged_stay", "missing_routine", "not_back_home")
MIN_SHIFT, MAX_SHIFT, STEP = -1.0, 4.0, 0.25
SHIFTS = np.round(np.arange(MIN_SHIFT, MAX_SHIFT + STEP / 2, STEP), 6)


def calibrate(events: Sequence[SensorEvent], *, tz: str, budget: float, params: ModelParams = ModelParams(),
              detection: DetectionParams = DetectionParams(), folds: int = 4, max_days: int = 28,
              cadence: timedelta = timedelta(minutes=10)) -> Calibration | None:
    """The shifts for this home's `events` (sorted or not); None when there are too few days."""
    if budget <= 0:
        raise ValueError("the false-alarm budget must be positive (alarms per day)")
    evs = sorted(events)
    if not evs:
        return None
    first, last = evs[0].time, evs[-1].time
    n_days = int((last - first).total_seconds() // 86400)
    if n_days < 2 * folds:
        return None
    times = [e.time for e in evs]
    per_fold = max(1, min(max_days // folds, n_days // folds))
    plain = replace(detection, sensitivity=0.0)
    margins: dict[str, list[np.ndarray]] = {name: [] for name in ALARM_DETECTORS}
    replayed = 0.0
    for k in range(folds):
        lo = first + timedelta(days=k * n_days / folds)
        hi = first + timedelta(days=(k + 1) * n_days / folds)
        train = [e for e in evs if e.time < lo or e.time >= hi]
        try:
            model = train_model(train, tz=tz, params=params)
        except ValueError:
            continue
        # Replay whole days spread over the block (after its first day: the window needs a history).
        block_days = max(1, int((hi - lo).total_seconds() // 86400) - 1)
        picks = sorted({1 + round(i * (block_days - 1) / max(per_fold - 1, 1)) for i in range(per_fold)})
        for d in picks:
            day0 = lo + timedelta(days=d)
            if day0 + timedelta(days=1) > hi:
                continue
            for name, row in _replay_day(model, evs, times, day0, cadence, plain).items():
                margins[name].append(row)
            replayed += 1.0
    if replayed <= 0:
        return None
    share = budget / len(margins)
    # "No false alarm in n days" bounds the rate by 3 / n (95 %, the rule of three): only a history
    # long enough to show a rate below the share may make a detector more eager than its default.
    lowest = MIN_SHIFT if replayed >= 3.0 / share else 0.0
    shifts: dict[str, float] = {}
    at_default: dict[str, int] = {}
    at_shift: dict[str, int] = {}
    for name, rows in margins.items():
        counts = [sum(_episodes(r, s) for r in rows) for s in SHIFTS]
        ok = [s for s, c in zip(SHIFTS.tolist(), counts, strict=True) if c / replayed <= share and s >= lowest]
        chosen = float(ok[0]) if ok else MAX_SHIFT
        shifts[name] = chosen
        at_default[name] = sum(_episodes(r, 0.0) for r in rows)
        at_shift[name] = sum(_episodes(r, chosen) for r in rows)
    return Calibration(budget, shifts, replayed, folds, at_default, at_shift)


def _replay_day(model: Any, evs: list[SensorEvent], times: list[datetime], day0: datetime, cadence: timedelta,
                params: DetectionParams) -> dict[str, np.ndarray]:
    """Per alarm detector, its largest margin (score - limit) at every check of one day."""
    steps = int(timedelta(days=1) / cadence)
    out = {name: np.full(steps, -np.inf) for name in ALARM_DETECTORS}
    for i in range(steps):
        now = day0 + i * cadence
        hi = bisect.bisect_right(times, now)
        lo = bisect.bisect_left(times, now - RECENT_WINDOW)
        for a in assess(model, evs[lo:hi], now, params):
            name = a.finding.kind.value
            if name in out and a.finding.severity in (Severity.EMERGENCY, Severity.WARNING):
                out[name][i] = max(out[name][i], a.margin)
    return out


def _episodes(margins: np.ndarray, shift: float) -> int:
    """Runs of consecutive checks whose margin reaches `shift`: one false alarm each."""
    on = margins >= shift
    return int(on[0]) + int(np.count_nonzero(on[1:] & ~on[:-1])) if len(on) else 0
