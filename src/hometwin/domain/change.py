"""Change against the person's own variability: a personal baseline per indicator and a two-sided
CUSUM on rank-based normal scores.

How the dashboard's Trends page, the weekly e-mail and `hometwin trends` use it (all pure; the
caller reads the events from its store and passes `now`):

    from hometwin.domain.change import trend_report_from_events
    from hometwin.domain.trends_wording import change_sentence

    report = trend_report_from_events(events, tz=home_tz, now=now)   # or trend_report(daily, now=now)
    for trend in report.trends:           # one per indicator, in display order
        trend.spec.label, trend.days, trend.values          # the series (NaN = missing)
        trend.low, trend.high                               # the personal normal band per day (NaN: learning)
        trend.changes                                       # Change objects, each with .since / .detected
    for change in report.recent_changes(days=14):
        change_sentence(change)           # "Since Tuesday 4 March ... that happened in no week of the last 8."
    report.unvisited                      # rooms usually visited but not for days
    hometwin.services.trend_images.trends_png(report.trends, weeks=8) -> PNG bytes (small multiples)

The statistics (docs/trends.md): for day t the baseline is the usable values of the trailing
`window_days` before t; for indicators whose routine differs between weekdays and weekends (getting
up, going to bed, outings, time out) only the days of t's kind, when there are enough. The day's
value is ranked among them and turned into a normal score (mid-rank percentile, Phi^-1, divided by
the spread of the baseline days' own scores; see `normal_score`). That is distribution-free (time
out is 0 on some days and 3 h on others; toilet visits are small counts with many ties), has unit
variance under no change, and is bounded (|z| <= 3: one extraordinary day alone never makes a
change). The scores feed a two-sided CUSUM, S+ = max(0, S+ + z - k) and S- = max(0, S- - z - k); a
change is reported when S > h and dated to the day after the CUSUM last stood at 0. Days of the
running excursion are not used to learn normal (a change does not teach itself to be normal). After
a report the CUSUM restarts and the baseline is learned afresh from the days after the report (days
the detector did not pick, so a false report leaves no biased baseline behind). An alarm whose size
(the median departure from the baseline since the change) is below the indicator's `min_change` is
not reported. For standard normal scores Siegmund's approximation gives an in-control average run
length of about 940 days per side with k=0.5 and h=5; the rates measured on real and simulated
homes are in docs/trends.md.

Small nightly counts (`IndicatorSpec.poisson`: night-time toilet visits) are also watched by a
one-sided count CUSUM, C = max(0, C + min(x ln((lam + d) / lam) - d, COUNT_STEP_LIMIT)), the
Poisson likelihood ratio of one visit more a night (d = `count_shift`) against the baseline nights'
mean lam; a rise is reported when C > `h_count`. A rank score spends most of a count's evidence on
ties; the likelihood ratio is the optimal detector of that rise. Both CUSUMs share the rules above.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
from scipy.special import ndtri  # vectorised Phi^-1 (scipy comes with scikit-learn)

from hometwin.domain.events import SensorEvent
from hometwin.domain.indicators import (
    INDICATORS,
    SPECS,
    DailyIndicators,
    IndicatorParams,
    IndicatorSpec,
    UnvisitedRoom,
    daily_indicators,
    unvisited_rooms,
)
from hometwin.domain.stays import StayParams

# Changes that tell one story: (later change's indicator, earlier change's indicator) -> whether the
# two move the same way (True) or opposite ways (False). Times out of bed after more toilet visits,
# time out after outings; the night's three times are peers: whichever is told first tells the story
# (later up or earlier to bed is longer in bed, and longer in bed is later up or earlier to bed).
SAME_STORY: dict[tuple[str, str], bool] = {
    ("bed_exits", "night_toilet_visits"): True, ("time_out", "outings"): True,
    ("time_in_bed", "getting_up"): True, ("getting_up", "time_in_bed"): True,
    ("time_in_bed", "going_to_bed"): False, ("going_to_bed", "time_in_bed"): False,
}
SAME_STORY_DAYS = 3
BAND = (0.05, 0.95)  # the normal band: the middle 90 % of the baseline days
SCORE_LIMIT = 3.0  # the most one day can weigh, in standard deviations
MIN_SPREAD = 0.5  # a baseline of identical days: a different day scores at most SCORE_LIMIT
COUNT_STEP_LIMIT = 0.5  # nats one night can add to the count CUSUM: 4 nights at least make a report


@dataclass(frozen=True, slots=True)
class ChangeParams:
    """Knobs of the change detector.

    window_days: trailing days the baseline is learned from. min_days: usable days it needs (fewer:
    "still learning", no score). weekday_min: days of the same kind (weekday or weekend) needed to
    compare a day with its own kind only.
    k: the CUSUM reference (half the shift, in robust sds, it is tuned to). h: the decision threshold
    (the sensitivity knob; larger = fewer false reports, slower).
    max_excluded: at most this many days of a running excursion are kept out of the baseline.
    h_count: the threshold (in nats of evidence) of the count CUSUM, run next to the rank CUSUM on
    the `poisson` indicators (0: off); count_shift: the rise a night it is tuned to (one visit more:
    a doubling of once a night); count_floor: the least nightly rate it assumes.
    """

    window_days: int = 56
    min_days: int = 14
    weekday_min: int = 8
    k: float = 0.5
    h: float = 8.0
    max_excluded: int = 14
    h_count: float = 1.5
    count_shift: float = 1.0
    count_floor: float = 0.25

    def __post_init__(self) -> None:
        if self.window_days < 7 or not 3 <= self.min_days <= self.window_days:
            raise ValueError("ChangeParams needs window_days >= 7 and 3 <= min_days <= window_days")
        if self.k < 0 or self.h <= 0 or self.weekday_min < 1 or self.max_excluded < 0:
            raise ValueError("ChangeParams k must be >= 0; h and weekday_min positive; max_excluded >= 0")
        if self.h_count < 0 or not self.count_floor > 0 or not self.count_shift > 0:
            raise ValueError("ChangeParams h_count must be >= 0 (0: off), count_floor and count_shift positive")


@dataclass(frozen=True, slots=True)
class Change:
    """A reported change of one indicator.

    `since`: the estimated first changed day; `detected`: the day the CUSUM crossed h. `before`: the
    usual level (the baseline's trimmed mean over all weekdays, in the indicator's unit); `after`:
    `before` plus the median departure of the days from `since` to `detected` from their own
    (weekday) baselines. `weeks_as_extreme` of the `weeks_compared` trailing weeks before `since` had
    a weekly mean at least as far out as `after` (0 = "in no week of the last N").
    """

    indicator: str
    direction: str  # "up" or "down"
    since: date
    detected: date
    before: float
    after: float
    weeks_as_extreme: int
    weeks_compared: int

    @property
    def spec(self) -> IndicatorSpec:
        return SPECS[self.indicator]

    @property
    def size(self) -> float:
        return self.after - self.before

    def to_dict(self) -> dict[str, object]:
        return {"indicator": self.indicator, "direction": self.direction, "since": self.since.isoformat(),
                "detected": self.detected.isoformat(), "before": round(self.before, 3),
                # the size from the rounded levels, so a change read back from this dict is the same
                "after": round(self.after, 3), "size": round(round(self.after, 3) - round(self.before, 3), 3),
                "weeks_as_extreme": self.weeks_as_extreme, "weeks_compared": self.weeks_compared}


@dataclass(frozen=True)
class IndicatorTrend:
    """One indicator's series with its personal normal and the changes found in it.

    Arrays run over `days`. `centre` is the baseline's centre (for the day's weekday where that
    matters), `low`/`high` the normal band (the middle 90 % of the baseline days around that centre;
    NaN while learning), `z` the day's normal score, `cusum_up`/
    `cusum_down` the two CUSUM statistics after the day. `unsupported` says why the whole series
    is missing (the home lacks the sensor), else "".
    """

    spec: IndicatorSpec
    days: tuple[date, ...]
    values: np.ndarray
    centre: np.ndarray
    low: np.ndarray
    high: np.ndarray
    z: np.ndarray
    cusum_up: np.ndarray
    cusum_down: np.ndarray
    changes: tuple[Change, ...] = ()
    unsupported: str = ""

    @property
    def last_index(self) -> int | None:
        """The latest day with a value, or None."""
        ok = np.nonzero(~np.isnan(self.values))[0]
        return int(ok[-1]) if len(ok) else None

    def to_dict(self) -> dict[str, object]:
        def nums(a: np.ndarray) -> list[float | None]:
            return [None if np.isnan(x) else round(float(x), 3) for x in a]

        return {"indicator": self.spec.key, "label": self.spec.label, "unit": self.spec.unit.value,
                "days": [d.isoformat() for d in self.days], "values": nums(self.values),
                "centre": nums(self.centre), "low": nums(self.low), "high": nums(self.high),
                "changes": [c.to_dict() for c in self.changes], "unsupported": self.unsupported}


@dataclass(frozen=True)
class TrendReport:
    """Every indicator's trend for one home at `now`."""

    tz: str
    now: datetime
    trends: tuple[IndicatorTrend, ...]
    unvisited: tuple[UnvisitedRoom, ...] = ()
    params: ChangeParams = field(default_factory=ChangeParams)

    def trend(self, key: str) -> IndicatorTrend:
        for t in self.trends:
            if t.spec.key == key:
                return t
        raise KeyError(f"unknown indicator {key!r}")

    @property
    def changes(self) -> list[Change]:
        """Every change found, oldest detection first; a change that tells the same story as one
        noticed no later (`SAME_STORY`: the related indicator, moving the consistent way, begun within
        `SAME_STORY_DAYS` or noticed within a week before it) is left out, so a nurse reads "goes to
        the toilet twice a night" once, not also "gets out of bed", and "gets up later" once, not a
        week later also "spends longer in bed"."""
        # Noticed the same day, a primary (one-way pairs) goes first, then the order of the names.
        secondary = {later for (later, earlier) in SAME_STORY if (earlier, later) not in SAME_STORY}
        found = sorted((c for t in self.trends for c in t.changes),
                       key=lambda c: (c.detected, c.indicator in secondary, c.indicator))
        told: list[Change] = []
        for c in found:  # compared with what was told, not with what was left out: no chains of stories
            if not any(tells_same_story(c, o) for o in told):
                told.append(c)
        return told

    def recent_changes(self, days: int = 14) -> list[Change]:
        """Changes detected in the last `days` days before `now` (what a weekly report shows)."""
        today = self.now.astimezone(ZoneInfo(self.tz)).date()
        return [c for c in self.changes if (today - c.detected).days <= days]

    def to_dict(self) -> dict[str, object]:
        return {"tz": self.tz, "now": self.now.isoformat(), "trends": [t.to_dict() for t in self.trends],
                "changes": [c.to_dict() for c in self.changes],
                "unvisited": [{"room": u.room, "last_visit": u.last_visit.isoformat(), "days": round(u.days, 1),
                               "usual_share": round(u.usual_share, 2)} for u in self.unvisited]}


