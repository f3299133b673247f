"""The count CUSUM for night-time toilet visits: a Poisson likelihood ratio for one visit more a
night, next to the rank CUSUM (domain/change.py, docs/trends.md "Counts")."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pytest

from hometwin.domain.change import COUNT_STEP_LIMIT, ChangeParams, count_evidence, track_indicator
from hometwin.domain.indicators import SPECS

TOILET = SPECS["night_toilet_visits"]
RANK_ONLY = replace(ChangeParams(), h_count=0.0)


def days(n: int) -> tuple[date, ...]:
    return tuple(date(2024, 1, 1) + timedelta(days=i) for i in range(n))


def test_the_evidence_of_a_night_is_the_poisson_likelihood_ratio() -> None:
    p = ChangeParams()
    assert p.count_shift == 1.0
    # usually once a night: the ratio of Poisson(2) to Poisson(1)
    assert count_evidence(0, 1.0) == pytest.approx(-1.0)
    assert count_evidence(2, 1.0) == pytest.approx(2 * math.log(2) - 1)
    # usually three times: one more is a third more
    assert count_evidence(4, 3.0) == pytest.approx(4 * math.log(4 / 3) - 1)
    # a person who never goes is assumed to go at count_floor a night; one extraordinary night is capped
    assert count_evidence(1, 0.0) == count_evidence(1, p.count_floor)
    assert count_evidence(0, 0.0) == pytest.approx(-1.0)
    # one night weighs little: at least four nights make a report, however odd one of them is
    assert count_evidence(3, 1.0) == count_evidence(9, 1.0) == COUNT_STEP_LIMIT
    assert 3 * COUNT_STEP_LIMIT <= p.h_count
    with pytest.raises(ValueError):
        ChangeParams(count_shift=0)
    with pytest.raises(ValueError):
        ChangeParams(h_count=-1)


def first_report(x: np.ndarray, start: int, params: ChangeParams) -> int | None:
    trend = track_indicator(TOILET, days(len(x)), x, params)
    found = [days(len(x)).index(c.detected) - start for c in trend.changes
             if c.direction == "up" and days(len(x)).index(c.detected) >= start]
    return min(found) if found else None


def test_one_more_visit_a_night_is_found_sooner_than_by_ranks_alone() -> None:
    """Once a night becoming twice: Lorden's bound says about ln(ARL) / 0.39 nights; the rank CUSUM,
    tuned to a shift of one standard deviation of a tie-heavy count, takes longer."""
    both, rank = [], []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        x = np.concatenate([rng.poisson(1.0, 56), rng.poisson(2.0, 28)]).astype(float)
        both.append(first_report(x, 56, ChangeParams()))
        rank.append(first_report(x, 56, RANK_ONLY))

    def median(delays: list[int | None]) -> float:
        return float(np.median([d if d is not None else 99 for d in delays]))

    assert median(both) < median(rank)
    assert median(both) <= 14
    assert sum(d is not None and d <= 21 for d in both) >= 0.8 * len(both)


def test_the_count_cusum_stays_quiet_on_unchanged_nights() -> None:
    """Poisson nights at 0.5, 1 and 2 a night for 20 weeks after the 8 weeks of learning: false reports
    of the toilet indicator, both CUSUMs together, stay under a third of the monthly budget of one
    (measured 0.1 to 0.3 a month; docs/trends.md)."""
    reports = nights = 0
    for rate in (0.5, 1.0, 2.0):
        for seed in range(20):
            x = np.random.default_rng(100 + seed).poisson(rate, 196).astype(float)
            trend = track_indicator(TOILET, days(196), x)
            reports += len(trend.changes)
            nights += int(np.count_nonzero(~np.isnan(trend.z)))
    assert nights > 10_000
    assert 30 * reports / nights < 0.34


def test_a_fall_in_visits_is_left_to_the_rank_cusum() -> None:
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.poisson(2.0, 70), np.zeros(30)]).astype(float)  # stops going at night
    trend = track_indicator(TOILET, days(100), x)
    after = [c for c in trend.changes if c.detected >= days(100)[70]]
    assert [c.direction for c in after] == ["down"]
    assert (after[0].detected - days(100)[70]).days <= 14
