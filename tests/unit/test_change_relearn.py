"""After a report the baseline relearns: a lasting change becomes the new normal and is reported
once, not every week (domain/change.py, docs/trends.md "Rules around it")."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from hometwin.domain.change import ChangeParams, track_indicator
from hometwin.domain.indicators import SPECS

BEFORE, AFTER = 56, 140  # eight weeks of normal, then twenty weeks of the changed routine


def days(n: int) -> tuple[date, ...]:
    return tuple(date(2024, 1, 1) + timedelta(days=i) for i in range(n))


def test_a_lasting_shift_is_reported_once_and_becomes_the_normal() -> None:
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.normal(420, 20, BEFORE), rng.normal(510, 20, AFTER)])  # up 90 min later for good
    trend = track_indicator(SPECS["getting_up"], days(BEFORE + AFTER), x)
    assert [c.direction for c in trend.changes] == ["up"]  # once, not every week
    detected = days(BEFORE + AFTER).index(trend.changes[0].detected)
    params = ChangeParams()
    # learning from the days after the report: no band for 14 days, then the new level is the normal
    assert np.isnan(trend.centre[detected + 1:detected + params.min_days]).all()
    assert trend.centre[detected + params.min_days + 1] == pytest.approx(510, abs=15)  # 14 days: noisy
    assert trend.centre[-1] == pytest.approx(510, abs=10)
    later = trend.z[detected + params.min_days + 1:]
    assert abs(float(np.nanmean(later))) < 0.5  # the new mornings score as ordinary days
    assert float(np.max(trend.cusum_up[detected + params.min_days + 1:])) < params.h


@pytest.mark.parametrize(("key", "make"), [
    # night-time toilet visits doubled (Poisson 1 -> 2), ramped over 5 days as in the evaluation
    ("night_toilet_visits",
     lambda rng: np.concatenate([rng.poisson(1.0, BEFORE), rng.poisson(np.minimum(1 + np.arange(AFTER) / 5, 2))])),
    # 1.5 h more in bed, ramped over 7 days
    ("time_in_bed",
     lambda rng: np.concatenate([rng.normal(8, 0.7, BEFORE), rng.normal(8 + np.minimum(np.arange(AFTER) / 7, 1) * 1.5,
                                                                         0.7)])),
])
def test_a_lasting_gradual_change_is_reported_once_in_most_homes(key: str, make: object) -> None:
    """Over twenty weeks a second report in the same home is a false report of the new normal, at the
    detector's ordinary rate; without relearning the CUSUM would restart against the old normal and
    report the same change again every few days."""
    n = BEFORE + AFTER
    reports = []
    for seed in range(40):
        x = make(np.random.default_rng(seed)).astype(float)  # type: ignore[operator]
        trend = track_indicator(SPECS[key], days(n), x)
        reports.append([c for c in trend.changes if days(n).index(c.detected) >= BEFORE])
    once = sum(1 for r in reports if len(r) == 1 and r[0].direction == "up")
    assert once >= 0.75 * len(reports)
    assert max(len(r) for r in reports) <= 3  # never "every week": 20 weeks would give 20
