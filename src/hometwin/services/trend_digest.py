"""The trend report as the weekly e-mail carries it, and the last weeks of a trend as pictures show it.

The modeling component computes the trends when it trains (it has the events then) and puts a
digest into `ModelTrainedEvent.report.trends`; the actuation, which reads no sensor data, turns the
digest back into a `TrendReport` to write the sentences and draw the charts. A digest holds only
what a picture and a sentence need over the last `weeks` (values, normal band, changes): about
15 kB of JSON for 8 weeks, far below the scheduler's body limit.

    digest = trend_digest(report, weeks=8)          # JSON-able dict (modeling)
    report = read_trend_digest(digest)              # TrendReport again (actuation); InvalidNotification
    trend = last_weeks(report.trend("getting_up"), 8)  # what one chart shows
"""

from __future__ import annotations

import dataclasses
import logging
import math
from datetime import date, timedelta
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from hometwin.domain.change import Change, ChangeParams, IndicatorTrend, TrendReport
from hometwin.domain.indicators import SPECS, UnvisitedRoom
from hometwin.domain.localtime import known_zone
from hometwin.services.errors import InvalidNotification

log = logging.getLogger(__name__)

TREND_WEEKS = 8  # what the Trends page and the weekly e-mail show by default
RECENT_CHANGE_DAYS = 14  # "current" changes: detected in the last two weeks (page and e-mail list them)
DIGEST_VERSION = 1


def history_days(weeks: int = TREND_WEEKS, params: ChangeParams = ChangeParams()) -> int:
    """Days of events to read so that even the first charted day has its full baseline window."""
    return weeks * 7 + params.window_days


def last_weeks(trend: IndicatorTrend, weeks: int) -> IndicatorTrend:
    """The trend's last `weeks` * 7 days (the series ends yesterday), with the changes detected in them."""
    if weeks < 1:
        raise ValueError(f"weeks must be at least 1, got {weeks}")
    first = max(0, len(trend.days) - weeks * 7)
    if first == 0:
        return trend
    shown = trend.days[first]
    sliced = {f: getattr(trend, f)[first:] for f in ("values", "centre", "low", "high", "z", "cusum_up",
                                                     "cusum_down")}
    return dataclasses.replace(trend, days=trend.days[first:], changes=tuple(
        c for c in trend.changes if c.detected >= shown), **sliced)


def _numbers(values: np.ndarray) -> list[float | None]:
    return [None if not math.isfinite(x) else round(float(x), 3) for x in values]


def trend_digest(report: TrendReport, weeks: int = TREND_WEEKS) -> dict[str, Any]:
    """The JSON the report event carries: every indicator's last `weeks`, its band and changes."""
    trends = [last_weeks(t, weeks) for t in report.trends]
    days = trends[0].days if trends else ()
    return {
        "version": DIGEST_VERSION, "tz": report.tz, "now": report.now.isoformat(), "weeks": weeks,
        "days": [d.isoformat() for d in days],
        "trends": [{"indicator": t.spec.key, "values": _numbers(t.values), "centre": _numbers(t.centre),
                    "low": _numbers(t.low), "high": _numbers(t.high),
                    "changes": [c.to_dict() for c in t.changes], "unsupported": t.unsupported}
                   for t in trends],
        "unvisited": [{"room": u.room, "last_visit": u.last_visit.isoformat(), "days": round(u.days, 2),
                       "usual_share": round(u.usual_share, 3)} for u in report.unvisited],
    }


# -- reading it back (the actuation) ----------------------------------------------------------------

# Any indicator's value is far inside this (minutes after midnight, hours, counts); a value beyond it
# is no measurement, and refusing it keeps the charts' axes sane.
_Value = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]
_Series = list[_Value | None]


class _ChangeIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    indicator: str = Field(max_length=60)
    direction: Literal["up", "down"]
    since: date
    detected: date
    before: _Value
    after: _Value
    weeks_as_extreme: int = Field(ge=0, le=1000)
    weeks_compared: int = Field(ge=0, le=1000)


class _TrendIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    indicator: str = Field(max_length=60)
    values: _Series
    centre: _Series
    low: _Series
    high: _Series
    changes: list[_ChangeIn] = Field(default_factory=list, max_length=100)
    unsupported: str = Field("", max_length=300)


class _UnvisitedIn(BaseModel):
    room: str = Field(max_length=100)
    last_visit: AwareDatetime
    days: float = Field(ge=0, le=1e5)
    usual_share: float = Field(ge=0, le=1)


class _DigestIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: Literal[1]
    tz: str = Field(max_length=60)
    now: AwareDatetime
    weeks: int = Field(ge=1, le=104)
    days: list[date] = Field(max_length=800)
    trends: list[_TrendIn] = Field(max_length=60)
    unvisited: list[_UnvisitedIn] = Field(default_factory=list, max_length=100)


def _array(values: _Series) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def read_trend_digest(data: Any) -> TrendReport:
    """The `TrendReport` of a digest, or InvalidNotification naming what is wrong. Indicators this
    version does not know (a newer modeling) are left out, not refused."""
    try:
        digest = _DigestIn.model_validate(data)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in err["loc"]) for err in exc.errors()[:5])
        raise InvalidNotification(f"invalid report trends field(s): {fields}") from exc
    try:
        known_zone(digest.tz)
    except ValueError as exc:
        raise InvalidNotification(f"invalid report trends: unknown time zone {digest.tz!r}") from exc
    days = tuple(digest.days)
    if any(b != a + timedelta(days=1) for a, b in zip(days, days[1:], strict=False)):
        raise InvalidNotification("invalid report trends: the days must be consecutive")
    trends = []
    for i, t in enumerate(digest.trends):
        spec = SPECS.get(t.indicator)
        if spec is None:
            log.warning("report trends: leaving out the unknown indicator %r", t.indicator[:60])
            continue
        series = {name: _array(getattr(t, name)) for name in ("values", "centre", "low", "high")}
        wrong = [name for name, a in series.items() if len(a) != len(days)]
        if wrong:
            raise InvalidNotification(f"invalid report trends: trends.{i}.{wrong[0]} has "
                                      f"{len(series[wrong[0]])} values for {len(days)} days")
        changes = tuple(Change(t.indicator, c.direction, c.since, c.detected, c.before, c.after,
                               c.weeks_as_extreme, c.weeks_compared)
                        for c in t.changes if c.indicator == t.indicator)
        missing = np.full(len(days), np.nan)
        trends.append(IndicatorTrend(spec, days, series["values"], series["centre"], series["low"],
                                     series["high"], missing, missing, missing, changes, t.unsupported))
    unvisited = tuple(UnvisitedRoom(u.room, u.last_visit, u.days, u.usual_share) for u in digest.unvisited)
    return TrendReport(digest.tz, digest.now, tuple(trends), unvisited)
