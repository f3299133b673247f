"""Figures from recorded scores: false alarms per day, detection delays, recall, sweeps.

A method alarms at check k for knob `theta` iff its score at k is >= theta. A false-alarm episode is
a maximal run of alarming checks on the unmodified data (it ends when activity resumes and the
score drops), counted once. The delay of an injected emergency is the time from t to the first
alarming check at or after t. Because the scores are recorded, every theta is evaluated from the
same replay, exactly.

Honest counting (the rolling protocol's default, `HomeRun.honest`):
- an episode that starts in a data gap or excluded time is not counted (that time is no test time);
- an episode during which a technical finding (`sensor_data_missing`, `sensor_stuck`) alarms counts once more for
  every full day of technical alarm in it (a dead sensor for four days is four notices, not one);
- an episode that a technical finding starts while a known sensor fault lasts (`HomeRun.faults`, a
  simulator's ground truth), in the fault's room, is the fault noticed, not a false alarm
  (`fault_notices`);
- the pool weights each home by its test days: every injection of home h in part p (day or night)
  weighs test_days(h) / injections(h, p), so a two-week home does not count as much as a month;
- every rate carries its exact 95 % Poisson interval (`poisson.py`);
- delays are also given for the *reachable* injections (residual <= 30 min, `exclusions.py`), with
  the delay beyond the residual, max(0, delay - residual).
Plain counting is the earlier protocol: every episode once, every injection weighs the same.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from hometwin.domain.findings import TECHNICAL_KINDS
from hometwin.evaluation.harness import HomeRun, SensorFault
from hometwin.evaluation.poisson import rate_interval

RECALL_AT = (15, 30, 60, 120, 240)
TECHNICAL_LABELS = frozenset(k.value for k in TECHNICAL_KINDS)
DAY_S = 86400.0


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


def _counted_episodes(run: HomeRun, method: str, theta: float) -> tuple[np.ndarray, np.ndarray]:
    """(first check of every counted episode, how many false alarms each counts for)."""
    ms = run.scores[method]
    starts = episode_starts(ms.checks, theta)
    if not run.honest:
        return starts, np.ones(starts.size, dtype=int)
    starts = starts[~run.uncounted[starts]]
    if run.faults:
        starts = starts[[not any(_notices(f, ms.labels[i], float(run.check_times[i])) for f in run.faults)
                         for i in starts]]
    if not starts.size:
        return starts, np.ones(0, dtype=int)
    ends = _episode_ends(ms.checks, starts, theta)
    technical = np.concatenate(([0], np.cumsum((ms.technical >= theta) & ~run.uncounted)))
    days = (technical[ends] - technical[starts]) * run.cadence_s // DAY_S
    return starts, 1 + days.astype(int)


def _episode_ends(scores: np.ndarray, starts: np.ndarray, theta: float) -> np.ndarray:
    """For each episode start, the first check after it that no longer alarms (or the end)."""
    off = np.nonzero(scores < theta)[0]
    pos = np.searchsorted(off, starts)
    return np.where(pos < off.size, off[np.minimum(pos, off.size - 1)], scores.size)


def _notices(fault: SensorFault, label: str, at: float) -> bool:
    """Whether an episode that `label` ("detector:room") starts at `at` (epoch seconds) is a technical
    finding in the fault's room while the fault lasts. Missing data (most sensors silent, no room) is
    not one sensor's fault."""
    start, end, room = fault
    detector, _, where = label.partition(":")
    return detector in TECHNICAL_LABELS and where == room and start.timestamp() <= at <= end.timestamp()


def fault_notices(runs: Sequence[HomeRun], method: str, theta: float) -> dict[str, int]:
    """Known sensor faults in the tested spans, how many of them a technical finding noticed (an
    episode it started while the fault lasted, in its room), and how many such episodes there were."""
    faults = noticed = notices = 0
    for run in runs:
        ms = run.scores[method]
        starts = episode_starts(ms.checks, theta)
        found = [(float(run.check_times[i]), ms.labels[i]) for i in starts if not run.uncounted[i]]
        for fault in run.faults:
            if fault[1] <= run.test_start or fault[0] >= run.test_end:
                continue
            faults += 1
            hits = [t for t, label in found if _notices(fault, label, t)]
            noticed += bool(hits)
            notices += len(hits)
    return {"faults": faults, "noticed": noticed, "notices": notices}