def tells_same_story(later: Change, earlier: Change) -> bool:
    """`later` tells again the story of `earlier` (told before it, in the report's order)."""
    same_way = SAME_STORY.get((later.indicator, earlier.indicator))
    if same_way is None or (later.direction == earlier.direction) != same_way:
        return False
    # Begun about together, or noticed within a week after it, but not begun after it was told: a
    # change that began once the earlier one was already reported is a new story.
    return (abs((earlier.since - later.since).days) <= SAME_STORY_DAYS
            or ((later.detected - earlier.detected).days <= 7 and later.since <= earlier.detected))


def trend_report(daily: DailyIndicators, *, now: datetime, params: ChangeParams = ChangeParams(),
                 unvisited_after_days: float = 2.0) -> TrendReport:
    """Track every indicator of `daily` (see `track_indicator`)."""
    trends = tuple(track_indicator(spec, daily.days, daily.values[spec.key], params,
                                   daily.unsupported.get(spec.key, "")) for spec in INDICATORS)
    return TrendReport(daily.tz, now, trends, tuple(unvisited_rooms(daily, now, unvisited_after_days)), params)


def trend_report_from_events(events: Iterable[SensorEvent], *, tz: str, now: datetime,
                             params: ChangeParams = ChangeParams(),
                             indicator_params: IndicatorParams = IndicatorParams(),
                             stay_params: StayParams = StayParams()) -> TrendReport:
    """Events -> daily indicators -> trend report, in one call (what the dashboard and e-mail use)."""
    daily = daily_indicators(events, tz=tz, now=now, params=indicator_params, stay_params=stay_params)
    return trend_report(daily, now=now, params=params)


