"""Small, JSON-able summaries of durations and counts, and how sparse cells borrow strength.

`Sketch` summarises the samples of one cell at one pooling level (durations in seconds, or minutes
after midnight): n, a winsorised mean, a robust log-normal fit (median and MAD of the logs) and a
fixed grid of quantiles. `CountStats` summarises per-period visit counts: n periods, mean, variance.

Pooling ("shrinkage by sample count", the credibility formula): the levels of a question are
ordered from fine to coarse, e.g. cell (room, weekday, hour) -> daytype (room, weekday/weekend,
hour) -> hour (room, all weekdays, hour) -> room -> home. Starting from the coarsest level with data,
each finer level with n samples is mixed in as

    estimate = (n * own + k * coarser_estimate) / (n + k)         k = prior_strength

so a cell with n >> k speaks for itself, a cell with n = 0 is its parent, and a cell with n = k is
half-half. Quantile vectors are mixed the same way (a weighted average of quantile functions is
itself a quantile function). The answer's `.level` is the finest level whose own samples carry at
least half of the weight (n >= k), else the coarsest level that has data; `.n` is that level's n.

Robustness: the log-normal fit uses median and MAD of log values, so a few anomalies (a six-hour
bathroom stay in the training weeks) hardly move it; before the mean and quantiles are taken,
values beyond median * exp(+-outlier_k * max(sigma, 0.35)) are winsorised (clipped): for
log-normal data that is beyond the 99.8th percentile (k = 3), so it hardly touches a real tail, but
one six-hour stay among ten-minute ones is clipped to about 3x the median.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

QUANTILE_GRID = (0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
_GRID = np.array(QUANTILE_GRID)
_Z = NormalDist()
MIN_SIGMA = 0.05  # a spread below this is noise in the timestamps, not a real routine
FENCE_MIN_SIGMA = 0.35  # the winsorising fence is never tighter than exp(+-k * 0.35)
ROBUST_MIN_N = 8  # fewer samples are too few to call any of them an outlier
LOG_FLOOR = 1.0  # values below 1 (second or minute) count as 1 in the log fit
LEVELS = ("cell", "daytype", "hour", "room", "home")


@dataclass(frozen=True, slots=True)
class Sketch:
    """The summary of one cell's own samples (no pooling)."""

    n: int
    mean: float
    log_mu: float
    log_sigma: float
    q: tuple[float, ...]  # values at QUANTILE_GRID

    @classmethod
    def of(cls, values: Sequence[float] | np.ndarray, outlier_k: float = 3.0) -> Sketch:
        x = np.asarray(values, dtype=np.float64)
        n = len(x)
        if n == 0:
            raise ValueError("a sketch needs at least one value")
        logs = np.log(np.maximum(x, LOG_FLOOR))
        mu = float(np.median(logs))
        sigma = 1.4826 * float(np.median(np.abs(logs - mu)))
        if n >= ROBUST_MIN_N:
            fence = outlier_k * max(sigma, FENCE_MIN_SIGMA)
            x = np.clip(x, math.exp(mu - fence), math.exp(mu + fence))
        return cls(n, float(x.mean()), mu, sigma, tuple(float(v) for v in np.quantile(x, _GRID)))

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "mean": round(self.mean, 2), "mu": round(self.log_mu, 4),
                "sigma": round(self.log_sigma, 4), "q": [round(v, 1) for v in self.q]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Sketch:
        q = tuple(float(v) for v in d["q"])
        if len(q) != len(QUANTILE_GRID):
            raise ValueError(f"sketch has {len(q)} quantiles, expected {len(QUANTILE_GRID)}")
        return cls(int(d["n"]), float(d["mean"]), float(d["mu"]), float(d["sigma"]), q)


@dataclass(frozen=True, slots=True)
class CountStats:
    """Visit counts over n observed periods (a bin on one day, or a night): mean and variance."""

    n: int
    mean: float
    var: float

    @classmethod
    def of(cls, counts: Sequence[float] | np.ndarray) -> CountStats:
        c = np.asarray(counts, dtype=np.float64)
        if len(c) == 0:
            raise ValueError("count stats need at least one period")
        return cls(len(c), float(c.mean()), float(c.var(ddof=1)) if len(c) > 1 else float(c.mean()))

    def to_json(self) -> list[float]:
        return [self.n, round(self.mean, 4), round(self.var, 4)]

    @classmethod
    def from_json(cls, d: Sequence[float]) -> CountStats:
        return cls(int(d[0]), float(d[1]), float(d[2]))


@dataclass(frozen=True, slots=True)
class Distribution:
    """A pooled answer about durations (seconds) or times of day (minutes after local midnight)."""

    n: int
    mean: float
    median: float
    p90: float
    p95: float
    p99: float
    log_mu: float
    log_sigma: float
    level: str
    values: tuple[float, ...]  # at QUANTILE_GRID

    def quantile(self, q: float) -> float:
        """Value below which a share q (0..1) of the samples lies; log-normal tails beyond p1/p99."""
        if self.n <= 0 or not self.values:
            return math.nan
        q = min(max(q, 1e-12), 1 - 1e-12)
        v = self.values
        sigma = max(self.log_sigma, MIN_SIGMA)
        if q > QUANTILE_GRID[-1]:
            return max(v[-1], LOG_FLOOR) * math.exp(sigma * (_Z.inv_cdf(q) - _Z.inv_cdf(QUANTILE_GRID[-1])))
        if q < QUANTILE_GRID[0]:
            return v[0] * math.exp(sigma * (_Z.inv_cdf(q) - _Z.inv_cdf(QUANTILE_GRID[0])))
        return float(np.interp(q, _GRID, v))

    def percentile(self, x: float) -> float:
        """Share (0..100) of the distribution at or below x; log-normal tails beyond p1/p99."""
        if self.n <= 0 or not self.values:
            return math.nan
        v = self.values
        sigma = max(self.log_sigma, MIN_SIGMA)
        if x > v[-1]:
            top = max(v[-1], LOG_FLOOR)
            if x <= top:
                return 100.0 * QUANTILE_GRID[-1]
            z = _Z.inv_cdf(QUANTILE_GRID[-1]) + math.log(x / top) / sigma
            return 100.0 * _Z.cdf(z)
        if x < v[0]:
            if x <= 0 or v[0] <= 0:
                return 0.0
            z = _Z.inv_cdf(QUANTILE_GRID[0]) - math.log(v[0] / x) / sigma
            return 100.0 * _Z.cdf(z)
        # the upper end of a run of equal values: "at or below x"
        hi = int(np.searchsorted(np.asarray(v), x, side="right"))
        if hi > 0 and v[hi - 1] == x:
            return 100.0 * QUANTILE_GRID[hi - 1]
        return 100.0 * float(np.interp(x, v, _GRID))

    @classmethod
    def empty(cls, level: str = "home") -> Distribution:
        nan = math.nan
        return cls(0, nan, nan, nan, nan, nan, nan, nan, level, ())


