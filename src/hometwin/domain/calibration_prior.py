"""The prior of the per-home calibration (domain/calibration.py): how often each alarm detector
fires falsely at each limit shift in a home the twin knows little about.

Learned once on the development homes of the simulated population (never the held-out seeds,
never the public homes the figures are measured on): in each home a model is trained on the first
week and replayed on the week after it, at the calibration's pace; `PRIOR_RATES` are the false-alarm
episodes a day pooled over those replayed days, per detector and shift. That is the situation of a
model that cannot be calibrated yet, so a first week's limits taken from it are as conservative as
the budget asks for a typical home; later models shrink their own counts toward it.

Reproduce the table (about a minute and a half on one core; 80 homes, 560 replayed days):

    PYTHONPATH=src python -m hometwin.evaluation.calibration_prior --seed 1 --homes 80 --days 15

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

# The detectors that alarm about the person (their names are their findings' kinds).
ALARM_DETECTORS = ("unusual_silence", "prolonged_stay", "missing_routine", "not_back_home")
SHIFTS = np.round(np.arange(-1.0, 4.0 + 0.125, 0.25), 6)  # the limit shifts a calibration chooses from
# How many days the prior weighs against a home's own replayed days: with two weeks of them the home
# and the prior count alike; a one-week model (nothing replayed) takes the prior alone.
PRIOR_DAYS = 14.0

# False-alarm episodes a day at each shift of `SHIFTS` (-1.0, -0.75, ..., 4.0), per detector.
PRIOR_RATES: dict[str, tuple[float, ...]] = {
    "unusual_silence": (
        1.3119, 1.0606, 0.902, 0.754, 0.6221, 0.5116, 0.4189,
        0.3262, 0.2299, 0.1586, 0.1034, 0.057, 0.0232, 0.0143,
        0.0107, 0.0053, 0.0018, 0, 0, 0, 0,
    ),
    "prolonged_stay": (
        0.5258, 0.4135, 0.3119, 0.2371, 0.1836, 0.1355, 0.1123,
        0.0909, 0.066, 0.0463, 0.0285, 0.0196, 0.016, 0.0143,
        0.0089, 0.0089, 0.0071, 0.0071, 0.0053, 0.0036, 0.0036,
    ),
    "missing_routine": (
        0.1016, 0.0677, 0.0588, 0.0517, 0.0481, 0.0374, 0.0339,
        0.0321, 0.0321, 0.0285, 0.0285, 0.0285, 0.0285, 0.0285,
        0.0285, 0.0285, 0.0285, 0.0267, 0.0267, 0.025, 0.0232,
    ),
    "not_back_home": (
        0.0499, 0.0481, 0.0446, 0.0446, 0.0392, 0.0357, 0.0357,
        0.0339, 0.0321, 0.0303, 0.0303, 0.0303, 0.0285, 0.0285,
        0.0285, 0.0285, 0.0285, 0.0285, 0.0285, 0.0285, 0.0267,
    ),
}


def prior_rate(detector: str, shift: float) -> float:
    """The prior's false alarms a day of `detector` at `shift` (0 for a detector it does not know)."""
    rates = PRIOR_RATES.get(detector)
    if rates is None:
        return 0.0
    i = int(np.clip(np.searchsorted(SHIFTS, shift - 1e-9), 0, len(SHIFTS) - 1))
    return rates[i]


def pooled_rates(margins: Mapping[str, Sequence[np.ndarray]], days: float) -> dict[str, tuple[float, ...]]:
    """Episodes a day at every shift, per detector, pooled over replayed days (one margin row each)."""
    if days <= 0:
        raise ValueError("the prior needs at least one replayed day")
    from hometwin.domain.calibration import episodes

    return {name: tuple(round(sum(episodes(r, s) for r in rows) / days, 4) for s in SHIFTS.tolist())
            for name, rows in margins.items()}