def track_indicator(spec: IndicatorSpec, days: tuple[date, ...], values: np.ndarray,
                    params: ChangeParams = ChangeParams(), unsupported: str = "") -> IndicatorTrend:
    """Run the baseline and the two-sided CUSUM over one daily series (online: day t sees only
    days before t), and report every change found."""
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if len(days) != n:
        raise ValueError(f"{len(days)} days but {n} values")
    centre, level, low, high = (np.full(n, np.nan) for _ in range(4))
    z, up, down = np.full(n, np.nan), np.zeros(n), np.zeros(n)
    weekday = np.array([d.weekday() for d in days], dtype=np.int64)
    changes: list[Change] = []
    s_up = s_down = s_count = 0.0
    run_up = run_down = run_count = -1  # index of the first day of the running excursion (-1: none)
    watch_count = spec.poisson and params.h_count > 0
    learn_from = 0  # the baseline is learned from this day on (moved to a change's start)
    for t in range(n):
        lo = max(learn_from, t - params.window_days)
        excursion = [r for r in (run_up, run_down, run_count) if r >= 0]
        hi = t
        if excursion:
            hi = max(min(excursion), t - params.max_excluded, lo)
        window = x[lo:hi]
        ok = ~np.isnan(window)
        reference = None
        if ok.sum() >= params.min_days:
            vals, wd = window[ok], weekday[lo:hi][ok]
            reference = np.sort(_reference(vals, wd, int(weekday[t]), spec, params))
            centre[t], level[t] = trimmed_mean(reference, presorted=True), trimmed_mean(vals)
            low[t], high[t] = _quantile(reference, BAND[0]), _quantile(reference, BAND[1])
        if np.isnan(x[t]) or reference is None:
            up[t], down[t] = s_up, s_down
            continue
        z[t] = normal_score(float(x[t]), reference, spec.min_scale / 2, presorted=True)
        s_up = max(0.0, s_up + z[t] - params.k)
        s_down = max(0.0, s_down - z[t] - params.k)
        run_up = (t if run_up < 0 else run_up) if s_up > 0 else -1
        run_down = (t if run_down < 0 else run_down) if s_down > 0 else -1
        if watch_count:
            s_count = max(0.0, s_count + count_evidence(float(x[t]), float(np.mean(reference)), params))
            run_count = (t if run_count < 0 else run_count) if s_count > 0 else -1
        up[t], down[t] = s_up, s_down
        for direction, s, start, h in (("up", s_up, run_up, params.h), ("down", s_down, run_down, params.h),
                                       ("up", s_count, run_count, params.h_count)):
            if s > h:
                change = _change(spec, days, x, x - centre, level[t], start, t, direction, learn_from)
                s_up = s_down = s_count = 0.0
                run_up = run_down = run_count = -1
                if abs(change.size) >= spec.min_change:  # else: too small to matter, keep the baseline
                    changes.append(change)
                    learn_from = t + 1  # days the detector did not pick: a false report leaves no bias
                break
    return IndicatorTrend(spec, tuple(days), x, centre, low, high, z, up, down, tuple(changes), unsupported)


