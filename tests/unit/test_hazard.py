"""The hazard regression (domain/hazard.py) on durations drawn from known distributions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from hometwin.domain.hazard import (
    _MID,
    N_BINS,
    Design,
    HazardModel,
    _design_blocks,
    mix,
    scale_free_tail,
    seconds_at,
    survival_at,
)

DESIGN = Design(groups=("room",), clock_groups=("room",))


def _draw(n: int, seed: int = 3) -> tuple[list[dict[str, str]], np.ndarray, np.ndarray, np.ndarray]:
    """Kitchen pauses last 2 min on average, bedroom ones 2 h (exponential), at any hour."""
    rng = np.random.default_rng(seed)
    ctx = rng.integers(0, 2, n)
    seconds = np.where(ctx == 0, rng.exponential(120.0, n), rng.exponential(7200.0, n))
    hours = rng.uniform(0, 24, n)
    return [{"room": "kitchen"}, {"room": "bedroom"}], ctx, hours, seconds


@pytest.fixture(scope="module")
def fitted() -> HazardModel:
    levels, ctx, hours, seconds = _draw(4000)
    return HazardModel.fit(DESIGN, levels, ctx, hours, seconds, np.ones(len(seconds), dtype=bool))


def test_the_fit_recovers_each_contexts_survival(fitted: HazardModel) -> None:
    for room, mean in (("kitchen", 120.0), ("bedroom", 7200.0)):
        cum = fitted.cumulative({"room": room}, 12.0)
        for t in (0.5 * mean, mean, 2 * mean):
            assert math.exp(-survival_at(cum, t)) == pytest.approx(math.exp(-t / mean), abs=0.06)
        assert seconds_at(cum, math.log(2.0)) == pytest.approx(mean * math.log(2.0), rel=0.2)


def test_censored_durations_are_not_read_as_ends() -> None:
    levels, ctx, hours, seconds = _draw(3000)
    cut = np.minimum(seconds, 1800.0)
    ended = seconds <= 1800.0
    honest = HazardModel.fit(DESIGN, levels, ctx, hours, cut, ended)
    naive = HazardModel.fit(DESIGN, levels, ctx, hours, cut, np.ones(len(cut), dtype=bool))
    bedroom = {"room": "bedroom"}
    assert math.exp(-survival_at(honest.cumulative(bedroom, 12.0), 1750.0)) == pytest.approx(
        math.exp(-1750 / 7200), abs=0.06)
    kept = math.exp(-survival_at(honest.cumulative(bedroom, 12.0), 2100.0))
    assert math.exp(-survival_at(naive.cumulative(bedroom, 12.0), 2100.0)) < kept - 0.1


def test_answers_take_the_fast_path_exactly_and_survive_json(fitted: HazardModel) -> None:
    for levels in ({"room": "kitchen"}, {"room": "attic"}, {}):
        for hour in (0.0, 6.5, 23.9):
            r, c, v = _design_blocks(fitted.design, fitted._index, [levels], np.zeros(N_BINS, dtype=np.int64),
                                     np.arange(N_BINS), hour + _MID / 3600.0, scaled=False)
            slow = np.full(N_BINS, fitted.intercept)
            np.add.at(slow, r, fitted._beta[c] * v)
            assert np.allclose(fitted.log_hazards(levels, hour), slow)
    back = HazardModel.from_dict(json.loads(json.dumps(fitted.to_dict())))
    assert np.array_equal(back.log_hazards({"room": "kitchen"}, 7.0), fitted.log_hazards({"room": "kitchen"}, 7.0))
    with pytest.raises(ValueError, match="retrain"):
        HazardModel.from_dict({**fitted.to_dict(), "harmonics": 2})


def test_the_scale_free_tail_bounds_the_surprise(fitted: HazardModel) -> None:
    own = fitted.cumulative({"room": "kitchen"}, 12.0)
    median = seconds_at(own, math.log(2.0))
    mixed = mix([own, scale_free_tail(own)], [0.999, 0.001])
    for t in (600.0, 3600.0, 86400.0):
        assert survival_at(mixed, t) / math.log(10) <= 3.0 + math.log10(t / median) + 1e-6
        assert survival_at(mixed, t) <= survival_at(own, t)


def _parts_one_by_one(model: HazardModel, levels: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """The context parts as they were computed before they became one design: seven evaluations."""
    bins = np.arange(N_BINS)

    def eta(clock_values: np.ndarray) -> np.ndarray:
        r, c, v = _design_blocks(model.design, model._index, [levels], np.zeros(N_BINS, dtype=np.int64), bins,
                                 np.zeros(N_BINS), scaled=False, clock=clock_values)
        out = np.full(N_BINS, model.intercept)
        np.add.at(out, r, model._beta[c] * v)
        return out

    zero = eta(np.zeros((N_BINS, 6)))
    per_clock = np.empty((N_BINS, 6))
    for k in range(6):
        unit = np.zeros((N_BINS, 6))
        unit[:, k] = 1.0
        per_clock[:, k] = eta(unit) - zero
    return zero, per_clock


def test_a_contexts_parts_are_those_of_seven_separate_evaluations() -> None:
    """The parts (log hazard without and per clock term) come from one design of 7 x bins rows: the
    same numbers to the bit as seven designs, for drawn coefficients and contexts with several groups,
    clock interactions and levels the model does not know."""
    rng = np.random.default_rng(11)
    design = Design(groups=("room", "kind", "prev"), clock_groups=("room",))
    levels = {"room": ["kitchen", "bedroom", "hall"], "kind": ["motion|on", "door|on"], "prev": ["kitchen", ""]}
    columns = design.columns({g: [v for v in vs if v] for g, vs in levels.items()})
    for _ in range(5):
        model = HazardModel(design, float(rng.normal()), dict(zip(columns, rng.normal(0, 2, len(columns)).tolist(),
                                                                  strict=True)), 100, 1.0)
        for room in (*levels["room"], "attic"):
            for kind in levels["kind"]:
                for prev in levels["prev"]:
                    ctx = {"room": room, "kind": kind, "prev": prev}
                    zero, per_clock = model._context_parts(ctx)
                    ref_zero, ref_per_clock = _parts_one_by_one(model, ctx)
                    assert zero.tobytes() == ref_zero.tobytes()
                    assert per_clock.tobytes() == ref_per_clock.tobytes()
                    assert per_clock.flags.c_contiguous


def test_survival_at_finds_the_bin_numpy_finds() -> None:
    """`survival_at` bisects a list of the edges: the same bin as numpy's searchsorted ("right"), at
    the edges themselves, between them and beyond the last, so the same number to the bit."""
    from hometwin.domain.hazard import _WIDTH, EDGES

    def by_numpy(cum: np.ndarray, seconds: float) -> float:
        s = max(seconds, 0.0)
        if s >= EDGES[-1]:
            return float(cum[N_BINS] + cum[N_BINS + 1] * (s - EDGES[-1]))
        j = int(np.searchsorted(EDGES, s, side="right")) - 1
        return float(cum[j] + (s - EDGES[j]) / _WIDTH[j] * (cum[j + 1] - cum[j]))

    rng = np.random.default_rng(5)
    cum = np.concatenate(([0.0], np.cumsum(rng.exponential(0.3, N_BINS)), [1e-5]))
    seconds = [*EDGES.tolist(), *np.nextafter(EDGES, np.inf).tolist(), *np.nextafter(EDGES, -np.inf).tolist(),
               *rng.uniform(0, 400_000, 2000).tolist(), -5.0, 0.0, 1e9]
    for s in seconds:
        assert survival_at(cum, s) == by_numpy(cum, s)