@dataclass(frozen=True, slots=True)
class CountDistribution:
    """A pooled answer about visit counts in a period, from mean and variance: negative binomial
    when over-dispersed (the usual case), binomial when under-dispersed (a strict routine: "once
    every morning"), Poisson in between."""

    n_days: int
    mean: float
    var: float
    level: str

    def _pmf(self, k: int) -> float:
        m, v = self.mean, self.var
        if m <= 0:
            return 1.0 if k == 0 else 0.0
        if v < m * 0.9999:  # binomial with the same mean, variance as close as an integer N allows
            size = max(1, round(m * m / (m - v)))
            size = max(size, math.ceil(m))
            p = m / size
            if k > size:
                return 0.0
            if p >= 1.0:
                return 1.0 if k == size else 0.0
            return math.exp(math.lgamma(size + 1) - math.lgamma(k + 1) - math.lgamma(size - k + 1)
                            + k * math.log(p) + (size - k) * math.log1p(-p))
        if v <= m * 1.0001:  # Poisson
            return math.exp(k * math.log(m) - m - math.lgamma(k + 1))
        r, p = m * m / (v - m), m / v
        return math.exp(math.lgamma(k + r) - math.lgamma(r) - math.lgamma(k + 1)
                        + r * math.log(p) + k * math.log1p(-p))

    def cdf(self, x: float) -> float:
        """P(count <= x)."""
        if x < 0:
            return 0.0
        total = 0.0
        for k in range(int(math.floor(x)) + 1):
            total += self._pmf(k)
            if total >= 1.0 - 1e-12:
                return 1.0
        return min(total, 1.0)

    def quantile(self, q: float) -> float:
        """Smallest count c with P(count <= c) >= q."""
        if self.n_days <= 0:
            return math.nan
        total, k = 0.0, 0
        while k < 100_000:
            total += self._pmf(k)
            if total >= q - 1e-12:
                return float(k)
            k += 1
        return float(k)

    def percentile(self, x: float) -> float:
        """Mid-percentile of a count (0..100): P(count < x) + P(count = x) / 2, so that the usual
        count sits near 50 whatever its probability mass."""
        if self.n_days <= 0:
            return math.nan
        k = int(math.floor(x))
        below = self.cdf(k - 1)
        at = self._pmf(k) if k >= 0 and k == x else 0.0
        return 100.0 * (below + at / 2 if k == x else self.cdf(x))

    @classmethod
    def empty(cls, level: str = "home") -> CountDistribution:
        return cls(0, math.nan, math.nan, level)


def pool_sketches(chain: Sequence[tuple[str, Sketch | None]], prior_strength: float) -> Distribution:
    """Shrink fine levels toward coarse ones (see the module doc). `chain` is fine -> coarse."""
    present = [(level, s) for level, s in chain if s is not None and s.n > 0]
    if not present:
        return Distribution.empty(chain[-1][0] if chain else "home")
    k = prior_strength
    level, top = present[-1]
    mean, mu, sigma, q = top.mean, top.log_mu, top.log_sigma, np.asarray(top.q)
    for _, s in reversed(present[:-1]):
        w = s.n / (s.n + k)
        mean = w * s.mean + (1 - w) * mean
        mu = w * s.log_mu + (1 - w) * mu
        sigma = w * s.log_sigma + (1 - w) * sigma
        q = w * np.asarray(s.q) + (1 - w) * q
    chosen = next(((lv, s) for lv, s in present if s.n >= k), present[-1])
    values = tuple(float(v) for v in q)
    d = dict(zip(QUANTILE_GRID, values, strict=True))
    return Distribution(chosen[1].n, mean, d[0.5], float(np.interp(0.9, _GRID, q)), d[0.95], d[0.99],
                        mu, sigma, chosen[0], values)


def pool_counts(chain: Sequence[tuple[str, CountStats | None]], prior_strength: float) -> CountDistribution:
    """The same shrinkage for visit counts (mean and variance)."""
    present = [(level, c) for level, c in chain if c is not None and c.n > 0]
    if not present:
        return CountDistribution.empty(chain[-1][0] if chain else "home")
    k = prior_strength
    mean, var = present[-1][1].mean, present[-1][1].var
    for _, c in reversed(present[:-1]):
        w = c.n / (c.n + k)
        mean = w * c.mean + (1 - w) * mean
        var = w * c.var + (1 - w) * var
    level, chosen = next(((lv, c) for lv, c in present if c.n >= k), present[-1])
    return CountDistribution(chosen.n, mean, var, level)