def count_evidence(count: float, rate: float, params: ChangeParams = ChangeParams()) -> float:
    """The log-likelihood ratio of one night's `count` for a Poisson rate raised by `count_shift`
    against the usual `rate` (the baseline nights' mean, at least `count_floor`), in nats:
    count * ln((rate + shift) / rate) - shift.

    Summed by a CUSUM this is the optimal detector of that rise (Lorden, Moustakides). One visit more
    a night is what a doubling of once a night is; for a person who goes three times it is a third
    more, which is still worth a question. A night weighs at most `COUNT_STEP_LIMIT` nats: one night
    of eight visits is a reason to look, not a change.
    """
    lam = max(rate, params.count_floor)
    return min(count * float(np.log1p(params.count_shift / lam)) - params.count_shift, COUNT_STEP_LIMIT)


def _reference(vals: np.ndarray, wd: np.ndarray, today: int, spec: IndicatorSpec,
               params: ChangeParams) -> np.ndarray:
    """The baseline days a day is compared with: for an indicator whose routine differs between
    weekdays and weekends, the days of today's kind when there are `weekday_min` of them (eight weeks
    hold only eight Mondays, too few for a stable Monday; 40 weekdays and 16 weekend days are
    enough), else all of them."""
    if spec.by_weekday:
        same = vals[(wd >= 5) == (today >= 5)]
        if len(same) >= params.weekday_min:
            return same
    return vals


