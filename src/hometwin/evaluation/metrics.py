"""Figures from recorded scores: false alarms per day, detection delays, recall, sweeps.

A method alarms at check k for knob `theta` iff its score at k is >= theta. A false-alarm episode is
a maximal run of alarming checks on the unmodified data (it ends when activity resumes and the
score drops), counted once. The delay of an injected emergency is the time from t to the first
alarming check at or after t. Because the scores are recorded, every theta is evaluated from the
same replay, exactly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from hometwin.evaluation.harness import HomeRun

RECALL_AT = (15, 30, 60, 120, 240)


def episode_starts(scores: np.ndarray, theta: float) -> np.ndarray:
    """Indices of checks that start an alarm episode at `theta`."""
    on = scores >= theta
    prev = np.concatenate(([False], on[:-1]))
    return np.nonzero(on & ~prev)[0]


def delays_min(scores: Sequence[np.ndarray], offsets: Sequence[np.ndarray], theta: float) -> np.ndarray:
    """Minutes from t to the first alarming check; inf when none within the horizon."""
    out = np.full(len(scores), np.inf)
    for i, (s, off) in enumerate(zip(scores, offsets, strict=True)):
        hit = np.nonzero(s >= theta)[0]
        if hit.size:
            out[i] = off[hit[0]]
    return out


def _median(x: np.ndarray) -> float | None:
    if x.size == 0:
        return None
    m = float(np.median(x))
    return None if not np.isfinite(m) else round(m, 1)


def summarize(runs: Sequence[HomeRun], method: str, theta: float, variant: str = "fall") -> dict[str, Any]:
    """The figures of one method at one knob value, pooled over `runs` (homes)."""
    fa = 0
    by: Counter[str] = Counter()
    days = 0.0
    d_all: list[np.ndarray] = []
    parts: list[str] = []
    for run in runs:
        ms = run.scores[method]
        starts = episode_starts(ms.checks, theta)
        fa += len(starts)
        by.update(ms.labels[i] for i in starts)
        days += run.test_days
        sel = [i for i, inj in enumerate(run.injections) if inj.variant == variant]
        d_all.append(delays_min([ms.injected[i] for i in sel], [run.offsets[i] for i in sel], theta))
        parts += [run.injections[i].part for i in sel]
    d = np.concatenate(d_all) if d_all else np.empty(0)
    part = np.array(parts)
    out: dict[str, Any] = {
        "theta": theta,
        "false_alarms": fa,
        "test_days": round(days, 2),
        "false_alarms_per_day": round(fa / days, 4) if days else None,
        "false_alarms_by": dict(sorted(by.items())),
        "injections": int(d.size),
        "median_delay_min": _median(d),
        "median_delay_day_min": _median(d[part == "day"]),
        "median_delay_night_min": _median(d[part == "night"]),
        "mean_delay_min": round(float(d[np.isfinite(d)].mean()), 1) if np.isfinite(d).any() else None,
        "missed_within_horizon": int((~np.isfinite(d)).sum()),
    }
    for m in RECALL_AT:
        out[f"recall_at_{m}"] = round(float((d <= m).mean()), 4) if d.size else None
        for p in ("day", "night"):
            sub = d[part == p]
            out[f"recall_at_{m}_{p}"] = round(float((sub <= m).mean()), 4) if sub.size else None
    return out


def sweep(runs: Sequence[HomeRun], method: str) -> list[dict[str, Any]]:
    """The method's figures at every knob value of its sweep, conservative to eager."""
    m = runs[0].methods[method]
    return [summarize(runs, method, theta) for theta in m.sweep]


def at_equal_rate(curve: Sequence[dict[str, Any]], fa_per_day: float) -> dict[str, Any]:
    """The most eager point of a sweep whose false-alarm rate is at most `fa_per_day`."""
    ok = [p for p in curve
          if p["false_alarms_per_day"] is not None and p["false_alarms_per_day"] <= fa_per_day]
    return ok[-1] if ok else curve[0]
