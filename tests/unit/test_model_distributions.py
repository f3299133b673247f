"""Sketches, pooled distributions and count distributions (domain/distributions.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hometwin.domain.distributions import CountDistribution, CountStats, Sketch, pool_counts, pool_sketches


def lognormal(n: int, median: float, sigma: float, seed: int = 1) -> np.ndarray:
    return np.exp(np.random.default_rng(seed).normal(math.log(median), sigma, n))


def test_sketch_of_lognormal_data_recovers_its_parameters() -> None:
    s = Sketch.of(lognormal(5000, 300, 0.8))
    assert s.log_mu == pytest.approx(math.log(300), abs=0.05)
    assert s.log_sigma == pytest.approx(0.8, abs=0.05)
    d = pool_sketches([("cell", s)], 10)
    assert d.level == "cell" and d.n == 5000
    assert d.median == pytest.approx(300, rel=0.05)
    assert d.p95 == pytest.approx(300 * math.exp(1.645 * 0.8), rel=0.1)


def test_quantile_and_percentile_are_inverse_and_monotone_including_the_tails() -> None:
    d = pool_sketches([("cell", Sketch.of(lognormal(400, 600, 0.5)))], 10)
    xs = [1, 50, 200, 600, 1500, d.p99, 3 * d.p99, 30 * d.p99]
    ps = [d.percentile(x) for x in xs]
    assert ps == sorted(ps) and 0 <= ps[0] and ps[-1] <= 100
    assert ps[-1] > 99.99  # far beyond p99: the log-normal tail, not a flat 99
    for q in (0.001, 0.02, 0.3, 0.5, 0.93, 0.99, 0.999):
        assert d.percentile(d.quantile(q)) == pytest.approx(100 * q, abs=0.5)


def test_shrinkage_weights_follow_the_sample_counts() -> None:
    parent = Sketch.of([100.0] * 50)
    for n, expected_weight in ((1, 1 / 11), (10, 0.5), (90, 0.9)):
        cell = Sketch.of([1000.0] * n)
        d = pool_sketches([("cell", cell), ("room", parent)], 10)
        assert d.mean == pytest.approx(100 + expected_weight * 900)
        assert d.level == ("cell" if n >= 10 else "room")
        assert d.n == (n if n >= 10 else 50)
    assert pool_sketches([("cell", None), ("room", None)], 10).n == 0
    empty = pool_sketches([("cell", None), ("home", None)], 10)
    assert empty.level == "home" and math.isnan(empty.quantile(0.5))


def test_winsorising_limits_one_outlier_but_not_a_real_spread() -> None:
    clean = [600.0 + i for i in range(30)]
    dirty = Sketch.of([*clean, 6 * 3600.0])
    assert dirty.mean < 1.2 * float(np.mean(clean))
    assert dirty.q[-1] < 3 * 630
    wide = lognormal(2000, 600, 1.2, seed=3)
    assert Sketch.of(wide).q[-1] == pytest.approx(float(np.quantile(wide, 0.99)), rel=0.02)


def test_count_distributions_overdispersed_poisson_and_strict() -> None:
    over = CountDistribution(50, mean=2.0, var=6.0, level="cell")  # negative binomial
    poisson = CountDistribution(50, mean=2.0, var=2.0, level="cell")
    strict = CountDistribution(50, mean=1.0, var=0.0, level="cell")  # exactly once a day
    for d in (over, poisson, strict):
        probs = [d.cdf(k) - d.cdf(k - 1) for k in range(200)]
        assert sum(probs) == pytest.approx(1.0, abs=1e-6)
        assert sum(k * p for k, p in enumerate(probs)) == pytest.approx(d.mean, rel=1e-3)
    assert over.quantile(0.99) > poisson.quantile(0.99) > strict.quantile(0.99) == 1
    assert over.percentile(12) > 99 and poisson.percentile(12) > over.percentile(12)
    assert strict.percentile(1) == pytest.approx(50) and strict.percentile(0) == 0
    assert math.isnan(CountDistribution.empty().quantile(0.5))


def test_pooled_counts_and_round_trips() -> None:
    cell, room = CountStats.of([3, 3, 3]), CountStats.of([1] * 40 + [0] * 40)
    d = pool_counts([("cell", cell), ("room", room)], 10)
    assert d.level == "room" and d.mean == pytest.approx((3 * 3 + 10 * 0.5) / 13)
    assert CountStats.from_json(cell.to_json()) == cell
    s = Sketch.of([1.0, 2.0, 3.0])
    assert Sketch.from_json(s.to_json()).q == pytest.approx(s.q, abs=0.05)
    with pytest.raises(ValueError):
        Sketch.from_json({**s.to_json(), "q": [1.0]})
    with pytest.raises(ValueError):
        Sketch.of([])
