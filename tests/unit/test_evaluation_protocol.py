"""The honest protocol on drawn timelines: rolling origin, residuals, what is left out, how false
alarms are counted and weighted, the Poisson interval, leave-one-home-out selection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from hometwin.adapters.datasets import labelled_absences
from hometwin.domain.calibration import prior_calibration
from hometwin.domain.events import Activity, SensorEvent
from hometwin.evaluation.exclusions import Intervals, data_gaps, residual
from hometwin.evaluation.harness import EvalConfig, HomeData, HomeRun, MethodScores, run_home
from hometwin.evaluation.loho import FalseAlarmTable, choose_theta, leave_one_home_out
from hometwin.evaluation.methods import TimerBaseline
from hometwin.evaluation.metrics import (
    by_model,
    false_alarm_list,
    false_alarms,
    fault_notices,
    summarize,
    weighted_median,
)
from hometwin.evaluation.poisson import poisson_interval, rate_interval
from hometwin.evaluation.protocol import Fold, Injection, folds
from tests.unit.drawn_home import START, TZ, drawn_events

T0 = datetime(2024, 3, 4, tzinfo=UTC)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def ev(hours: float, room: str = "kitchen") -> SensorEvent:
    return SensorEvent(h(hours), f"pir_{room}", room)


# ---------------------------------------------------------------- time intervals, gaps, residuals

def test_intervals_merge_and_answer_membership_overlap_and_masks() -> None:
    spans = Intervals([(h(5), h(8)), (h(0), h(2)), (h(1), h(3)), (h(9), h(9))])  # an empty one is dropped
    assert spans.spans == ((h(0), h(3)), (h(5), h(8)))
    assert h(0) in spans and h(2.9) in spans and h(3) not in spans and h(4) not in spans and h(5) in spans
    assert spans.overlap(h(2), h(6)) == timedelta(hours=2)
    assert spans.overlap(h(-5), h(20)) == timedelta(hours=6)
    assert spans.mask([h(x).timestamp() for x in (-1, 0, 2.5, 3, 6, 8, 10)]) == [
        False, True, True, False, True, False, False]
    assert not Intervals() and (Intervals() | spans).spans == spans.spans


def test_data_gaps_are_stretches_without_any_event_longer_than_a_day() -> None:
    events = [ev(0), ev(10), ev(34.5), ev(35), ev(60)]  # 24.5 h and 25 h without an event
    assert data_gaps(events).spans == ((h(10), h(34.5)), (h(35), h(60)))
    assert data_gaps(events, timedelta(hours=24.8)).spans == ((h(35), h(60)),)


def test_the_residual_is_the_time_to_the_next_real_event() -> None:
    times = [h(0), h(1), h(1.5)]
    assert residual(times, h(0) + timedelta(minutes=1)) == timedelta(minutes=59)
    assert residual(times, h(1)) == timedelta(minutes=30)  # an event at t itself is before the fall
    assert residual(times, h(2)) is None


def test_labelled_absences_are_read_from_the_activity_labels() -> None:
    acts = [Activity("leave-house", h(1), h(3)), Activity("Leaving", h(5), h(6)), Activity("Leave_Home", h(7), h(8)),
            Activity("Sleeping", h(9), h(10)), Activity("leave-house", h(11), h(11))]
    assert labelled_absences(acts) == [(h(1), h(3)), (h(5), h(6)), (h(7), h(8))]


# ---------------------------------------------------------------- the rolling-origin schedule

def test_rolling_origin_retrains_weekly_on_all_data_so_far() -> None:
    events = [ev(0), ev(24 * 23.5)]
    plan = folds(events, "rolling")
    assert [f.origin for f in plan] == [h(24 * 7), h(24 * 14), h(24 * 21)]
    assert [f.end for f in plan] == [h(24 * 14), h(24 * 21), h(24 * 23.5)]
    assert folds(events, "rolling", min_train=timedelta(days=10), retrain_every=timedelta(days=5))[0] == Fold(
        h(240), h(360))
    assert folds(events, "split") == [Fold(h(24 * 23.5 * 0.6), h(24 * 23.5))]
    with pytest.raises(ValueError, match="at least 7 days"):
        folds([ev(0), ev(24 * 6)], "rolling")
    with pytest.raises(ValueError, match="schedule"):
        folds(events, "sideways")


def test_each_check_and_injection_uses_the_model_of_its_week() -> None:
    home = HomeData("drawn", drawn_events(17), TZ)
    run = run_home(home, EvalConfig(injections=6, stuck=0, seed=2))
    assert [f.origin for f in run.folds] == [home.events[0].time + timedelta(days=d) for d in (7, 14)]
    first, second = (m["hometwin"].model for m in run.fold_methods)  # type: ignore[attr-defined]
    assert first.training["n_events"] < second.training["n_events"]  # all data so far
    starts = run.check_times[np.r_[0, np.nonzero(np.diff(run.check_fold))[0] + 1]]
    assert [datetime.fromtimestamp(float(t), UTC) - f.origin < timedelta(minutes=5)
            for t, f in zip(starts, run.folds, strict=True)] == [True, True]
    assert run.test_days == pytest.approx((run.test_end - run.test_start).total_seconds() / 86400)
    for inj in run.injections:
        assert run.test_start <= inj.t
        assert run.fold_at(inj.t) == (0 if inj.t < run.folds[1].origin else 1)
    rows = by_model([run], "hometwin", 0.0)
    assert [(r["model"], r["history_days"]) for r in rows] == [(1, 7.0), (2, 14.0)]
    assert sum(r["test_days"] for r in rows) == pytest.approx(run.test_days, abs=0.01)
    assert sum(r["false_alarms"] for r in rows) == false_alarms(run, "hometwin", 0.0)[0]
    # A model never learns from more than the modeling component's window before its origin.
    short = run_home(home, EvalConfig(injections=0, stuck=0, train_window=timedelta(days=5)))
    last = short.fold_methods[-1]["hometwin"].model  # type: ignore[attr-defined]
    learned_from = datetime.fromisoformat(last.training["period"]["start"])
    assert learned_from == short.folds[-1].origin - timedelta(days=5)


# ---------------------------------------------------------------- what is left out

def test_injections_stay_out_of_absences_and_gaps_and_gaps_are_no_test_days() -> None:
    events = drawn_events(24)
    gap = (START + timedelta(days=12, hours=12), START + timedelta(days=14, hours=9))  # 44.5 h, no data
    events = [e for e in events if not gap[0] <= e.time < gap[1]]
    absent = ((START + timedelta(days=16, hours=8), START + timedelta(days=17, hours=20)),)
    home = HomeData("drawn", events, TZ, absent=absent)
    cfg = EvalConfig(injections=60, stuck=10, seed=4)
    run = run_home(home, cfg)
    real_gap = data_gaps(events).spans
    assert len(real_gap) == 1 and real_gap[0][1] - real_gap[0][0] > timedelta(hours=44)
    for inj in run.injections:
        assert not any(a <= inj.t < b for a, b in (*real_gap, *absent))
    span = (run.test_end - run.test_start).total_seconds() / 86400
    gap_days = (real_gap[0][1] - real_gap[0][0]).total_seconds() / 86400
    assert run.test_days == pytest.approx(span - gap_days)  # absences stay test time
    # Known outages given with the home are left out like gaps.
    outage = (START + timedelta(days=20), START + timedelta(days=21))
    run2 = run_home(HomeData("drawn", events, TZ, excluded=(outage,), absent=absent), cfg)
    assert run2.test_days == pytest.approx(run.test_days - 1.0)
    assert not any(outage[0] <= i.t < outage[1] for i in run2.injections)
    # The earlier protocol leaves nothing out.
    plain = run_home(home, EvalConfig(injections=60, stuck=10, seed=4, counting="plain"))
    assert plain.test_days == pytest.approx(span)
    assert any(a <= i.t < b for a, b in absent for i in plain.injections)


def test_residuals_are_measured_on_the_unmodified_data() -> None:
    home = HomeData("drawn", drawn_events(10), TZ)
    run = run_home(home, EvalConfig(injections=20, stuck=0, seed=5))
    times = [e.time for e in home.events]
    for inj, res in zip(run.injections, run.residuals, strict=True):
        nxt = min(t for t in times if t > inj.t)
        assert res == pytest.approx((nxt - inj.t).total_seconds() / 60)
    s = summarize([run], "hometwin", 0.0)
    near = run.residuals <= 30
    assert s["reachable"]["injections"] == int(near.sum()) < s["injections"]  # bedtime falls are not reachable


# ---------------------------------------------------------------- counting and weighting, on drawn scores

def drawn_run(name: str, checks: list[float], *, technical: list[float] | None = None,
              uncounted: list[bool] | None = None, cadence_h: float = 1.0, test_days: float | None = None,
              delays: dict[str, list[float]] | None = None,
              residuals: list[float] | None = None, honest: bool = True, labels: list[str] | None = None,
              faults: tuple[tuple[datetime, datetime, str], ...] = ()) -> HomeRun:
    """A HomeRun with drawn timer scores: one check per `cadence_h`, injections noticed after `delays`
    minutes (an injection's score jumps to 100 at its delay)."""
    n = len(checks)
    times = np.array([h(k * cadence_h).timestamp() for k in range(n)])
    injections, offsets, injected = [], [], []
    for part, ds in (delays or {}).items():
        for d in ds:
            off = np.arange(0.0, 720.0, 5.0)
            injections.append(Injection(name, h(0), part, "fall", "kitchen"))
            offsets.append(off)
            injected.append(np.where(off >= d, 100.0, -1.0))
    scores = {"timer_3h": MethodScores(np.array(checks, float), labels or ["timer:kitchen"] * n,
                                       np.array(technical or [-np.inf] * n, float), injected)}
    return HomeRun(name, h(0), h(n * cadence_h), 7.0, test_days if test_days is not None else n * cadence_h / 24,
                   cadence_h * 3600, [Fold(h(0), h(n * cadence_h))], times, np.zeros(n, int),
                   np.array(uncounted or [False] * n), injections, offsets,
                   np.array(residuals if residuals is not None else [1.0] * len(injections)),
                   scores, [{"timer_3h": TimerBaseline()}], honest=honest, faults=faults)


def test_a_technical_episode_counts_once_per_day_and_gaps_not_at_all() -> None:
    # One 80-hour episode, technical for its first 76 hours; then a short person-level episode; then
    # one that starts inside a data gap.
    checks = [5.0] * 80 + [0.0] * 10 + [5.0] * 3 + [0.0] * 5 + [5.0] * 4 + [0.0] * 2
    technical = [5.0] * 76 + [-np.inf] * 28
    uncounted = [False] * 98 + [True] * 4 + [False] * 2
    run = drawn_run("h", checks, technical=technical, uncounted=uncounted)
    n, by = false_alarms(run, "timer_3h", 3.0)
    assert n == 1 + 3 + 1  # 76 h of technical alarm: three full days more
    assert by == {"timer:kitchen": 5}
    plain = drawn_run("h", checks, technical=technical, uncounted=uncounted, honest=False)
    assert false_alarms(plain, "timer_3h", 3.0)[0] == 3  # the earlier protocol: every episode once
    # Technical hours inside the gap do not add days.
    gap_hides = drawn_run("h", checks, technical=technical, uncounted=[False] * 30 + [True] * 74)
    assert false_alarms(gap_hides, "timer_3h", 3.0)[0] == 1 + 1 + 0  # 30 counted technical hours: 1 day


def test_a_technical_finding_during_a_known_fault_in_its_room_notices_the_fault() -> None:
    # A hall sensor stuck from hour 8 to hour 20 (the simulator's ground truth). Episodes: the stuck
    # warning in the hall during it (the fault noticed), a stay in the hall during it (a person-level
    # alarm: false), the stuck warning in the kitchen during it (another room: false), and the stuck
    # warning in the hall after the fault ended (false); missing data (no room: no one sensor's fault).
    checks = [0.0] * 48
    labels = ["timer:kitchen"] * 48
    for first, last, label in ((10, 14, "sensor_stuck:hall"), (16, 17, "prolonged_stay:hall"),
                               (19, 19, "sensor_stuck:kitchen"), (30, 32, "sensor_stuck:hall"),
                               (34, 34, "sensor_data_missing:-")):
        for k in range(first, last + 1):
            checks[k], labels[k] = 5.0, label
    fault = (h(8), h(20), "hall")
    run = drawn_run("h", checks, labels=labels, faults=(fault,))
    n, by = false_alarms(run, "timer_3h", 3.0)
    assert (n, by) == (4, {"prolonged_stay:hall": 1, "sensor_stuck:kitchen": 1, "sensor_stuck:hall": 1,
                           "sensor_data_missing:-": 1})
    assert fault_notices([run], "timer_3h", 3.0) == {"faults": 1, "noticed": 1, "notices": 1}
    assert [r["start"][11:16] for r in false_alarm_list([run], "timer_3h", 3.0)] == ["16:00", "19:00", "06:00", "10:00"]
    # Without the ground truth (or with --faults-as-false-alarms) every episode is a false alarm.
    unknown = drawn_run("h", checks, labels=labels)
    assert false_alarms(unknown, "timer_3h", 3.0)[0] == 5
    assert fault_notices([unknown], "timer_3h", 3.0) == {"faults": 0, "noticed": 0, "notices": 0}
    # A fault outside the tested span is not counted among the faults.
    later = drawn_run("h", checks, labels=labels, faults=((h(60), h(70), "hall"),))
    assert fault_notices([later], "timer_3h", 3.0)["faults"] == 0


def test_the_harness_keeps_a_homes_faults_unless_asked_to_count_them_as_false_alarms() -> None:
    events = drawn_events(10)
    fault = (START + timedelta(days=8), START + timedelta(days=9), "hall")
    home = HomeData("drawn", events, TZ, faults=(fault,))
    assert run_home(home, EvalConfig(injections=0, stuck=0)).faults == (fault,)
    assert run_home(home, EvalConfig(injections=0, stuck=0, faults_as_false_alarms=True)).faults == ()
    assert run_home(home, EvalConfig(injections=0, stuck=0, counting="plain")).faults == ()


def test_homes_weigh_by_test_days_in_the_pool() -> None:
    short = drawn_run("short", [0.0] * 24, test_days=10.0, delays={"day": [10, 10], "night": [10, 10]})
    long = drawn_run("long", [0.0] * 24, test_days=30.0, delays={"day": [100, 100, 100, 100], "night": [100]})
    s = summarize([short, long], "timer_3h", 3.0)
    assert s["median_delay_day_min"] == 100 and s["median_delay_night_min"] == 100
    assert s["recall_at_15"] == pytest.approx(0.25)  # 10 of 40 test days, not 4 of 9 injections
    assert s["recall_at_15_night"] == pytest.approx(0.25)
    assert s["mean_delay_min"] == pytest.approx(77.5)
    plain = summarize([drawn_run("short", [0.0] * 24, test_days=10.0, delays={"day": [10, 10]}, honest=False),
                       drawn_run("long", [0.0] * 24, test_days=30.0, delays={"day": [100] * 3}, honest=False)],
                      "timer_3h", 3.0)
    assert plain["median_delay_day_min"] == 100 and plain["recall_at_15"] == pytest.approx(0.4)
    assert weighted_median(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 5.0])) == 3.0
    assert weighted_median(np.array([3.0, 1.0, 2.0]), np.array([1.0, 1.0, 1.0])) == 2.0


