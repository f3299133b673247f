"""`hometwin evaluate --trends`: how fast the change detector reports a behaviour change, and how
often it reports one that did not happen.

Injected changes (sim/changes.py) on simulated homes of many lifestyles and layouts: each home is
simulated `baseline_days` unchanged, then every change type is injected on the same home (same
seed: the days before the change are identical) and followed for `follow_days`. A change counts as
reported when one of the indicators that show it (`SHOWN_BY`) reports a change in the right
direction detected on or after the first changed day; the delay is in whole days from the first
changed day (a gradual change ramps up over its first days). The median delay counts every
applicable home, a change not reported within the follow-up as later than all others. A home
whose sensors cannot show the change (no bedroom sensor for time in bed, no door contact for
outings) is "not applicable".

False reports: every change reported on a home without an injected change (the same simulated
homes unchanged, and the public homes), per home-month of monitored days (days once the detector
had learned a baseline). Each figure is given for every sensitivity `h` of the sweep, and, at the
default `h`, for every threshold `h_count` of the count CUSUM (`count_sweep`: it watches the night-time
toilet visits only, so only the false reports and the changes shown by that indicator are tracked).

Told again: at the default h, the reports of an indicator of a change, in its direction, after that
indicator's own first report, per home-month followed after the change's first report. A lasting
change should be reported once; after a report the baseline relearns from the days after it, so later
reports are the ordinary false reports of the new normal (run with a long follow-up, e.g.
`--trend-days 56,84`, to see them). Another indicator of the same change reporting it later (time in
bed after getting up) is counted apart (`other_indicators`): the same story in other words.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from hometwin.domain.change import ChangeParams, TrendReport, trend_report
from hometwin.domain.indicators import SPECS, DailyIndicators, daily_indicators
from hometwin.evaluation.poisson import rate_interval
from hometwin.sim.changes import CHANGE_KINDS, BehaviourChange

# Ramp (days to full size) of each injected change: gradual ones ramp, the others are sudden.
RAMP_DAYS: dict[str, int] = {"night_toilet_x2": 5, "wake_later_90": 0, "kitchen_half": 0, "outings_stop": 0,
                             "more_bed": 7}
# Which reported changes show an injected change: (indicator, direction).
SHOWN_BY: dict[str, tuple[tuple[str, str], ...]] = {
    "night_toilet_x2": (("night_toilet_visits", "up"), ("bed_exits", "up")),
    "wake_later_90": (("getting_up", "up"), ("time_in_bed", "up")),
    "kitchen_half": (("kitchen_time", "down"),),
    "outings_stop": (("outings", "down"), ("time_out", "down")),
    "more_bed": (("time_in_bed", "up"), ("going_to_bed", "down"), ("getting_up", "up")),
}
WITHIN_DAYS = 14
DEFAULT_SWEEP = (3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0)
DEFAULT_COUNT_SWEEP = (0.0, 1.0, 1.5, 2.0, 2.5, 3.0)  # 0: the count CUSUM off


@dataclass(frozen=True)
class TrendsEvalConfig:
    """What to run. `population_seeds`: simulated populations (hometwin.sim.population), each with
    `homes_per_seed` homes; `public`: (name, events, tz) of real homes for the false-report count."""

    population_seeds: tuple[int, ...] = (9000, 9001)
    homes_per_seed: int = 20
    baseline_days: int = 56
    follow_days: int = 21
    kinds: tuple[str, ...] = tuple(CHANGE_KINDS)
    sweep: tuple[float, ...] = DEFAULT_SWEEP
    count_sweep: tuple[float, ...] = DEFAULT_COUNT_SWEEP
    params: ChangeParams = field(default_factory=ChangeParams)
    public: tuple[tuple[str, Sequence[Any], str], ...] = ()

    def __post_init__(self) -> None:
        unknown = [k for k in self.kinds if k not in CHANGE_KINDS]
        if unknown:
            raise ValueError(f"unknown change type(s) {unknown} (known: {', '.join(CHANGE_KINDS)})")
        if self.baseline_days < self.params.min_days + 7 or self.follow_days < 1:
            raise ValueError(f"baseline_days must be at least {self.params.min_days + 7} (the detector learns "
                             f"{self.params.min_days} days) and follow_days at least 1")
        if not self.sweep or any(h <= 0 for h in self.sweep):
            raise ValueError("the sweep needs positive thresholds h")
        if any(h < 0 for h in self.count_sweep):
            raise ValueError("the count sweep needs thresholds h_count >= 0 (0: off)")
        if self.homes_per_seed < 1:
            raise ValueError("homes_per_seed must be at least 1")


def monitored_days(report: TrendReport) -> int:
    """Days on which at least one indicator had a learned baseline (the detector could report)."""
    if not report.trends or not report.trends[0].days:
        return 0
    active = np.zeros(len(report.trends[0].days), dtype=bool)
    for t in report.trends:
        active |= ~np.isnan(t.centre) & ~np.isnan(t.values)
    return int(active.sum())


def _reports(daily: DailyIndicators, now: datetime, sweep: Sequence[float], base: ChangeParams
             ) -> dict[float, TrendReport]:
    return {h: trend_report(daily, now=now, params=replace(base, h=h)) for h in sweep}


def _count_reports(daily: DailyIndicators, now: datetime, cfg: TrendsEvalConfig,
                   known: dict[float, TrendReport]) -> dict[float, TrendReport]:
    """At the default h, one report per h_count of the count sweep (the default one reused)."""
    return {hc: known[cfg.params.h] if hc == cfg.params.h_count and cfg.params.h in known
            else trend_report(daily, now=now, params=replace(cfg.params, h_count=hc)) for hc in cfg.count_sweep}


def _counted(kind: str) -> bool:
    """Whether the count CUSUM watches an indicator that shows `kind`."""
    return any(SPECS[key].poisson for key, _ in SHOWN_BY[kind])


def _delay(report: TrendReport, kind: str, start: Any) -> int | None:
    """Days from the first changed day to the first report that shows the change, or None."""
    shown = set(SHOWN_BY[kind])
    delays = [(c.detected - start).days for c in report.changes
              if (c.indicator, c.direction) in shown and c.detected >= start]
    return min(delays) if delays else None


def _told_again(report: TrendReport, kind: str, start: Any, end: Any) -> tuple[int, int, int]:
    """A lasting change told again: (reports of an indicator that shows the change, in its direction,
    after that indicator's own first report; days followed after the change's first report; other
    indicators of the change that reported it later, which is the same story in other words)."""
    found = [c for c in report.changes if (c.indicator, c.direction) in set(SHOWN_BY[kind]) and c.detected >= start]
    if not found:
        return 0, 0, 0
    pairs = {(c.indicator, c.direction) for c in found}
    first = min(c.detected for c in found)
    return len(found) - len(pairs), (end - first).days, len(pairs) - 1


def _applicable(daily: DailyIndicators, kind: str) -> bool:
    return any(key not in daily.unsupported for key, _ in SHOWN_BY[kind])


def evaluate_trends(cfg: TrendsEvalConfig, progress: Callable[[str, int, int], None] = lambda *_: None
                    ) -> dict[str, Any]:
    """Run the injections and the false-report count; the result for result.json and the tables."""
    from hometwin.sim import population  # the simulator is only needed here

    days = cfg.baseline_days + cfg.follow_days
    delays: dict[float, dict[str, list[int | None]]] = {h: {k: [] for k in cfg.kinds} for h in cfg.sweep}
    counted = [k for k in cfg.kinds if _counted(k)]
    count_delays: dict[float, dict[str, list[int | None]]] = {hc: {k: [] for k in counted} for hc in cfg.count_sweep}
    not_applicable = {k: 0 for k in cfg.kinds}
    false_sim = {h: 0 for h in cfg.sweep}
    count_false_sim = {hc: 0 for hc in cfg.count_sweep}
    again = {k: [0, 0, 0] for k in cfg.kinds}  # at the default h: told again, days followed, other indicators
    sim_days = 0
    homes = [h for s in cfg.population_seeds for h in population(s, cfg.homes_per_seed, days)]
    total = len(homes) * (1 + len(cfg.kinds))
    done = 0
    from hometwin.sim.population import simulated_home

    for home in homes:
        now = home.start + timedelta(days=days)
        daily = daily_indicators(home.events, tz=home.tz, now=now)
        reports = _reports(daily, now, cfg.sweep, cfg.params)
        sim_days += monitored_days(reports[cfg.sweep[0]])
        for h, report in reports.items():
            false_sim[h] += len(report.changes)
        for hc, report in _count_reports(daily, now, cfg, reports).items():
            count_false_sim[hc] += len(report.changes)
        done += 1
        progress("simulated homes", done, total)
        start = (home.start + timedelta(days=cfg.baseline_days)).date()
        for kind in cfg.kinds:
            change = BehaviourChange(kind, start, RAMP_DAYS[kind])
            changed = simulated_home(home.seed, days, home.variant, name=home.name, changes=[change])
            c_daily = daily_indicators(changed.events, tz=changed.tz, now=now)
            done += 1
            progress("simulated homes", done, total)
            if not _applicable(c_daily, kind):
                not_applicable[kind] += 1
                continue
            c_reports = _reports(c_daily, now, cfg.sweep, cfg.params)
            for h, report in c_reports.items():
                delays[h][kind].append(_delay(report, kind, start))
            if cfg.params.h in c_reports:
                for i, value in enumerate(_told_again(c_reports[cfg.params.h], kind, start, now.date())):
                    again[kind][i] += value
            if kind in counted:
                for hc, report in _count_reports(c_daily, now, cfg, c_reports).items():
                    count_delays[hc][kind].append(_delay(report, kind, start))
    public = _public(cfg)
    sweep = []
    for h in cfg.sweep:
        row: dict[str, Any] = {"h": h, "types": {k: _type_stats(delays[h][k], not_applicable[k]) for k in cfg.kinds}}
        row["false_sim"] = _rate(false_sim[h], sim_days)
        row["false_public"] = _rate(sum(p["reports"][str(h)] for p in public), sum(p["monitored_days"] for p in public))
        sweep.append(row)
    count_sweep = [{"h_count": hc, "h": cfg.params.h,
                    "types": {k: _type_stats(count_delays[hc][k], not_applicable[k]) for k in counted},
                    "false_sim": _rate(count_false_sim[hc], sim_days),
                    "false_public": _rate(sum(p["count_reports"][str(hc)] for p in public),
                                          sum(p["monitored_days"] for p in public))} for hc in cfg.count_sweep]
    return {"config": {"population_seeds": list(cfg.population_seeds), "homes_per_seed": cfg.homes_per_seed,
                       "baseline_days": cfg.baseline_days, "follow_days": cfg.follow_days,
                       "ramp_days": {k: RAMP_DAYS[k] for k in cfg.kinds},
                       "params": {"window_days": cfg.params.window_days, "min_days": cfg.params.min_days,
                                  "k": cfg.params.k, "default_h": cfg.params.h,
                                  "default_h_count": cfg.params.h_count, "count_shift": cfg.params.count_shift},
                       "shown_by": {k: [f"{i} {d}" for i, d in SHOWN_BY[k]] for k in cfg.kinds}},
            "sim_homes": len(homes), "public_homes": public, "sweep": sweep, "count_sweep": count_sweep,
            "default": next((r for r in sweep if r["h"] == cfg.params.h), None),
            "told_again": {k: {**_rate(again[k][0], again[k][1]), "other_indicators": again[k][2]}
                           for k in cfg.kinds}}


def _type_stats(delays: list[int | None], not_applicable: int) -> dict[str, Any]:
    found = [d for d in delays if d is not None]
    n = len(delays)
    return {"homes": n, "not_applicable": not_applicable, "detected": len(found),
            "median_delay_days": _median_delay(delays),
            "median_delay_detected_days": statistics.median(found) if found else None,
            f"share_within_{WITHIN_DAYS}_days": (sum(1 for d in found if d <= WITHIN_DAYS) / n) if n else None,
            "delays": delays}


def _median_delay(delays: list[int | None]) -> float | None:
    """The median over every applicable home, a change never reported counting as later than any
    reported one: None when at most half the homes reported it (the median is beyond the follow-up)."""
    if not delays:
        return None
    ordered = sorted(delays, key=lambda d: (d is None, d or 0))
    n = len(ordered)
    middle = ordered[(n - 1) // 2], ordered[n // 2]
    if middle[0] is None or middle[1] is None:
        return None
    return (middle[0] + middle[1]) / 2


def _rate(reports: int, days: int) -> dict[str, Any]:
    """False reports per home-month (30 days) with the exact 95 % interval."""
    ci = rate_interval(reports, days)
    return {"reports": reports, "monitored_days": days,
            "per_home_month": round(30 * reports / days, 3) if days else None,
            "per_home_month_ci": [round(30 * ci[0], 3), round(30 * ci[1], 3)] if ci else None}


def _public(cfg: TrendsEvalConfig) -> list[dict[str, Any]]:
    out = []
    for name, events, tz in cfg.public:
        if not events:
            continue
        now = max(e.time for e in events) + timedelta(seconds=1)
        daily = daily_indicators(events, tz=tz, now=now)
        reports = _reports(daily, now, cfg.sweep, cfg.params)
        counts = _count_reports(daily, now, cfg, reports)
        out.append({"home": name, "days": len(daily.days), "monitored_days": monitored_days(reports[cfg.sweep[0]]),
                    "reports": {str(h): len(r.changes) for h, r in reports.items()},
                    "count_reports": {str(hc): len(r.changes) for hc, r in counts.items()},
                    "changes_at_default": [c.to_dict() for c in reports.get(cfg.params.h, reports[cfg.sweep[0]]
                                                                            ).changes]})
    return out