def normal_score(value: float, reference: np.ndarray, tolerance: float, presorted: bool = False) -> float:
    """How unusual `value` is among the baseline days' values, as a score with the scale of a
    standard normal variable.

    The mid-rank percentile p = (below + ties / 2 + 1/2) / (n + 1) becomes Phi^-1(p), divided by the
    spread of the same scores of the baseline days themselves. Distribution-free: a day without an
    outing reads right for someone who goes out on 3 days in 4 (a z-score from a median and MAD would
    call it extreme); and since many days tie (0 outings, 1 toilet visit), the division restores unit
    variance, so the CUSUM's k and h mean the same for a count as for a clock time. Values within
    `tolerance` tie (a very regular person is not alarmed by a minute). The score is bounded by
    +-`SCORE_LIMIT`: no single day is a change.
    """
    ref = reference if presorted else np.sort(reference)
    scores = _mid_rank_scores(ref, np.concatenate((ref, [value])), tolerance)
    spread = max(float(np.sqrt(np.mean(scores[:-1] ** 2))), MIN_SPREAD)
    return float(np.clip(scores[-1] / spread, -SCORE_LIMIT, SCORE_LIMIT))


def _mid_rank_scores(ref: np.ndarray, points: np.ndarray, tolerance: float) -> np.ndarray:
    below = np.searchsorted(ref, points - tolerance, side="left")
    ties = np.searchsorted(ref, points + tolerance, side="right") - below
    return np.asarray(ndtri((below + ties / 2 + 0.5) / (len(ref) + 1)))


def _quantile(ordered: np.ndarray, q: float) -> float:
    """np.quantile's default (linear) on an already sorted array, without its overhead."""
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return float(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo))


def trimmed_mean(values: np.ndarray, share: float = 0.2, presorted: bool = False) -> float:
    """The mean of the middle values (`share` cut from each end): as robust as a median against a
    few extraordinary days, but it does not stick to 0 or 1 for a count that is often either
    (a median of nights with 0 or 1 toilet visits says "0" or "1", the trimmed mean "0.5")."""
    v = values if presorted else np.sort(values)
    cut = int(len(v) * share)
    return float(np.mean(v[cut:len(v) - cut])) if len(v) > 2 * cut else float(np.median(v))


def _change(spec: IndicatorSpec, days: tuple[date, ...], x: np.ndarray, residual: np.ndarray, before: float,
            start: int, t: int, direction: str, learn_from: int) -> Change:
    """`before` is the usual level (all weekdays); the size is the median of the days' departures
    from their own (weekday) baselines since the change began."""
    since = residual[start:t + 1]
    after = before + float(np.nanmedian(since)) if np.any(~np.isnan(since)) else float("nan")
    # How unusual: weekly means of the trailing weeks before the change that were as far out.
    history = x[max(learn_from, start - 56):start]
    weeks = [history[i:i + 7] for i in range(len(history) % 7, len(history), 7)]
    means = [float(np.nanmean(w)) for w in weeks if np.count_nonzero(~np.isnan(w)) >= 3]
    extreme = sum(1 for m in means if (m >= after if direction == "up" else m <= after))
    return Change(spec.key, direction, days[start], days[t], float(before), float(after), extreme, len(means))


def day_index(days: tuple[date, ...], day: date) -> int | None:
    """The position of `day` in `days`, or None."""
    if not days or day < days[0] or day > days[-1]:
        return None
    i = (day - days[0]).days
    return i if days[i] == day else None


__all__ = ["Change", "ChangeParams", "IndicatorTrend", "TrendReport", "count_evidence", "day_index",
           "track_indicator", "trend_report", "trend_report_from_events"]