def test_reachable_injections_and_the_delay_beyond_the_residual() -> None:
    run = drawn_run("h", [0.0] * 24, delays={"day": [20, 40, 300], "night": [60]}, residuals=[5, 25, 200, 10])
    s = summarize([run], "timer_3h", 3.0)
    r = s["reachable"]
    assert r["injections"] == 3 and r["share_of_injections"] == pytest.approx(0.75)
    assert r["median_delay_day_min"] == 20  # weighted: the lower of 20 and 40
    assert r["median_beyond_residual_night_min"] == 50  # 60 - 10
    assert s["median_delay_day_min"] == 40  # all three day falls


def test_every_rate_gets_an_exact_poisson_interval() -> None:
    # Garwood intervals, as tabulated (e.g. Ulm 1990): 0 -> [0, 3.689], 1 -> [0.0253, 5.572], 10 -> [4.795, 18.39]
    for k, lo, hi in ((0, 0.0, 3.6889), (1, 0.0253, 5.5716), (2, 0.2422, 7.2247), (5, 1.6235, 11.6683),
                      (10, 4.7954, 18.3904), (100, 81.364, 121.627)):
        got = poisson_interval(k)
        assert got[0] == pytest.approx(lo, abs=1e-3) and got[1] == pytest.approx(hi, abs=1e-3)
    assert poisson_interval(3, 0.9)[1] < poisson_interval(3, 0.99)[1]
    assert rate_interval(10, 40.0) == pytest.approx((4.7954 / 40, 18.3904 / 40), abs=1e-4)
    assert rate_interval(3, 0.0) is None
    with pytest.raises(ValueError, match="non-negative integer"):
        poisson_interval(-1)
    s = summarize([drawn_run("h", [5.0, 0.0] * 5, test_days=2.0)], "timer_3h", 3.0)
    assert s["false_alarms"] == 5 and s["false_alarms_per_day_ci"] == pytest.approx([1.6235 / 2, 11.6683 / 2],
                                                                                      abs=1e-3)