def false_alarms(run: HomeRun, method: str, theta: float) -> tuple[int, Counter[str]]:
    """(false alarms, count by "detector:room") of one home at `theta`, as the run's counting says."""
    starts, counts = _counted_episodes(run, method, theta)
    labels = run.scores[method].labels
    by: Counter[str] = Counter()
    for i, c in zip(starts, counts, strict=True):
        by[labels[i]] += int(c)
    return int(counts.sum()), by


def false_alarm_list(runs: Sequence[HomeRun], method: str, theta: float) -> list[dict[str, Any]]:
    """Every counted false alarm: the home, when it began (the home's local time), the finding that
    raised it ("detector:room"), how many it counts for (a technical one once per full day), how long
    it alarmed (minutes, to the check) and how far its score rose above the knob at most (a margin
    just above 0 is a near miss; a large one, a finding far from this home's normal)."""
    out: list[dict[str, Any]] = []
    for run in runs:
        starts, counts = _counted_episodes(run, method, theta)
        scores = run.scores[method].checks
        ends = _episode_ends(scores, starts, theta)
        zone = ZoneInfo(run.tz)
        out += [{"home": run.name,
                 "start": datetime.fromtimestamp(float(run.check_times[i]), zone).isoformat(timespec="minutes"),
                 "alarm": run.scores[method].labels[i], "counts": int(c),
                 "minutes": round((int(e) - int(i)) * run.cadence_s / 60),
                 "peak_margin": round(float(scores[i:e].max()) - theta, 2)}
                for i, c, e in zip(starts, counts, ends, strict=True)]
    return out


def by_model(runs: Sequence[HomeRun], method: str, theta: float) -> list[dict[str, Any]]:
    """False alarms by the rank of the model in each home's schedule (the rolling protocol's first
    model learned from the first week, the second from two weeks, ...), pooled over homes."""
    rows: list[dict[str, Any]] = []
    for run in runs:
        starts, counts = _counted_episodes(run, method, theta)
        per = np.bincount(run.check_fold[starts], weights=counts, minlength=len(run.folds))
        for k, fold in enumerate(run.folds):
            if k == len(rows):
                rows.append({"model": k + 1, "homes": 0, "history_days": 0.0, "test_days": 0.0, "false_alarms": 0})
            rows[k]["homes"] += 1
            rows[k]["history_days"] += (fold.origin - run.folds[0].origin).total_seconds() / 86400 + run.train_days
            rows[k]["test_days"] += run.fold_test_days[k] if run.fold_test_days else 0.0
            rows[k]["false_alarms"] += int(per[k])
    for row in rows:
        row["history_days"] = round(row["history_days"] / row["homes"], 1)  # days before the model, mean
        days = row["test_days"]
        ci = rate_interval(row["false_alarms"], days)
        row["test_days"] = round(days, 2)
        row["false_alarms_per_day"] = round(row["false_alarms"] / days, 4) if days > 0 else None
        row["false_alarms_per_day_ci"] = [round(ci[0], 4), round(ci[1], 4)] if ci else None
    return rows


def weighted_median(x: np.ndarray, w: np.ndarray) -> float:
    """The smallest value at which the cumulative weight reaches half the total."""
    order = np.argsort(x, kind="stable")
    cum = np.cumsum(w[order])
    return float(x[order][np.searchsorted(cum, 0.5 * cum[-1])])


def _median(x: np.ndarray, w: np.ndarray | None) -> float | None:
    if x.size == 0:
        return None
    m = float(np.median(x)) if w is None else weighted_median(x, w)
    return None if not np.isfinite(m) else round(m, 1)


