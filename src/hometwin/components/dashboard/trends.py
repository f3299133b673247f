"""The Trends page's data: the daily indicators of the last weeks with the person's normal and changes.

The statistics are `hometwin.domain.change` (the same as the weekly e-mail and `hometwin trends`);
this module only reads enough history for them and turns a `TrendReport` into the page's view.
Indicators only change when a day is complete, so a report is kept for a few minutes per day and
number of weeks: reloading the page does not recompute months of events on a Raspberry Pi.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np

from hometwin.domain.change import Change, IndicatorTrend, TrendReport
from hometwin.domain.trends_wording import band_text, change_sentence, change_summary, value_text
from hometwin.services.trend_digest import RECENT_CHANGE_DAYS, last_weeks

from .schemas import IndicatorTrendView, TrendChange, TrendsView, UnvisitedRoomView

NO_DATA = "no data"  # what the indicators say of every indicator when there is no event at all
CACHE_FOR = timedelta(minutes=5)


def _numbers(values: np.ndarray) -> list[float | None]:
    return [round(float(v), 3) if math.isfinite(v) else None for v in values]


def change_view(change: Change) -> TrendChange:
    return TrendChange(indicator=change.indicator, label=change.spec.label,
                       direction="up" if change.direction == "up" else "down", since=change.since,
                       detected=change.detected, before=change.before, after=change.after,
                       sentence=change_sentence(change), summary=change_summary(change))


def indicator_view(trend: IndicatorTrend, weeks: int) -> IndicatorTrendView:
    shown = last_weeks(trend, weeks)
    spec = shown.spec
    unsupported = "" if shown.unsupported == NO_DATA else shown.unsupported  # no event: no verdict either
    view = IndicatorTrendView(key=spec.key, label=spec.label, unit=spec.unit.value, needs=spec.needs,
                              unsupported=unsupported)
    if shown.unsupported:
        return view
    view.days = list(shown.days)
    view.values, view.low, view.high = _numbers(shown.values), _numbers(shown.low), _numbers(shown.high)
    view.changes = [change_view(c) for c in shown.changes]
    last = shown.last_index
    if last is not None:
        view.latest = value_text(spec, float(shown.values[last]))
        view.latest_day = shown.days[last]
    if len(shown.days):
        band = band_text(spec, float(shown.low[-1]), float(shown.high[-1]))
        view.normal = "still being learned" if band == "learning" else band
    return view


def fill_trends_view(view: TrendsView, report: TrendReport) -> TrendsView:
    """Put `report` (its last `view.weeks`) into `view`."""
    view.indicators = [indicator_view(t, view.weeks) for t in report.trends]
    view.changes = [change_view(c) for c in sorted(report.recent_changes(RECENT_CHANGE_DAYS),
                                                   key=lambda c: (c.detected, c.indicator), reverse=True)]
    view.unvisited = [UnvisitedRoomView(room=u.room, last_visit=u.last_visit, days=round(u.days, 1))
                      for u in report.unvisited]
    return view


class TrendCache:
    """The last report per (local day, weeks) for `CACHE_FOR`; a failed computation is not kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[tuple[str, int], tuple[datetime, TrendReport]] = {}

    def get(self, day: str, weeks: int, now: datetime, compute: Callable[[], TrendReport | None]
            ) -> TrendReport | None:
        with self._lock:
            kept = self._kept.get((day, weeks))
            if kept is not None and timedelta(0) <= now - kept[0] < CACHE_FOR:
                return kept[1]
        report = compute()
        if report is not None:
            with self._lock:
                self._kept = {(day, weeks): (now, report)}  # one home, one page: keep only the newest
        return report