# ---------------------------------------------------------------- leave one home out

def _episodes(n: int, score: float, length: int = 48) -> list[float]:
    """`n` alarm episodes of one check at `score` spread over `length` checks (two days)."""
    out = [0.0] * length
    for i in range(n):
        out[i * (length // max(n, 1))] = score
    return out


def test_a_knob_is_chosen_on_the_other_homes_only() -> None:
    # Two days each. Home a alarms 4 times at score 5 h, b 2 times at 8 h, c never.
    a, b, c = drawn_run("a", _episodes(4, 5.0)), drawn_run("b", _episodes(2, 8.0)), drawn_run("c", _episodes(0, 0))
    table = FalseAlarmTable()
    # Target 0.5 a day over 4 days: 2 alarms allowed. On b+c b's 2 fit at any knob up to 8 h: the most
    # eager knob, 0.5 h. With a among the others, only knobs above a's 5 h keep within the target.
    assert choose_theta([b, c], "timer_3h", 0.5, table) == 0.5
    assert choose_theta([a, c], "timer_3h", 0.5, table) == 5.5
    assert choose_theta([a, b], "timer_3h", 0.5, table) == 5.5
    res = leave_one_home_out([a, b, c], "timer_3h", lambda others: 0.5, table)
    assert [s["theta"] for s in res["by_home"].values()] == [0.5, 5.5, 5.5]
    assert res["by_home"]["a"]["false_alarms"] == 4  # measured at the knob a did not help choose
    assert res["pooled"]["false_alarms"] == 6 and res["pooled"]["theta"] == [0.5, 5.5, 5.5]
    assert res["pooled"]["test_days"] == 6.0
    assert res["worst_home"]["false_alarms_per_day"] == {"home": "a", "value": 2.0}
    # The held-out home's own data never moves its knob; it moves the others' knobs.
    a_quiet = drawn_run("a", _episodes(0, 0.0))
    again = leave_one_home_out([a_quiet, b, c], "timer_3h", lambda others: 0.5)
    assert [s["theta"] for s in again["by_home"].values()] == [0.5, 0.5, 0.5]
    with pytest.raises(ValueError, match="two homes"):
        leave_one_home_out([a], "timer_3h", lambda others: 0.5)


def test_rolling_models_are_calibrated_on_their_own_training_days_as_in_production() -> None:
    home = HomeData("drawn", drawn_events(17), TZ)
    calibrated = run_home(home, EvalConfig(injections=0, stuck=0, false_alarm_budget=0.1))
    first, second = (m["hometwin"].model for m in calibrated.fold_methods)  # type: ignore[attr-defined]
    # 7 days: too few to cross-validate over days, so the first model takes the prior's limits
    # (domain/calibration_prior.py), never the looser defaults
    assert first.calibration == prior_calibration(0.1) and first.calibration.days == 0
    assert second.calibration is not None and second.calibration.budget == pytest.approx(0.1)
    plain = run_home(home, EvalConfig(injections=0, stuck=0))
    assert all(m["hometwin"].model.calibration is None for m in plain.fold_methods)  # type: ignore[attr-defined]
    split = run_home(home, EvalConfig(injections=0, stuck=0, protocol="split", false_alarm_budget=0.1))
    assert all(m["hometwin"].model.calibration is None for m in split.fold_methods)  # type: ignore[attr-defined]