def _weights(home: np.ndarray, part: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Each home and part weighs its test days, shared among its injections in the selection."""
    w = np.empty(home.size)
    for h in np.unique(home):
        for p in np.unique(part):
            sel = (home == h) & (part == p)
            w[sel] = days[h] / max(int(sel.sum()), 1)
    return w


def delay_figures(d: np.ndarray, part: np.ndarray, home: np.ndarray, days: np.ndarray,
                  weighted: bool) -> dict[str, Any]:
    """Median, mean and recall of delays `d` (minutes, inf = missed), overall, by day and by night."""
    w = _weights(home, part, days) if weighted else np.ones(d.size)
    out: dict[str, Any] = {"injections": int(d.size)}
    for key, sel in (("", slice(None)), ("_day", part == "day"), ("_night", part == "night")):
        out[f"median_delay{key}_min"] = _median(d[sel], w[sel] if weighted else None)
    finite = np.isfinite(d)
    out["mean_delay_min"] = round(float(np.average(d[finite], weights=w[finite])), 1) if finite.any() else None
    out["missed_within_horizon"] = int((~finite).sum())
    for m in RECALL_AT:
        out[f"recall_at_{m}"] = round(float(w[d <= m].sum() / w.sum()), 4) if d.size else None
        for p in ("day", "night"):
            sel = part == p
            out[f"recall_at_{m}_{p}"] = round(float(w[sel & (d <= m)].sum() / w[sel].sum()), 4) if sel.any() else None
    return out


def summarize(runs: Sequence[HomeRun], method: str, theta: float | Sequence[float],
              variant: str = "fall") -> dict[str, Any]:
    """The figures of one method at one knob value (or one per home, in the order of `runs`),
    pooled over `runs` (homes)."""
    thetas = [float(theta)] * len(runs) if isinstance(theta, (int, float)) else [float(t) for t in theta]
    honest = all(r.honest for r in runs)
    fa = 0
    by: Counter[str] = Counter()
    days = np.array([r.test_days for r in runs])
    d_all, res_all, parts, homes = [], [], [], []
    for h, (run, th) in enumerate(zip(runs, thetas, strict=True)):
        n, labels = false_alarms(run, method, th)
        fa += n
        by.update(labels)
        ms = run.scores[method]
        sel = [i for i, inj in enumerate(run.injections) if inj.variant == variant]
        d_all.append(delays_min([ms.injected[i] for i in sel], [run.offsets[i] for i in sel], th))
        res_all.append(run.residuals[sel] if len(sel) else np.empty(0))
        parts += [run.injections[i].part for i in sel]
        homes += [h] * len(sel)
    d = np.concatenate(d_all) if d_all else np.empty(0)
    res = np.concatenate(res_all) if res_all else np.empty(0)
    part, home = np.array(parts, dtype=object), np.array(homes, dtype=int)
    total_days = float(days.sum())
    ci = rate_interval(fa, total_days)
    out: dict[str, Any] = {
        "theta": thetas[0] if isinstance(theta, (int, float)) else thetas,
        "false_alarms": fa,
        "test_days": round(total_days, 2),
        "false_alarms_per_day": round(fa / total_days, 4) if total_days else None,
        "false_alarms_per_day_ci": [round(ci[0], 4), round(ci[1], 4)] if ci else None,
        "false_alarms_by": dict(sorted(by.items())),
        **delay_figures(d, part, home, days, honest),
    }
    limit = min((r.reachable_min for r in runs), default=30.0)
    near: np.ndarray = res <= limit
    beyond = np.maximum(d - res, 0.0)
    reach = delay_figures(d[near], part[near], home[near], days, honest)
    reach["share_of_injections"] = round(float(near.mean()), 4) if d.size else None
    for key, subset in (("", near), ("_day", near & (part == "day")), ("_night", near & (part == "night"))):
        reach[f"median_beyond_residual{key}_min"] = _median(
            beyond[subset], _weights(home[subset], part[subset], days) if honest else None)
    out["reachable"] = reach
    out["residual_median_day_min"] = _median(res[part == "day"], None)
    out["residual_median_night_min"] = _median(res[part == "night"], None)
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
