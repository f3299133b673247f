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


# (indicator, the series with a lasting change ramped in, the same person unchanged at the new level)
GRADUAL = {
    # night-time toilet visits doubled (Poisson 1 -> 2), ramped over 5 days as in the evaluation
    "night_toilet_visits": (
        lambda rng: np.concatenate([rng.poisson(1.0, BEFORE), rng.poisson(np.minimum(1 + np.arange(AFTER) / 5, 2))]),
        lambda rng: rng.poisson(2.0, BEFORE + AFTER)),
    # 1.5 h more in bed, ramped over 7 days
    "time_in_bed": (
        lambda rng: np.concatenate([rng.normal(8, 0.7, BEFORE),
                                    rng.normal(8 + np.minimum(np.arange(AFTER) / 7, 1) * 1.5, 0.7)]),
        lambda rng: rng.normal(9.5, 0.7, BEFORE + AFTER)),
}


@pytest.mark.parametrize("key", sorted(GRADUAL))
def test_a_lasting_gradual_change_is_reported_once_then_only_at_the_ordinary_rate(key: str) -> None:
    """Over twenty weeks, a report after the first is a false report against the new normal: it comes
    no more often than on a person who always lived at the new level. Without relearning the CUSUM
    would restart against the old normal and report the same change again every few days."""
    n = BEFORE + AFTER
    changed, unchanged = GRADUAL[key]
    first_up = later = later_days = still = still_days = 0
    for seed in range(40):
        trend = track_indicator(SPECS[key], days(n), changed(np.random.default_rng(seed)).astype(float))
        reports = [c for c in trend.changes if days(n).index(c.detected) >= BEFORE]
        if reports:
            first_up += reports[0].direction == "up"
            later += len(reports) - 1
            later_days += n - days(n).index(reports[0].detected) - ChangeParams().min_days
        same = track_indicator(SPECS[key], days(n), unchanged(np.random.default_rng(1000 + seed)).astype(float))
        still += len(same.changes)
        still_days += int(np.count_nonzero(~np.isnan(same.z)))
    assert first_up >= 36  # 90 % of the homes report the change, as a rise
    assert later_days > 3000
    later_rate, still_rate = 30 * later / later_days, 30 * still / still_days
    assert later_rate <= 1.25 * still_rate + 0.05  # the new normal: ordinary false reports only
    assert later_rate < 0.5  # "every week" would be 4.3 a month
