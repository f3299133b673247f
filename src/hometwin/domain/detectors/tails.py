"""From a learned distribution and an observation to a surprise, and back.

A surprise is -log10 of the probability that the learned behaviour produces something at least this
extreme (2 = 1 in 100, 4 = 1 in 10,000). Every function here grows with the observation, which is
what keeps each detector's score from falling while nothing happens.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any


def tail_score(dist: Any, x: float, few_samples: float, clock: bool = False) -> float:
    """Surprise of `x` under `dist`: -log10 of the larger of two tail estimates.

    The empirical tail (`dist.percentile`, the learned quantiles, log-normal beyond p99) keeps heavy
    tails heavy; a log-normal fit whose spread is widened for cells with few samples,
    sqrt(1 + few_samples / n), keeps a cell learned from three visits from being razor-sharp.
    """
    n = max(float(dist.n), 1.0)
    widen = math.sqrt(1.0 + few_samples / n)
    if clock:
        # A time of day: a normal in minutes with the spread of the learned quantiles (the log of a
        # clock time means nothing, and a log-normal tail would wait for hours past the usual time).
        sd = max((float(dist.p90) - float(dist.median)) / 1.2816, 10.0) * widen
        z = (x - float(dist.median)) / sd
        return -math.log10(max(0.5 * math.erfc(z / math.sqrt(2.0)), 1e-300))
    z = (math.log(max(x, 1e-9)) - float(dist.log_mu)) / (max(float(dist.log_sigma), 0.05) * widen)
    tail = 0.5 * math.erfc(z / math.sqrt(2.0))
    pct = float(dist.percentile(x))
    if pct == pct:
        tail = max(tail, 1.0 - min(pct, 100.0) / 100.0)
    return -math.log10(max(tail, 1e-300))


def value_at(dist: Any, limit: float, few_samples: float, clock: bool = False) -> float:
    """The smallest x whose surprise reaches `limit` (bisection in log x; the score grows with x)."""
    lo, hi = 0.0, math.log(400 * 86400.0)
    if tail_score(dist, math.exp(hi), few_samples, clock) < limit:
        return math.inf
    for _ in range(40):
        mid = (lo + hi) / 2
        if tail_score(dist, math.exp(mid), few_samples, clock) >= limit:
            hi = mid
        else:
            lo = mid
    return math.exp(hi)


def percentile_of(score: float) -> float:
    """Where an observation with this surprise falls in its distribution (0..100)."""
    return 100.0 * (1.0 - 10.0 ** (-max(score, 0.0)))


def plus(t: datetime, seconds: float) -> datetime | None:
    """`t` + `seconds`, or None when the moment never comes (inf or nan seconds)."""
    return t + timedelta(seconds=seconds) if math.isfinite(seconds) else None
