"""Per-home calibration to a false-alarm budget (domain/calibration.py) on a simulated home: trained
and calibrated on five weeks, replayed on the next three with the check the monitoring runs."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from hometwin.domain.calibration import (
    ALARM_DETECTORS,
    MAX_SHIFT,
    MIN_SHIFT,
    SHIFTS,
    _calibration,  # noqa: I001
    _episodes,
    _replay_day,
    calibrate,
    calibrate_or_prior,
    choose_shift,
    fill_shares,
    prior_calibration,
)
from hometwin.domain.calibration_prior import PRIOR_DAYS, prior_rate
from hometwin.domain.calibration_result import Calibration
from hometwin.domain.detection import DetectionParams
from hometwin.domain.events import SensorEvent
from hometwin.domain.model import BehaviourModel, train_model
from hometwin.sim import simulate

TZ = "Europe/Berlin"
BUDGET = 0.1


@pytest.fixture(scope="module")
def home() -> tuple[list[SensorEvent], datetime]:
    events = sorted(simulate(days=56, seed=11, start=datetime(2024, 3, 4, tzinfo=UTC)).events)
    return events, events[0].time + timedelta(days=35)


def _false_alarms(model: BehaviourModel, events: list[SensorEvent], start: datetime, days: int) -> int:
    times = [e.time for e in events]
    total = 0
    for d in range(days):
        rows = _replay_day(model, events, times, start + timedelta(days=d), timedelta(minutes=10), DetectionParams())
        total += sum(_episodes(row, 0.0) for row in rows.values())
    return total


def test_a_calibrated_home_meets_its_budget_on_held_out_days(home: tuple[list[SensorEvent], datetime]) -> None:
    events, cut = home
    train = [e for e in events if e.time < cut]
    calibration = calibrate(train, tz=TZ, budget=BUDGET)
    assert calibration is not None and calibration.days >= 20 and set(calibration.shifts) == set(ALARM_DETECTORS)
    # 28 replayed days cannot show a rate below 0.025 a day: no detector becomes more eager than its default
    assert all(0.0 <= s <= MAX_SHIFT for s in calibration.shifts.values())
    model = train_model(train, tz=TZ)
    days = 19  # whole days after the cut, inside the data
    plain = _false_alarms(model, events, cut + timedelta(hours=12), days)
    calibrated = _false_alarms(replace(model, calibration=calibration), events, cut + timedelta(hours=12), days)
    assert plain > BUDGET * days  # the default limits miss the budget in this home ...
    assert calibrated <= BUDGET * days  # ... the calibrated ones meet it on days they never saw
    back = BehaviourModel.from_dict(json.loads(json.dumps(replace(model, calibration=calibration).to_dict())))
    assert back.calibration == calibration


def test_too_little_history_is_not_calibrated() -> None:
    events = sorted(simulate(days=5, seed=3, start=datetime(2024, 3, 4, tzinfo=UTC)).events)
    assert calibrate(events, tz=TZ, budget=BUDGET) is None
    with pytest.raises(ValueError, match="budget"):
        calibrate(events, tz=TZ, budget=0.0)


def test_the_detectors_apply_the_homes_shifts_and_model_show_says_so(
        home: tuple[list[SensorEvent], datetime]) -> None:
    from hometwin.commands.model_view import calibration_text
    from hometwin.domain.calibration_result import Calibration
    from hometwin.domain.detection import assess

    events, cut = home
    model = train_model([e for e in events if e.time < cut], tz=TZ)
    shifted = replace(model, calibration=Calibration(BUDGET, {"unusual_silence": 1.5, "prolonged_stay": -0.5},
                                                     days=28, folds=4))
    recent = [e for e in events if cut - timedelta(hours=36) <= e.time <= cut]
    now = recent[-1].time + timedelta(hours=2)
    plain = {a.finding.kind.value: a.limit for a in assess(model, recent, now)}
    moved = {a.finding.kind.value: a.limit for a in assess(shifted, recent, now)}
    assert moved["unusual_silence"] == pytest.approx(plain["unusual_silence"] + 1.5)
    if "prolonged_stay" in plain:
        assert moved["prolonged_stay"] == pytest.approx(plain["prolonged_stay"] - 0.5)
    text = calibration_text(shifted)
    assert "Calibrated to 0.1 false alarms a day" in text and "unusual_silence: limit +1.50" in text
    assert calibration_text(model).startswith("Not calibrated")
    young = calibration_text(replace(model, calibration=prior_calibration(BUDGET)))
    assert young.startswith("Too little history to calibrate: the prior's limits")
    assert "unusual_silence: limit +" in young
    shrunk = replace(shifted.calibration, prior_days=14.0)  # type: ignore[arg-type]
    assert "shrunk toward the prior as 14 days" in calibration_text(replace(model, calibration=shrunk))


def _prior_shift(name: str, share: float) -> float:
    ok = [s for s in SHIFTS.tolist() if prior_rate(name, s, first_week=True) <= share]
    return max(0.0, ok[0]) if ok else MAX_SHIFT


def test_a_model_too_young_to_calibrate_takes_the_priors_limits_never_the_looser_defaults() -> None:
    events = sorted(simulate(days=7, seed=5, start=datetime(2024, 3, 4, tzinfo=UTC)).events)
    assert calibrate(events, tz=TZ, budget=BUDGET) is None  # a week cannot be cross-validated over days
    first = calibrate_or_prior(events, tz=TZ, budget=BUDGET)
    assert first == prior_calibration(BUDGET) and first.days == 0 and first.prior_days == PRIOR_DAYS
    share = BUDGET / len(ALARM_DETECTORS)
    for name in ALARM_DETECTORS:
        shift = first.shifts[name]
        assert shift == _prior_shift(name, share)
        assert shift >= 0.0  # never more eager than the defaults
        # the prior's rate at that shift meets the share wherever any shift can
        assert prior_rate(name, shift, first_week=True) <= share or shift == MAX_SHIFT
    # the prior's silence detector fires far more than its share at the default limit: the first week
    # of a typical home is held back, as the budget asks
    assert prior_rate("unusual_silence", 0.0, first_week=True) > 10 * share and first.shifts["unusual_silence"] > 1.0
    # a model learned from three weeks fires less at the defaults than one learned from one week
    assert prior_rate("unusual_silence", 0.0) < prior_rate("unusual_silence", 0.0, first_week=True)
    # a smaller budget never loosens a limit
    tighter = prior_calibration(BUDGET / 4)
    assert all(tighter.shifts[n] >= first.shifts[n] for n in ALARM_DETECTORS)


def test_the_homes_own_days_outweigh_the_prior_as_they_accumulate() -> None:
    prior = [prior_rate("unusual_silence", s) for s in SHIFTS.tolist()]
    share = BUDGET / len(ALARM_DETECTORS)
    at_prior = choose_shift([0] * len(SHIFTS), 0.0, share, prior, PRIOR_DAYS, 0.0)
    # A quiet home (no false alarm in its replayed days at any shift): the shift falls from the
    # prior's toward the default as the days grow, step by step, never below the floor.
    quiet = [choose_shift([0] * len(SHIFTS), d, share, prior, PRIOR_DAYS, 0.0) for d in (0, 7, 14, 28, 56, 112)]
    assert quiet[0] == at_prior and quiet == sorted(quiet, reverse=True) and quiet[-1] < at_prior
    assert all(q >= 0.0 for q in quiet)
    # Without a prior (weight 0) the home's own zero counts would take the default limit at once.
    assert choose_shift([0] * len(SHIFTS), 12.0, share, prior, 0.0, 0.0) == 0.0
    # A noisy home (one false alarm a day below shift 3.5): the shift rises from the prior's
    # toward the home's own as the days grow.
    noisy_counts = [1 if s < 3.5 else 0 for s in SHIFTS.tolist()]

    def noisy(days: float) -> float:
        return choose_shift([int(c * days) for c in noisy_counts], days, share, prior, PRIOR_DAYS, 0.0)

    assert noisy(7) >= at_prior and noisy(28) == 3.5
    # Only a long history may make a detector more eager than the default.
    assert choose_shift([0] * len(SHIFTS), 200.0, share, [0.0] * len(SHIFTS), PRIOR_DAYS, MIN_SHIFT) == MIN_SHIFT


def test_a_calibration_says_how_much_the_prior_weighs_and_round_trips() -> None:
    cal = prior_calibration(BUDGET)
    assert Calibration.from_dict(json.loads(json.dumps(cal.to_dict()))) == cal
    older = {k: v for k, v in cal.to_dict().items() if k != "prior_days"}  # a model stored before the prior
    assert Calibration.from_dict(older).prior_days == 0.0
    with pytest.raises(ValueError, match="budget"):
        prior_calibration(0.0)


def test_the_replay_skips_only_detectors_that_change_no_alarm(home: tuple[list[SensorEvent], datetime]) -> None:
    """The replay runs a subset of the detectors for speed: its margins are those of the full check."""
    from hometwin.domain.calibration import REPLAYED
    from hometwin.domain.detection import RECENT_WINDOW, assess
    from hometwin.domain.detectors import DETECTORS
    from hometwin.domain.findings import Severity

    events, cut = home
    model = train_model([e for e in events if e.time < cut], tz=TZ)
    assert {d.name for d in DETECTORS} - {d.name for d in REPLAYED} == {"unusual_frequency", "silent_sensor"}
    times = [e.time for e in events]
    day0 = cut + timedelta(days=2)
    cadence = timedelta(minutes=40)
    rows = _replay_day(model, events, times, day0, cadence, DetectionParams())
    for i in range(len(rows["unusual_silence"])):
        now = day0 + i * cadence
        recent = [e for e in events if now - RECENT_WINDOW <= e.time <= now]
        full = {n: float("-inf") for n in ALARM_DETECTORS}
        for a in assess(model, recent, now):
            if a.finding.kind.value in full and a.finding.severity in (Severity.EMERGENCY, Severity.WARNING):
                full[a.finding.kind.value] = max(full[a.finding.kind.value], a.margin)
        assert {n: float(rows[n][i]) for n in ALARM_DETECTORS} == full


def test_only_the_recent_history_is_cross_validated(home: tuple[list[SensorEvent], datetime]) -> None:
    """Older days than `history` take no part: a year costs the time of the modeling's window."""
    from hometwin.domain.calibration import cross_validated_margins

    events, _ = home
    history = timedelta(days=20)
    recent = [e for e in events if e.time >= events[-1].time - history]
    fast = {"folds": 2, "max_days": 2, "cadence": timedelta(hours=2), "history": history}
    whole = cross_validated_margins(events, tz=TZ, **fast)  # type: ignore[arg-type]
    cut = cross_validated_margins(recent, tz=TZ, **fast)  # type: ignore[arg-type]
    assert whole is not None and cut is not None and whole[1] == cut[1] == 2.0
    for name in ALARM_DETECTORS:
        assert [r.tolist() for r in whole[0][name]] == [r.tolist() for r in cut[0][name]]
    longer = cross_validated_margins(events, tz=TZ, **{**fast, "history": timedelta(days=40)})  # type: ignore[arg-type]
    assert longer is not None and any(
        [r.tolist() for r in longer[0][n]] != [r.tolist() for r in cut[0][n]] for n in ALARM_DETECTORS)


