"""Exact (Garwood) confidence intervals for a Poisson count, hence for a false-alarm rate.

For k observed events the 1 - alpha interval of the mean is [chi2(alpha/2; 2k)/2,
chi2(1 - alpha/2; 2k + 2)/2] (Garwood 1936). For even degrees of freedom the chi-square quantile
is the root of a Poisson tail: P(Poisson(mu) >= k) = alpha/2 for the lower bound and
P(Poisson(mu) <= k) = alpha/2 for the upper one. Both tails are finite sums, monotone in mu, so
the bounds are found by bisection to 1e-12 relative precision; no statistics library is needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable


def _poisson_cdf(k: int, mu: float) -> float:
    """P(X <= k) for X ~ Poisson(mu), summed in log space so large k and mu do not overflow."""
    if mu <= 0.0:
        return 1.0
    log_mu = math.log(mu)
    terms = [i * log_mu - mu - math.lgamma(i + 1) for i in range(k + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * math.fsum(math.exp(t - top) for t in terms))


def _root(f: Callable[[float], float], lo: float, hi: float) -> float:
    """The mu in [lo, hi] where the decreasing function f crosses zero."""
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if f(mid) > 0:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def poisson_interval(k: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact two-sided interval of the Poisson mean after observing `k` events."""
    if k < 0 or int(k) != k:
        raise ValueError(f"a count must be a non-negative integer, got {k!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    k = int(k)
    half = (1.0 - confidence) / 2.0
    top = k + 20.0 * math.sqrt(k + 1.0) + 20.0
    upper = _root(lambda mu: _poisson_cdf(k, mu) - half, 0.0, top)
    lower = 0.0 if k == 0 else _root(lambda mu: half - (1.0 - _poisson_cdf(k - 1, mu)), 0.0, top)
    return lower, upper


def rate_interval(k: int, days: float, confidence: float = 0.95) -> tuple[float, float] | None:
    """The interval of a rate per day: k events in `days` days; None without test time."""
    if days <= 0:
        return None
    lo, hi = poisson_interval(k, confidence)
    return lo / days, hi / days
