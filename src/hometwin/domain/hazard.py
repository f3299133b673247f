"""Durations with shared parameters: a piecewise-exponential hazard regression.

A duration (a silence, a stay) ends at some moment. Its *hazard*, the rate at which it ends now
given that it has lasted so far, depends on how long it has lasted, on its context (which sensor
fired last, which room, where the person came from, whether they lie in bed or sit on the couch)
and on the time of day *now*: a sleeper wakes up around the home's usual hour whenever they went
to bed. The log hazard is a sum of effects, each shared by every duration that has it:

    log h(t | x) = intercept + bin(t) + clock(now) + clock(now) x u(t)
                   + sum over the context's groups g of  level_g(x) x [1, transit(t), rest(t)]
                   (+ level_g(x) x clock(now) for the groups that interact with the hour)

where `t` is the time elapsed, `bin(t)` one effect per duration bin (the shared shape, a random
walk over the bins: an empty bin takes its neighbours' level), `u(t)` the bin's log duration in
decades from 10 minutes, transit(t) and rest(t) its parts below and above 10 minutes (clipped to
1.5 decades: flat beyond 20 s and 5 h), and `clock(now)` three Fourier harmonics of the local hour
at that moment. A context level (a sensor, a room) moves the whole curve and tilts it
(transit contexts end fast, then the few that did not end are a rest that lasts), so a sparse
context borrows the shared shape instead of a parent cell's curve: no pooling formula caps how
unusual a silence can look.

Fitting is a Poisson regression (scikit-learn's `PoissonRegressor`, rate = events / exposure with
the exposure as weight: the maximum-likelihood fit of the piecewise-exponential survival model)
with an L2 penalty that is a normal prior on every effect: `prior_sd` (in log hazard) times the
group's scale. A level seen a few times stays near the shared effect; one seen hundreds of times
speaks for itself. Training rows are aggregated per (context, start half-hour, bin), so a year of
events costs a few tens of thousands of rows. The fitted model is its coefficients (named, JSON);
answering is a few dot products in numpy (scikit-learn is imported only to fit).

Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
import sys
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import InitVar, dataclass, field
from typing import Any

import numpy as np

from hometwin.domain.packed_cells import shared_index

# Bin edges in seconds: fine where transits end, hourly where rest ends, coarse beyond a day.
EDGES = np.array([0, 20, 45, 90, 180, 300, 480, 720, 1080, 1500, 2100, 2700, 3600, 4800, 6000, 7200,
                  9000, 10800, 12600, 14400, 18000, 21600, 25200, 28800, 32400, 36000, 39600, 43200,
                  50400, 57600, 72000, 86400, 129600, 172800, 345600], dtype=np.float64)
N_BINS = len(EDGES) - 1
_WIDTH = np.diff(EDGES)
_EDGE_LIST, _WIDTH_LIST = EDGES.tolist(), _WIDTH.tolist()
_MID = np.concatenate(([10.0], np.sqrt(EDGES[1:-1] * EDGES[2:])))  # geometric middle (the first: 10 s)
U = np.log10(_MID / 600.0)  # decades from 10 minutes: -1.8 .. 2.7
# A level's effect along the duration: a shift, a tilt over the transit range (20 s .. 10 min) and one
# over the rest range (10 min .. 5 h), flat beyond both, so a sparse context never extrapolates wildly.
_TRANSIT = np.clip(U, -1.5, 0.0)
_REST = np.clip(U, 0.0, 1.5)
HARMONICS = 3
SLOTS = 48  # start times are grouped by half-hour for the training rows
DURATION_TERMS = ("", "*transit", "*rest")
GROUP_SCALE = (1.0, 1.0, 1.0)  # prior scale of a level's shift and its two tilts (per decade)
CLOCK_SCALE = 0.5  # prior scale of clock(now) x level
BIN_SCALE = 1.0  # prior scale of a step of the shared shape from one bin to the next


def clock_terms(hours: np.ndarray) -> np.ndarray:
    """Fourier terms of the local hour (n, 2 * HARMONICS): cos, sin of 1, 2, 3 cycles a day."""
    a = 2.0 * math.pi * np.asarray(hours, dtype=np.float64)[..., None] / 24.0
    k = np.arange(1, HARMONICS + 1)
    return np.concatenate((np.cos(a * k), np.sin(a * k)), axis=-1)


_ALONG_BINS: dict[float, np.ndarray] = {}


def _clock_along_bins(start_hour: float) -> np.ndarray:
    """`clock_terms` at the middle of every duration bin of a duration that began at `start_hour`
    (bins, 6). The callers ask at 5-minute starts (288 a day, about 0.5 MiB for all, per process):
    kept, as a curve is built for every new context and start (a calibration's replay builds thousands)."""
    hit = _ALONG_BINS.get(start_hour)
    if hit is None:
        hit = clock_terms(start_hour + _MID / 3600.0)
        hit.flags.writeable = False
        if len(_ALONG_BINS) >= 1024:
            _ALONG_BINS.clear()
        _ALONG_BINS[start_hour] = hit
    return hit


@dataclass(frozen=True, slots=True)
class Design:
    """Which context groups the durations have, and which of them interact with the hour."""

    groups: tuple[str, ...]
    clock_groups: tuple[str, ...] = ()

    def columns(self, levels: dict[str, list[str]]) -> list[str]:
        cols = [f"bin{j}" for j in range(1, N_BINS)]  # bin{j}: the step from bin j-1 to bin j
        cols += [f"now{term}:{k}" for term in ("", "*u") for k in range(2 * HARMONICS)]
        for g in self.groups:
            for v in levels.get(g, []):
                cols += [f"{g}={v}{term}" for term in DURATION_TERMS]
                if g in self.clock_groups:
                    cols += [f"{g}={v}@now:{k}" for k in range(2 * HARMONICS)]
        return cols


def _design_blocks(design: Design, index: dict[str, int], ctx_levels: Sequence[dict[str, str]],
                   rows_ctx: np.ndarray, rows_bin: np.ndarray, rows_clock: np.ndarray,
                   scaled: bool, clock: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse (row, column, value) triplets of the design for rows given by (context, bin, hour now);
    `clock` replaces the clock terms of `rows_clock` (rows x 6)."""
    n = len(rows_ctx)
    r_all, c_all, v_all = [], [], []
    rows = np.arange(n)
    u = U[rows_bin]
    cl = clock_terms(rows_clock) if clock is None else clock

    def add(r: np.ndarray, c: np.ndarray, v: np.ndarray) -> None:
        r_all.append(r)
        c_all.append(c)
        v_all.append(v)

    # Random-walk steps: a row in bin j has every step up to j ("bin >= k" indicators).
    steps = rows_bin.astype(np.int64)
    owner = np.repeat(rows, steps)
    step = np.arange(int(steps.sum())) - np.repeat(np.cumsum(steps) - steps, steps)  # 0 .. bin - 1
    add(owner, step + index["bin1"], np.full(len(owner), BIN_SCALE if scaled else 1.0))
    for k in range(2 * HARMONICS):
        add(rows, np.full(n, index[f"now:{k}"]), cl[:, k])
        add(rows, np.full(n, index[f"now*u:{k}"]), cl[:, k] * u * (0.5 if scaled else 1.0))
    for g in design.groups:
        base = np.array([index.get(f"{g}={lv.get(g, '')}", -1) for lv in ctx_levels], dtype=np.int64)
        col = base[rows_ctx]
        ok = col >= 0
        if not ok.any():
            continue
        r, c, b = rows[ok], col[ok], rows_bin[ok]
        for t, (scale, basis) in enumerate(zip(GROUP_SCALE, (np.ones(N_BINS), _TRANSIT, _REST), strict=True)):
            add(r, c + t, basis[b] * (scale if scaled else 1.0))
        if g in design.clock_groups:
            for k in range(2 * HARMONICS):
                add(r, c + 3 + k, cl[ok, k] * (CLOCK_SCALE if scaled else 1.0))
    return np.concatenate(r_all), np.concatenate(c_all), np.concatenate(v_all)


@dataclass(eq=False)
class HazardModel:
    """A fitted hazard regression: named coefficients (log hazard per hour) and the design."""

    design: Design
    intercept: float
    coefficients: InitVar[Mapping[str, float]]  # name -> value; read back as `coef`
    n_durations: int
    prior_sd: float
    _index: dict[str, int] = field(init=False, repr=False)
    _beta: np.ndarray = field(init=False, repr=False)
    _parts: dict[tuple[tuple[str, str], ...], tuple[np.ndarray, np.ndarray]] = field(init=False, repr=False)
    # Contexts whose parts are kept (about 2 KiB each): a monitoring holding thousands of homes'
    # models keeps a handful (components/monitoring.py), as it does with the curves built from them.
    parts_limit: int = field(default=1024, repr=False)

    def __post_init__(self, coefficients: Mapping[str, float]) -> None:
        # The names are alike from home to home (the same rooms and sensor kinds): a fleet holds the
        # names and their index once per set of names, and per home only the values (docs/fleet.md).
        self._index = shared_index(tuple(sys.intern(name) for name in coefficients))
        self._beta = np.fromiter(coefficients.values(), np.float64, len(coefficients))
        self._parts = {}

    @property
    def coef(self) -> dict[str, float]:
        return dict(zip(self._index, self._beta.tolist(), strict=True))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HazardModel):
            return NotImplemented
        return ((self.design, self.intercept, self.n_durations, self.prior_sd, list(self._index))
                == (other.design, other.intercept, other.n_durations, other.prior_sd, list(other._index))
                and bool(np.array_equal(self._beta, other._beta)))

    # ------------------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, design: Design, contexts: Sequence[dict[str, str]], ctx: np.ndarray, start_hour: np.ndarray,
            seconds: np.ndarray, ended: np.ndarray, prior_sd: float = 1.0, entry: float = 0.0) -> HazardModel:
        """Fit on durations: `ctx[i]` indexes `contexts` (group -> level), `start_hour[i]` is the
        local hour (fractional) when it began, `seconds[i]` how long it lasted, `ended[i]` False when
        it was cut before its end (censored: it lasted at least that long). With `entry`, only
        durations longer than it are given and the hazard is learned from `entry` on (the model
        then answers about durations that lasted at least `entry`)."""
        from scipy import sparse  # noqa: PLC0415 - fitting only; answering needs numpy alone
        from sklearn.linear_model import PoissonRegressor  # noqa: PLC0415

        seconds = np.minimum(np.maximum(np.asarray(seconds, dtype=np.float64), 1.0), EDGES[-1] - 1.0)
        ended = np.asarray(ended, dtype=bool)
        ctx = np.asarray(ctx, dtype=np.int64)
        n = len(seconds)
        if n == 0:
            raise ValueError("no durations to learn from")
        if np.any(seconds <= entry):
            raise ValueError("every duration must be longer than the entry time")
        last = np.searchsorted(EDGES, seconds, side="right") - 1  # the bin the duration ends in
        first = int(np.searchsorted(EDGES, entry, side="right")) - 1
        reps = last - first + 1
        owner = np.repeat(np.arange(n), reps)
        j = first + np.arange(int(reps.sum())) - np.repeat(np.cumsum(reps) - reps, reps)
        exposure = np.minimum(seconds[owner], EDGES[j + 1]) - np.maximum(EDGES[j], entry)
        event = (ended[owner] & (j == last[owner])).astype(np.float64)
        slot = np.floor(np.mod(start_hour, 24.0) * SLOTS / 24.0).astype(np.int64) % SLOTS
        key = (ctx[owner] * SLOTS + slot[owner]) * N_BINS + j
        uniq, inverse = np.unique(key, return_inverse=True)
        expo = np.bincount(inverse, weights=exposure) / 3600.0
        events = np.bincount(inverse, weights=event)
        rows_bin = uniq % N_BINS
        rows_slot = (uniq // N_BINS) % SLOTS
        rows_ctx = uniq // (N_BINS * SLOTS)
        rows_clock = (rows_slot + 0.5) * 24.0 / SLOTS + _MID[rows_bin] / 3600.0

        levels: dict[str, list[str]] = {g: sorted({c[g] for c in contexts if c.get(g)}) for g in design.groups}
        columns = design.columns(levels)
        index = {c: i for i, c in enumerate(columns)}
        r, c, v = _design_blocks(design, index, contexts, rows_ctx, rows_bin, rows_clock, scaled=True)
        x = sparse.csr_matrix((v, (r, c)), shape=(len(uniq), len(columns)))
        keep = expo > 0
        total = float(expo[keep].sum())
        alpha = 1.0 / (prior_sd ** 2 * total)
        reg = PoissonRegressor(alpha=alpha, solver="newton-cholesky", max_iter=200, tol=1e-6)
        reg.fit(x[keep], events[keep] / expo[keep], sample_weight=expo[keep])
        scale = _column_scales(columns)
        coef = {name: float(b * s) for name, b, s in zip(columns, reg.coef_, scale, strict=True)}
        return cls(design, float(reg.intercept_), coef, n, prior_sd)

    # ------------------------------------------------------------------------------ answering
    def log_hazards(self, levels: dict[str, str], start_hour: float) -> np.ndarray:
        """log hazard (per hour) in every duration bin for a duration that began at `start_hour`.

        The design is linear in the clock terms, so per context it is computed once at two clock
        settings and the hour only moves a (bins x 6) product: a few microseconds per answer."""
        key = tuple(sorted(levels.items()))
        parts = self._parts.get(key)
        if parts is None:
            parts = self._context_parts(levels)
            if len(self._parts) > self.parts_limit:
                self._parts.clear()
            self._parts[key] = parts
        static, per_clock = parts
        return static + np.einsum("jk,jk->j", _clock_along_bins(start_hour), per_clock)

    def _context_parts(self, levels: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
        """(log hazard without the clock terms, per bin; the coefficient of each clock term, per bin).

        The linear predictor at the clock terms' zero and at each unit vector, seven evaluations, as one
        design of 7 x bins rows: a row's terms are summed in the same order as in a design of its own
        (`np.add.at` adds in the order of the triplets, and every block lists its rows in order), so the
        parts are those of seven separate evaluations to the bit (tests/unit/test_hazard.py)."""
        settings = 1 + 2 * HARMONICS
        clock = np.zeros((settings, N_BINS, 2 * HARMONICS))
        for k in range(2 * HARMONICS):
            clock[k + 1, :, k] = 1.0
        n = settings * N_BINS
        r, c, v = _design_blocks(self.design, self._index, [levels], np.zeros(n, dtype=np.int64),
                                 np.tile(np.arange(N_BINS), settings), np.zeros(n), scaled=False,
                                 clock=clock.reshape(n, 2 * HARMONICS))
        flat = np.full(n, self.intercept)
        np.add.at(flat, r, self._beta[c] * v)
        eta = flat.reshape(settings, N_BINS)
        zero = eta[0].copy()
        per_clock = np.empty((N_BINS, 2 * HARMONICS))
        for k in range(2 * HARMONICS):
            per_clock[:, k] = eta[k + 1] - zero
        return zero, per_clock

    def cumulative(self, levels: dict[str, str], start_hour: float, since: float = 0.0) -> np.ndarray:
        """Cumulative hazard at every edge (H[0] = 0), and the last bin's rate appended for beyond.
        With `since`, the hazard before that duration is taken as zero: the curve of the durations
        that lasted at least `since` (what a model fitted with that `entry` knows)."""
        rate = np.exp(np.minimum(self.log_hazards(levels, start_hour), 30.0)) / 3600.0  # per second
        width = np.minimum(_WIDTH, np.maximum(EDGES[1:] - since, 0.0))
        return np.concatenate(([0.0], np.cumsum(rate * width), [rate[-1]]))

    # ------------------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        return {"groups": list(self.design.groups), "clock_groups": list(self.design.clock_groups),
                "edges_s": EDGES.tolist(), "harmonics": HARMONICS, "intercept": self.intercept,
                "coef": self.coef, "n_durations": self.n_durations,
                "prior_sd": self.prior_sd}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HazardModel:
        if list(d.get("edges_s", [])) != EDGES.tolist() or d.get("harmonics") != HARMONICS:
            raise ValueError("hazard model uses a different duration grid or clock terms: retrain the model")
        design = Design(tuple(str(g) for g in d["groups"]), tuple(str(g) for g in d.get("clock_groups", [])))
        return cls(design, float(d["intercept"]), {str(k): float(v) for k, v in d["coef"].items()},
                   int(d.get("n_durations", 0)), float(d.get("prior_sd", 1.0)))


def _column_scales(columns: Sequence[str]) -> np.ndarray:
    """The prior scale each column was multiplied by in the fit (to turn coefficients back)."""
    out = np.empty(len(columns))
    for i, name in enumerate(columns):
        if name.startswith("bin"):
            out[i] = BIN_SCALE
        elif name.startswith("now*u"):
            out[i] = 0.5
        elif name.startswith("now"):
            out[i] = 1.0
        elif "@now" in name:
            out[i] = CLOCK_SCALE
        elif name.endswith("*rest"):
            out[i] = GROUP_SCALE[2]
        elif name.endswith("*transit"):
            out[i] = GROUP_SCALE[1]
        else:
            out[i] = GROUP_SCALE[0]
    return out


def survival_at(cum: np.ndarray, seconds: float) -> float:
    """-log P(duration > seconds) from `cumulative` (the hazard is constant within a bin)."""
    s = max(seconds, 0.0)
    if s >= EDGES[-1]:
        return float(cum[N_BINS] + cum[N_BINS + 1] * (s - EDGES[-1]))
    # A check asks this tens of times: bisect on a list finds the bin numpy's searchsorted finds
    # (the same doubles, side "right"), without the cost of a numpy call on one number.
    j = bisect_right(_EDGE_LIST, s) - 1
    f = (s - _EDGE_LIST[j]) / _WIDTH_LIST[j]
    return float(cum[j] + f * (cum[j + 1] - cum[j]))


def seconds_at(cum: np.ndarray, target: float) -> float:
    """The smallest duration whose cumulative hazard reaches `target` (inverse of `survival_at`)."""
    if target <= 0:
        return 0.0
    h = cum[: N_BINS + 1]
    if target > h[-1]:
        rate = cum[N_BINS + 1]
        return math.inf if rate <= 0 else float(EDGES[-1] + (target - h[-1]) / rate)
    j = int(np.searchsorted(h, target, side="left"))
    j = max(j, 1)
    a, b = float(h[j - 1]), float(h[j])
    f = 1.0 if b <= a else (target - a) / (b - a)
    return float(EDGES[j - 1] + f * _WIDTH[j - 1])


def scale_free_tail(cum: np.ndarray) -> np.ndarray:
    """The reference against over-confidence, in the form of `HazardModel.cumulative`: beyond the
    median t0 of `cum`, P(duration > t) = t0 / t (a Pareto tail of index 1, the same odds for every
    factor of ten in time: what one knows of a duration that fits no learned context)."""
    t0 = max(seconds_at(cum, math.log(2.0)), 1.0)
    h = np.log(np.maximum(EDGES / t0, 1.0))
    return np.concatenate((h, [1.0 / max(EDGES[-1], t0)]))


def mix(cums: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """The cumulative hazard of a mixture of survival curves, exact at the bin edges (linear in
    between, as every curve here), with the last bin's rate of the slowest part beyond."""
    surv = sum(w * np.exp(-c[: N_BINS + 1]) for c, w in zip(cums, weights, strict=True))
    h = -np.log(np.maximum(surv, 1e-300))
    return np.concatenate((np.maximum.accumulate(h), [min(float(c[N_BINS + 1]) for c in cums)]))