def test_the_budget_goes_to_the_detectors_that_need_it_and_never_beyond_it() -> None:
    # Equal when every detector needs more than an even share at its floor.
    assert fill_shares({"a": 0.5, "b": 0.3, "c": 0.2, "d": 0.04}, 0.1) == pytest.approx(
        {"a": 0.025, "b": 0.025, "c": 0.025, "d": 0.025})
    # A quiet detector keeps what it needs at its floor; the others share what it leaves.
    shares = fill_shares({"silence": 0.6, "stay": 0.2, "routine": 0.01, "outing": 0.0}, 0.1)
    assert shares["outing"] == pytest.approx(0.025) and shares["routine"] == pytest.approx(0.1 / 3)
    assert shares["silence"] == shares["stay"] == pytest.approx((0.1 - 0.01) / 2)
    needs = {"silence": shares["silence"], "stay": shares["stay"], "routine": 0.01, "outing": 0.0}
    assert sum(needs.values()) == pytest.approx(0.1)
    # In a calibration: detectors with no false alarm in a long replay hand their share on, so the
    # silence detector may be more eager than with an even share.
    quiet = {n: [np.full(144, -np.inf)] * 56 for n in ALARM_DETECTORS}
    noisy_row = np.full(144, -np.inf)
    noisy_row[50:60] = 1.2  # one silence a day that only a shift above 1.2 keeps quiet
    mixed = {**quiet, "unusual_silence": [noisy_row] * 2 + [np.full(144, -np.inf)] * 54}
    cal = _calibration(mixed, 56.0, BUDGET, 4, PRIOR_DAYS)
    assert cal.shares["unusual_silence"] > BUDGET / 4 and sum(cal.shares.values()) >= BUDGET
    even = choose_shift([sum(_episodes(r, s) for r in mixed["unusual_silence"]) for s in SHIFTS.tolist()], 56.0,
                        BUDGET / 4, [prior_rate("unusual_silence", s) for s in SHIFTS.tolist()], PRIOR_DAYS, 0.0)
    assert cal.shifts["unusual_silence"] < even
