"""evaluate --trends' bookkeeping on synthetic daily series: a lasting change is counted once, a
second step of the same change is counted as told again."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np

from hometwin.domain.change import TrendReport, trend_report
from hometwin.domain.indicators import INDICATORS, DailyIndicators
from hometwin.evaluation.trends import _delay, _told_again

DAYS = tuple(date(2024, 1, 1) + timedelta(days=i) for i in range(160))
START, END = DAYS[56], DAYS[-1] + timedelta(days=1)


def report_of(getting_up: np.ndarray) -> TrendReport:
    values = {s.key: np.full(len(DAYS), np.nan) for s in INDICATORS}
    values["getting_up"] = getting_up
    daily = DailyIndicators("Europe/Berlin", DAYS, values, gap=np.zeros(len(DAYS), dtype=bool))
    return trend_report(daily, now=datetime.combine(END, datetime.min.time(), UTC))


def test_a_lasting_change_is_counted_once_and_a_second_step_as_told_again() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(420, 20, len(DAYS))
    x[56:] += 90  # 90 minutes later from day 56, for good
    once = report_of(x.copy())
    delay = _delay(once, "wake_later_90", START)
    assert delay is not None and 0 <= delay <= 7
    told, followed, others = _told_again(once, "wake_later_90", START, END)
    assert told == others == 0 and followed == (END - START).days - delay
    x[120:] += 90  # and another 90 minutes later: the same indicator, the same direction, again
    assert _told_again(report_of(x), "wake_later_90", START, END)[0] == 1
    assert _told_again(report_of(rng.normal(420, 20, len(DAYS))), "wake_later_90", START, END) == (0, 0, 0)
