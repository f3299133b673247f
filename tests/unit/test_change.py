"""The change detector on synthetic series with known change points, on stationary noise, with
missing days, and the plain-language reading of a change."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from hometwin.domain.change import (
    Change,
    ChangeParams,
    normal_score,
    tells_same_story,
    track_indicator,
    trend_report,
    trimmed_mean,
)
from hometwin.domain.indicators import INDICATORS, SPECS, DailyIndicators
from hometwin.domain.trends_wording import band_text, change_sentence, change_summary, times_text, value_text

FIRST = date(2024, 1, 1)  # a Monday


def days(n: int) -> tuple[date, ...]:
    return tuple(FIRST + timedelta(days=i) for i in range(n))


def test_a_sudden_shift_is_found_near_its_start_with_its_size() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(420, 20, 120)  # getting up around 07:00 +- 20 min
    x[70:] += 90  # 90 minutes later from day 70
    trend = track_indicator(SPECS["getting_up"], days(120), x)
    assert len(trend.changes) == 1
    change = trend.changes[0]
    assert change.direction == "up"
    assert 0 <= (change.detected - days(120)[70]).days <= 4
    assert abs((change.since - days(120)[70]).days) <= 2
    assert 60 < change.size < 120 and change.before == pytest.approx(420, abs=10)
    assert change.weeks_as_extreme == 0 and change.weeks_compared == 8


def test_doubled_night_visits_are_found_and_a_single_bad_night_is_not() -> None:
    rng = np.random.default_rng(2)
    x = rng.poisson(1.5, 140).astype(float)
    x[100:] = rng.poisson(3.0, 40)
    x[50] = 9  # one extraordinary night
    trend = track_indicator(SPECS["night_toilet_visits"], days(140), x)
    found = [days(140).index(c.detected) for c in trend.changes if c.direction == "up"]
    assert any(100 <= i <= 114 for i in found)
    assert not any(50 <= i <= 51 for i in found)  # the one bad night alone is no change


def test_stationary_noise_gives_false_reports_at_about_the_documented_rate() -> None:
    """k = 0.5, h = 5: Siegmund's average run length is about 940 days per side, so 2 x 6,000
    monitored days should give about 13 reports; allow up to 40 (the baseline is estimated)."""
    rng = np.random.default_rng(3)
    reports = monitored = 0
    for _ in range(40):
        x = rng.normal(8.0, 0.7, 164)  # time in bed
        trend = track_indicator(SPECS["time_in_bed"], days(164), x, ChangeParams(k=0.5, h=5.0))
        reports += len(trend.changes)
        monitored += int(np.count_nonzero(~np.isnan(trend.z)))
    assert monitored > 5000
    assert reports <= 40 * monitored / 6000


def test_a_larger_threshold_reports_less_on_noise() -> None:
    rng = np.random.default_rng(4)
    series = [rng.normal(40, 6, 150) for _ in range(30)]

    def total(h: float) -> int:
        return sum(len(track_indicator(SPECS["room_transitions"], days(150), x, ChangeParams(h=h)).changes)
                   for x in series)

    assert total(10.0) <= total(3.0)
    assert total(3.0) > 0


def test_outings_on_three_days_in_four_are_no_change_but_stopping_is() -> None:
    rng = np.random.default_rng(5)
    x = (rng.random(150) < 0.75).astype(float)
    quiet = track_indicator(SPECS["outings"], days(150), x)
    assert quiet.changes == ()
    x[110:] = 0
    stopped = track_indicator(SPECS["outings"], days(150), x)
    assert [c.direction for c in stopped.changes] == ["down"]
    assert 0 <= days(150).index(stopped.changes[0].detected) - 110 <= 10


def test_missing_days_neither_count_nor_reset() -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(420, 20, 100)
    x[60:] += 90
    x[62:66] = np.nan  # four days without data inside the change
    trend = track_indicator(SPECS["getting_up"], days(100), x)
    assert len(trend.changes) == 1 and trend.changes[0].detected >= days(100)[66]
    assert np.isnan(trend.z[62:66]).all()
    assert np.isnan(track_indicator(SPECS["getting_up"], days(10), x[:10]).centre).all()  # still learning
    assert track_indicator(SPECS["getting_up"], days(10), np.full(10, np.nan)).last_index is None


def test_a_change_smaller_than_worth_reporting_is_not_reported() -> None:
    x = np.full(100, 420.0) + np.tile([0.0, 1.0, -1.0, 2.0], 25)
    x[60:] += 12  # 12 minutes later: far beyond this person's spread, but under 30 min
    assert track_indicator(SPECS["getting_up"], days(100), x).changes == ()


def test_weekends_are_compared_with_weekends() -> None:
    x = np.array([420.0 if d.weekday() < 5 else 540.0 for d in days(120)])
    x += np.random.default_rng(7).normal(0, 10, 120)
    trend = track_indicator(SPECS["getting_up"], days(120), x)
    assert trend.changes == ()
    saturday = next(i for i in range(60, 120) if days(120)[i].weekday() == 5)
    assert trend.centre[saturday] == pytest.approx(540, abs=10)
    assert trend.low[saturday] > 500 and trend.high[saturday - 1] < 470


def test_normal_scores_are_bounded_standardised_and_treat_near_values_as_ties() -> None:
    ref = np.arange(56, dtype=float)
    assert 2.4 < normal_score(1000.0, ref, 0.0) <= 3.0
    assert normal_score(27.5, ref, 0.0) == pytest.approx(0.0, abs=1e-9)
    assert normal_score(0.0, np.zeros(20), 0.5) == pytest.approx(0.0)
    assert normal_score(1.0, np.zeros(20), 0.5) == 3.0  # identical days: a different one weighs the most
    # out on half the days: a day at home is 1 sd low once the ties are accounted for
    half = np.array([0.0, 1.0] * 28)
    assert normal_score(0.0, half, 0.25) == pytest.approx(-1.0, abs=0.05)
    assert trimmed_mean(np.array([0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0])) == pytest.approx(0.5)


def test_params_are_checked() -> None:
    with pytest.raises(ValueError):
        ChangeParams(h=0)
    with pytest.raises(ValueError):
        ChangeParams(window_days=30, min_days=40)
    with pytest.raises(ValueError):
        track_indicator(SPECS["outings"], days(3), np.zeros(4))


def test_the_report_holds_every_indicator_and_reads_for_a_nurse() -> None:
    n = 100
    values = {s.key: np.full(n, np.nan) for s in INDICATORS}
    values["night_toilet_visits"] = np.tile([1.0, 1.0, 0.0, 2.0, 1.0], n // 5)
    values["night_toilet_visits"][80:] = 3.0
    daily = DailyIndicators("Europe/Berlin", days(n), values, {"outings": "no outside-door contact"})
    now = datetime(2024, 4, 10, 8, tzinfo=ZoneInfo("Europe/Berlin"))
    report = trend_report(daily, now=now)
    assert [t.spec.key for t in report.trends] == [s.key for s in INDICATORS]
    assert report.trend("outings").unsupported == "no outside-door contact"
    [change] = report.changes
    assert change.indicator == "night_toilet_visits" and abs((change.since - days(n)[80]).days) <= 3
    assert report.recent_changes(days=30) == [change]
    sentence = change_sentence(change)
    assert sentence.startswith(f"Since {change.since:%A} {change.since.day} {change.since:%B} the resident goes to "
                               "the toilet ")
    assert " times a night instead of once; " in sentence
    assert sentence.endswith("that happened in no week of the last 8 weeks.")
    assert "diagnos" not in sentence
    assert report.to_dict()["changes"][0]["indicator"] == "night_toilet_visits"


def test_wording_of_values_bands_and_changes() -> None:
    assert value_text("getting_up", 425.0) == "07:05"
    assert value_text("time_in_bed", 8.5) == "8 h 30 min"
    assert value_text("kitchen_time", 42.0) == "42 min"
    assert value_text("outings", float("nan")) == "–"
    assert band_text("getting_up", float("nan"), 1.0) == "learning"
    assert band_text("outings", -0.3, 2.0) == "0 – 2"
    assert times_text(1) == "once" and times_text(2) == "twice" and times_text(0) == "not once"
    later = Change("getting_up", "up", date(2024, 3, 5), date(2024, 3, 8), 420.0, 510.0, 1, 8)
    assert change_summary(later) == "later: 07:00 → 08:30 since Tue 05 Mar"
    side_disagrees = Change("getting_up", "down", date(2024, 3, 5), date(2024, 3, 8), 405.0, 415.0, 1, 8)
    assert change_summary(side_disagrees) == "later: 06:45 → 06:55 since Tue 05 Mar"  # the words follow the levels
    assert change_sentence(later, "she") == ("Since Tuesday 5 March she gets up at 08:30 instead of 07:00; "
                                             "that happened in 1 of the last 8 weeks.")


def test_a_change_two_indicators_tell_is_reported_once() -> None:
    n = 100
    values = {s.key: np.full(n, np.nan) for s in INDICATORS}
    values["night_toilet_visits"] = np.tile([1.0, 1.0, 0.0, 2.0, 1.0], n // 5)
    values["night_toilet_visits"][80:] = 3.0
    values["bed_exits"] = values["night_toilet_visits"].copy()
    daily = DailyIndicators("Europe/Berlin", days(n), values)
    report = trend_report(daily, now=datetime(2024, 4, 10, 8, tzinfo=ZoneInfo("Europe/Berlin")))
    assert len(report.trend("bed_exits").changes) == 1  # still marked on its own chart
    assert [c.indicator for c in report.changes] == ["night_toilet_visits"]
    values["bed_exits"][75:] = 3.0  # the bed exits change now comes first: it is kept
    first = trend_report(daily, now=datetime(2024, 4, 10, 8, tzinfo=ZoneInfo("Europe/Berlin")))
    assert [c.indicator for c in first.changes] == ["bed_exits", "night_toilet_visits"]
    stopped = Change("outings", "down", date(2024, 3, 5), date(2024, 3, 12), 1.0, 0.0, 0, 8)
    assert change_sentence(stopped) == ("Since Tuesday 5 March the resident no longer goes out (usually once a day); "
                                        "that happened in no week of the last 8 weeks.")


def test_the_night_times_tell_one_story() -> None:
    n = 100
    wiggle = np.tile([0.0, 10.0, -10.0, 5.0, -5.0], n // 5)
    values = {s.key: np.full(n, np.nan) for s in INDICATORS}
    values["getting_up"] = 420.0 + wiggle
    values["getting_up"][80:] += 90.0
    values["time_in_bed"] = 8.0 + wiggle / 20
    values["time_in_bed"][80:] += 1.5
    daily = DailyIndicators("Europe/Berlin", days(n), values)
    report = trend_report(daily, now=datetime(2024, 4, 10, 8, tzinfo=ZoneInfo("Europe/Berlin")))
    assert report.trend("getting_up").changes and report.trend("time_in_bed").changes  # both charts marked
    [told] = report.changes
    assert told.indicator in ("getting_up", "time_in_bed") and told.direction == "up"

    def change(indicator: str, direction: str, since: int, detected: int) -> Change:
        return Change(indicator, direction, date(2024, 3, since), date(2024, 3, detected), 0.0, 1.0, 0, 8)

    later_up, longer_in_bed = change("getting_up", "up", 5, 9), change("time_in_bed", "up", 5, 15)
    assert tells_same_story(longer_in_bed, later_up) and tells_same_story(later_up, longer_in_bed)
    earlier_to_bed = change("going_to_bed", "down", 4, 8)
    assert tells_same_story(longer_in_bed, earlier_to_bed) and tells_same_story(earlier_to_bed, longer_in_bed)
    assert not tells_same_story(change("time_in_bed", "down", 5, 15), later_up)  # shorter nights: another story
    assert not tells_same_story(change("going_to_bed", "up", 5, 12), later_up)  # a later rhythm: both are told
    assert not tells_same_story(change("time_in_bed", "up", 20, 28), later_up)  # weeks apart: another story
    told_before_it_began = change("getting_up", "up", 12, 14)
    assert not tells_same_story(told_before_it_began, change("time_in_bed", "up", 2, 9))  # began after the report
    assert tells_same_story(change("getting_up", "up", 8, 14), change("time_in_bed", "up", 2, 9))  # began before it
    assert not tells_same_story(change("night_toilet_visits", "up", 5, 9), change("bed_exits", "up", 5, 8))


def test_charts_render_every_indicator_even_without_data() -> None:
    from hometwin.services.trend_images import trend_png, trends_png

    n = 90
    values = {s.key: np.full(n, np.nan) for s in INDICATORS}
    values["getting_up"] = np.r_[np.full(60, 420.0), np.full(30, 510.0)] + np.tile([0.0, 10.0, -10.0], 30)
    daily = DailyIndicators("Europe/Berlin", days(n), values, {"outings": "no outside-door contact"})
    report = trend_report(daily, now=datetime(2024, 3, 31, 8, tzinfo=ZoneInfo("Europe/Berlin")))
    assert report.trend("getting_up").changes
    whole = trends_png(report.trends, weeks=6)
    one = trend_png(report.trend("getting_up"), weeks=6)
    empty = trend_png(report.trend("outings"))
    for png in (whole, one, empty):
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 2000
    with pytest.raises(ValueError):
        trends_png([], weeks=6)
