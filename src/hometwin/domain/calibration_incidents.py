"""The alerts a home would get at a vector of limit shifts, and the vector that buys the most delay
within a false-alarm budget (domain/calibration.py uses both).

A fall shows in two or three person-level detectors at once, and the monitoring sends one alert for
them (detection.py, `PERSON_KINDS`): a budget shared out per detector counts such an incident two or
three times and wastes what it double-counts. Here the checks of the replayed days are kept as
*levels*: per check and detector, how many of the calibration's shifts (`SHIFTS`) its margin reaches
(0: none; the detector fires at shift index k iff its level is above k). For a vector of shift
indices, an alert is a run of consecutive checks where any person-level detector fires, plus,
separately, a run where "not back home" fires (a warning of its own). Only checks where some
detector fires at some shift are kept, in *blocks* of consecutive checks, so a replayed day costs
the few checks around its incidents.

The search (`cheapest_shifts`) starts from the most conservative vector and lowers, one move at a
time, the detector whose move buys the most delay per false alarm a day added, while the home's
estimated alert rate stays within the budget. The delay a move buys is the shift it takes off,
weighted by how much that detector notices falls (`DELAY_WEIGHTS`): the silence and the stay see a
fall; the missing routine only one before the day starts; "not back home" none inside the home, so
its limit stays at the top (+4; when it was lowered wherever that looked free, its false warnings
were a fifth of the alerts on the development population).

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from hometwin.domain.calibration_prior import ALARM_DETECTORS, SHIFTS

__all__ = ["DELAY_WEIGHTS", "Levels", "cheapest_shifts", "decode_blocks", "encode_blocks", "levels_of",
           "prior_levels"]

PERSON = ALARM_DETECTORS[:3]  # silence, prolonged stay, missing routine: one alert together
# How much a step down of each detector's limit buys toward noticing a fall: the delay proxy.
DELAY_WEIGHTS = {"unusual_silence": 1.0, "prolonged_stay": 1.0, "missing_routine": 0.25, "not_back_home": 0.0}
_LETTERS = "abcdefghijklmnopqrstuvwxyz"  # level 0..len(SHIFTS) as one letter, for the stored prior


@dataclass(frozen=True)
class Levels:
    """The kept checks of some replayed days: `levels[i, d]` for detector `ALARM_DETECTORS[d]`, and
    whether check i starts a block (is not right after the previous kept check)."""

    levels: np.ndarray  # int8, (checks, detectors)
    starts: np.ndarray  # bool, (checks,)
    days: float

    def alerts(self, ks: Sequence[int]) -> int:
        """Alerts at shift indices `ks` (one per detector): person-level incidents + not-back-home ones."""
        k = np.asarray(ks)
        return (_runs(self.starts, (self.levels[:, :3] > k[:3]).any(axis=1))
                + _runs(self.starts, self.levels[:, 3] > k[3]))

    def alerts_moving(self, ks: Sequence[int], d: int) -> np.ndarray:
        """Alerts at `ks` with detector `d` at every shift index instead (vectorized over them)."""
        n = len(SHIFTS)
        on_d = self.levels[:, d][None, :] > np.arange(n)[:, None]  # (shifts, checks)
        others = [j for j in range(3) if j != d]
        k = np.asarray(ks)
        if d < 3:
            rest = (self.levels[:, others] > k[others]).any(axis=1)
            away = _runs(self.starts, self.levels[:, 3] > k[3])
            return _runs_rows(self.starts, on_d | rest[None, :]) + away
        person = _runs(self.starts, (self.levels[:, :3] > k[:3]).any(axis=1))
        return _runs_rows(self.starts, on_d) + person


def _runs(starts: np.ndarray, on: np.ndarray) -> int:
    if not on.size:
        return 0
    prev = np.concatenate(([False], on[:-1])) & ~starts
    return int(np.count_nonzero(on & ~prev))


def _runs_rows(starts: np.ndarray, on: np.ndarray) -> np.ndarray:
    if not on.shape[1]:
        return np.zeros(on.shape[0], dtype=int)
    prev = np.concatenate((np.zeros((on.shape[0], 1), dtype=bool), on[:, :-1]), axis=1) & ~starts[None, :]
    return np.count_nonzero(on & ~prev, axis=1)


def levels_of(margins: Mapping[str, Sequence[np.ndarray]], days: float) -> Levels:
    """The levels of replayed days: per detector one margin row per day (the same days for all)."""
    rows = [margins.get(name, []) for name in ALARM_DETECTORS]
    if len({len(r) for r in rows}) > 1:
        raise ValueError("every alarm detector needs a margin row for every replayed day")
    keep: list[np.ndarray] = []
    starts: list[np.ndarray] = []
    for day_rows in zip(*rows, strict=True):
        day = np.stack([np.searchsorted(SHIFTS, r, side="right") for r in day_rows], axis=1)
        kept = np.nonzero(day.max(axis=1) > 0)[0]
        keep.append(day[kept])
        starts.append(np.concatenate(([True], np.diff(kept) > 1)) if kept.size else np.zeros(0, dtype=bool))
    if not keep:
        return Levels(np.zeros((0, len(ALARM_DETECTORS)), dtype=np.int8), np.zeros(0, dtype=bool), days)
    return Levels(np.concatenate(keep).astype(np.int8), np.concatenate(starts), days)


def encode_blocks(levels: Levels) -> str:
    """The levels as text (one letter per detector and check, blocks separated by spaces), to store."""
    out: list[str] = []
    for i, row in enumerate(levels.levels.tolist()):
        if i and levels.starts[i]:
            out.append(" ")
        out.append("".join(_LETTERS[v] for v in row))
    return "".join(out)


def decode_blocks(text: str, days: float) -> Levels:
    width = len(ALARM_DETECTORS)
    rows: list[list[int]] = []
    starts: list[bool] = []
    for block in text.split():
        if len(block) % width:
            raise ValueError(f"a stored block of levels is {len(block)} letters long, not a multiple of {width}")
        for j in range(0, len(block), width):
            rows.append([_LETTERS.index(c) for c in block[j:j + width]])
            starts.append(j == 0)
    shape = (len(rows), width)
    return Levels(np.array(rows, dtype=np.int8).reshape(shape), np.array(starts, dtype=bool), days)


@cache
def prior_levels(*, first_week: bool = False) -> Levels:
    """The prior's replayed days (domain/calibration_prior_rows.py): of models learned from the first
    week, or (default) from three weeks."""
    from hometwin.domain.calibration_prior_rows import FIRST_WEEK_ROWS, LATER_ROWS

    days, text = FIRST_WEEK_ROWS if first_week else LATER_ROWS
    return decode_blocks(text, days)


def cheapest_shifts(home: Levels, prior: Levels, prior_days: float, budget: float, lowest: int,
                    weights: Mapping[str, float] = DELAY_WEIGHTS) -> tuple[list[int], float]:
    """Shift indices (one per detector, at least `lowest`) and the home's estimated alerts a day there.

    The estimate is (alerts here + `prior_days` x the prior's alerts a day) / (days here +
    `prior_days`), a Gamma-Poisson posterior mean. Greedy from the top: each move lowers one
    detector to whichever lower shift gives the most weighted shift off per alert a day added (a
    move that adds none first, the largest such), as long as the estimate stays within `budget`."""
    top = len(SHIFTS) - 1
    ks = [top] * len(ALARM_DETECTORS)
    weight = home.days + prior_days
    prior_scale = prior_days / prior.days if prior.days > 0 else 0.0

    def estimate(here: np.ndarray | int, there: np.ndarray | int) -> np.ndarray:
        return np.asarray((here + prior_scale * np.asarray(there)) / weight, dtype=float)

    rate = float(estimate(home.alerts(ks), prior.alerts(ks)))
    w = [weights.get(name, 0.0) for name in ALARM_DETECTORS]
    while True:
        best: tuple[float, float, int, int, float] | None = None  # (value, drop, detector, k, rate)
        for d in range(len(ALARM_DETECTORS)):
            if w[d] <= 0 or ks[d] <= lowest:
                continue
            rates = estimate(home.alerts_moving(ks, d), prior.alerts_moving(ks, d))
            for k in range(lowest, ks[d]):
                if rates[k] > budget + 1e-12:
                    continue
                drop = w[d] * (ks[d] - k)
                cost = rates[k] - rate
                value = np.inf if cost <= 1e-12 else drop / cost
                if best is None or (value, drop) > (best[0], best[1]):
                    best = (value, drop, d, k, float(rates[k]))
        if best is None:
            return ks, rate
        _, _, d, k, rate = best
        ks[d] = k
