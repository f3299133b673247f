"""Alerts counted per incident and the shift vector that buys the most delay within a budget
(domain/calibration_incidents.py), on drawn margin rows."""

from __future__ import annotations

import numpy as np
import pytest

from hometwin.domain.calibration_incidents import (
    Levels,
    cheapest_shifts,
    decode_blocks,
    encode_blocks,
    levels_of,
    prior_levels,
)
from hometwin.domain.calibration_prior import ALARM_DETECTORS, SHIFTS, episodes

SILENCE, STAY, ROUTINE, AWAY = ALARM_DETECTORS
ZERO = int(np.searchsorted(SHIFTS, 0.0))
TOP = len(SHIFTS) - 1


def _quiet_day() -> dict[str, np.ndarray]:
    return {name: np.full(144, -np.inf) for name in ALARM_DETECTORS}


def _levels(days: list[dict[str, np.ndarray]]) -> Levels:
    return levels_of({name: [d[name] for d in days] for name in ALARM_DETECTORS}, float(len(days)))


def test_one_incident_in_several_person_detectors_is_one_alert() -> None:
    day = _quiet_day()
    day[SILENCE][40:50] = 1.0  # a silence ...
    day[STAY][45:60] = 0.5  # ... and a long stay overlapping it: the monitoring sends one alert
    day[ROUTINE][100:103] = 0.2  # a missing routine later: a second incident
    day[AWAY][45:50] = 0.0  # "not back home" is a warning of its own
    levels = _levels([day])
    at_default = [ZERO] * 4
    assert sum(episodes(day[n], 0.0) for n in ALARM_DETECTORS) == 4
    assert levels.alerts(at_default) == 3
    # Above the silence's margin the stay alone carries the first incident; above both, none is left.
    silence_off = [int(np.searchsorted(SHIFTS, 1.25)), ZERO, ZERO, ZERO]
    assert levels.alerts(silence_off) == 3
    assert levels.alerts([TOP, TOP, TOP, TOP]) == 0
    # Vectorized over one detector's shifts, the same counts as one at a time.
    for d in range(4):
        moving = levels.alerts_moving(at_default, d)
        assert moving.tolist() == [levels.alerts([*at_default[:d], k, *at_default[d + 1:]])
                                   for k in range(len(SHIFTS))]


def test_incidents_on_two_days_or_split_by_a_quiet_check_are_two() -> None:
    first, second = _quiet_day(), _quiet_day()
    first[SILENCE][140:144] = 0.3  # runs to the end of one replayed day ...
    second[SILENCE][0:3] = 0.3  # ... and from the start of another: separate days, two alerts
    second[STAY][10:12] = 0.3
    second[STAY][13:15] = 0.3  # one quiet check between: two episodes
    levels = _levels([first, second])
    assert levels.alerts([ZERO] * 4) == 4
    assert levels.days == 2.0


def test_the_stored_form_round_trips() -> None:
    day = _quiet_day()
    day[SILENCE][10:14] = np.array([-0.9, 0.0, 2.1, 4.5])
    day[AWAY][12:20] = 3.0
    levels = _levels([day, _quiet_day(), day])
    text = encode_blocks(levels)
    back = decode_blocks(text, 3.0)
    assert np.array_equal(back.levels, levels.levels) and np.array_equal(back.starts, levels.starts)
    assert text.count(" ") == 1  # two blocks, the quiet day keeps nothing
    with pytest.raises(ValueError, match="multiple of 4"):
        decode_blocks("abc", 1.0)


def test_the_search_spends_the_budget_on_the_detectors_that_notice_falls() -> None:
    days = []
    for i in range(28):
        day = _quiet_day()
        # every day a silence and a stay together at margin 1 (one incident), and a routine at 2
        day[SILENCE][30:36] = 1.0
        day[STAY][32:38] = 1.0
        if i % 2:
            day[ROUTINE][80:82] = 2.0
        days.append(day)
    home = _levels(days)
    no_prior = Levels(np.zeros((0, 4), dtype=np.int8), np.zeros(0, dtype=bool), 1.0)
    ks, rate = cheapest_shifts(home, no_prior, 0.0, 0.6, ZERO)
    shifts = dict(zip(ALARM_DETECTORS, (float(SHIFTS[k]) for k in ks), strict=True))
    # The incident of silence + stay (1 a day) does not fit 0.6 a day at all: both stay just above
    # their margin (free), and the budget goes to the routine (0.5 a day at its default).
    assert shifts[SILENCE] > 1.0 and shifts[STAY] > 1.0 and shifts[ROUTINE] == 0.0
    assert rate == pytest.approx(0.5) and home.alerts(ks) / 28 <= 0.6
    # With room for the incident (budget 1.1), silence and stay go to the default together: counted
    # per detector (2 a day) they would not fit, counted per incident (1 a day) they do.
    ks, rate = cheapest_shifts(home, no_prior, 0.0, 1.1, ZERO)
    assert ks[0] == ks[1] == ZERO and rate <= 1.1
    per_detector = sum(episodes(d[n], float(SHIFTS[k])) for d in days for n, k in zip(ALARM_DETECTORS, ks,
                                                                                          strict=True)) / 28
    assert per_detector > 1.1
    # Nothing lower than the floor, whatever the budget; "not back home" notices no fall at home: it
    # stays at the top.
    ks, _ = cheapest_shifts(home, no_prior, 0.0, 100.0, ZERO)
    assert ks == [ZERO, ZERO, ZERO, TOP]
    ks, _ = cheapest_shifts(home, no_prior, 0.0, 100.0, ZERO, {name: 1.0 for name in ALARM_DETECTORS})
    assert ks == [ZERO] * 4


def test_the_prior_weighs_as_days_and_a_one_week_model_meets_the_budget_on_the_prior() -> None:
    prior = prior_levels(first_week=True)
    assert prior.days > 300 and prior.levels.shape[1] == 4
    empty = Levels(np.zeros((0, 4), dtype=np.int8), np.zeros(0, dtype=bool), 0.0)
    ks, rate = cheapest_shifts(empty, prior, 14.0, 0.1, ZERO)
    assert rate == pytest.approx(prior.alerts(ks) / prior.days) and rate <= 0.1
    # the first week's silence fires more than the whole budget at the default limit: held back
    assert prior.alerts([ZERO, TOP, TOP, TOP]) / prior.days > 0.4 and SHIFTS[ks[0]] > 0.5
    # a quiet home's own days pull the shifts toward the defaults, never above the prior's
    quiet = Levels(np.zeros((0, 4), dtype=np.int8), np.zeros(0, dtype=bool), 28.0)
    later = prior_levels()
    at_prior, _ = cheapest_shifts(empty, later, 14.0, 0.1, ZERO)
    with_home, _ = cheapest_shifts(quiet, later, 14.0, 0.1, ZERO)
    assert sum(with_home[:2]) <= sum(at_prior[:2])
