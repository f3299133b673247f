"""The prior of the per-home calibration (domain/calibration.py): how often each alarm detector
fires falsely at each limit shift in a home the twin knows little about.

Learned once on development homes of the simulated population (never the held-out seeds, never
the public homes the figures are measured on): in each home a model is trained on the first days
and replayed on the week after them at the calibration's pace (days touching a gateway outage are
left out, as the evaluation leaves them out); the rates are the false-alarm episodes a day pooled
over the replayed days, per detector and shift. Two situations, two tables:

- `FIRST_WEEK_RATES`: a model learned from one week, the one that cannot be calibrated yet. Its
  limits are the prior's alone, as conservative as the budget asks for a typical home.
  `PYTHONPATH=src python -m hometwin.evaluation.calibration_prior --seed 1 --homes 80 --days 15`
- `LATER_RATES`: a model learned from three weeks, what a calibrated model's own counts are shrunk
  toward (a first-week prior there would hold later models back more than they need).
  `PYTHONPATH=src python -m hometwin.evaluation.calibration_prior --seed 2 --homes 50 --days 29 --train-days 21`

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

# The detectors that alarm about the person (their names are their findings' kinds).
ALARM_DETECTORS = ("unusual_silence", "prolonged_stay", "missing_routine", "not_back_home")
SHIFTS = np.round(np.arange(-1.0, 4.0 + 0.125, 0.25), 6)  # the limit shifts a calibration chooses from
# How many days the prior weighs against a home's own replayed days: with two weeks of them the home
# and the prior count alike; a one-week model (nothing replayed) takes the first-week prior alone.
PRIOR_DAYS = 14.0

# False-alarm episodes a day at each shift of `SHIFTS` (-1.0, -0.75, ..., 4.0), per detector.
FIRST_WEEK_RATES: dict[str, tuple[float, ...]] = {
    "unusual_silence": (
        1.3248, 1.0679, 0.9046, 0.7541, 0.6183, 0.5046, 0.411,
        0.3156, 0.2257, 0.1541, 0.0972, 0.0495, 0.0165, 0.0092,
        0.0073, 0.0037, 0.0018, 0, 0, 0, 0,
    ),
    "prolonged_stay": (
        0.5248, 0.411, 0.3046, 0.233, 0.1817, 0.1339, 0.1138,
        0.0954, 0.0697, 0.044, 0.0294, 0.0202, 0.0165, 0.0147,
        0.0092, 0.0092, 0.0073, 0.0073, 0.0055, 0.0037, 0.0037,
    ),
    "missing_routine": (
        0.0972, 0.0624, 0.0532, 0.0459, 0.0422, 0.033, 0.0294,
        0.0275, 0.0275, 0.0257, 0.0257, 0.0257, 0.0257, 0.0257,
        0.0257, 0.0257, 0.0257, 0.0239, 0.0239, 0.022, 0.0202,
    ),
    "not_back_home": (
        0.0495, 0.0459, 0.0404, 0.0367, 0.0349, 0.033, 0.033,
        0.033, 0.0312, 0.0294, 0.0275, 0.0275, 0.0275, 0.0257,
        0.0257, 0.0257, 0.0239, 0.0239, 0.0239, 0.0239, 0.022,
    ),
}
# ... of a model learned from three weeks, on the week after them.
LATER_RATES: dict[str, tuple[float, ...]] = {
    "unusual_silence": (
        0.8329, 0.5274, 0.3775, 0.2738, 0.2104, 0.1614, 0.1124,
        0.0951, 0.0749, 0.0519, 0.0461, 0.0432, 0.0259, 0.0202,
        0.0058, 0, 0, 0, 0, 0, 0,
    ),
    "prolonged_stay": (
        0.2882, 0.2421, 0.196, 0.1556, 0.121, 0.072, 0.049,
        0.0317, 0.0259, 0.0231, 0.0144, 0.0086, 0.0058, 0.0058,
        0.0058, 0, 0, 0, 0, 0, 0,
    ),
    "missing_routine": (
        0.0605, 0.0432, 0.0231, 0.0231, 0.0231, 0.0115, 0.0086,
        0.0058, 0.0058, 0.0058, 0.0058, 0.0058, 0.0058, 0.0058,
        0.0058, 0.0058, 0.0058, 0.0058, 0.0058, 0.0058, 0.0058,
    ),
    "not_back_home": (
        0.0202, 0.0144, 0.0086, 0.0086, 0.0086, 0.0086, 0.0086,
        0.0029, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0,
    ),
}


def prior_rate(detector: str, shift: float, *, first_week: bool = False) -> float:
    """The prior's false alarms a day of `detector` at `shift` (0 for a detector it does not know):
    of a model learned from the first week, or (default) of one learned from three weeks."""
    rates = (FIRST_WEEK_RATES if first_week else LATER_RATES).get(detector)
    if rates is None:
        return 0.0
    i = int(np.clip(np.searchsorted(SHIFTS, shift - 1e-9), 0, len(SHIFTS) - 1))
    return rates[i]


def pooled_rates(margins: Mapping[str, Sequence[np.ndarray]], days: float) -> dict[str, tuple[float, ...]]:
    """Episodes a day at every shift, per detector, pooled over replayed days (one margin row each)."""
    if days <= 0:
        raise ValueError("the prior needs at least one replayed day")
    return {name: tuple(round(sum(episodes(r, s) for r in rows) / days, 4) for s in SHIFTS.tolist())
            for name, rows in margins.items()}


def episodes(margins: np.ndarray, shift: float) -> int:
    """Runs of consecutive checks whose margin reaches `shift`: one false alarm each."""
    on = margins >= shift
    return int(on[0]) + int(np.count_nonzero(on[1:] & ~on[:-1])) if len(on) else 0
