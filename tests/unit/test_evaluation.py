"""The evaluation harness: protocol, metrics, and that it measures exactly what `detect` does."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from hometwin.cli import app
from hometwin.domain.detection import RECENT_WINDOW, DetectionParams, detect
from hometwin.domain.events import SensorKind
from hometwin.domain.findings import TECHNICAL_KINDS, Severity
from hometwin.domain.stays import extract_timeline
from hometwin.evaluation.harness import EvalConfig, HomeData, HomeRun, run_home
from hometwin.evaluation.metrics import delays_min, episode_starts, false_alarm_list, summarize
from hometwin.evaluation.protocol import ANCHOR_OFFSET, choose_injections, choose_stuck, part_of_day, split
from hometwin.evaluation.report import result_of
from hometwin.evaluation.tables import markdown
from tests.unit.drawn_home import TZ, ZONE, drawn_events

HORIZON = timedelta(hours=12)


@pytest.fixture(scope="module")
def home() -> HomeData:
    return HomeData("drawn", drawn_events(21), TZ)


@pytest.fixture(scope="module")
def run(home: HomeData) -> HomeRun:
    return run_home(home, EvalConfig(injections=12, stuck=4, seed=3))


@pytest.fixture(scope="module")
def split_run(home: HomeData) -> HomeRun:
    return run_home(home, EvalConfig(injections=12, stuck=4, seed=3, protocol="split"))


def test_anchored_injections_follow_real_events_half_day_half_night(home: HomeData) -> None:
    events = list(home.events)
    _, cut, end = split(events, 0.6)
    timeline = extract_timeline(events)
    chosen = choose_injections("drawn", events, timeline, cut, end, 20, "anchored", HORIZON, TZ,
                               np.random.default_rng(5))
    assert len(chosen) == 20
    assert sorted(i.part for i in chosen) == ["day"] * 10 + ["night"] * 10
    times = {e.time for e in events}
    for inj in chosen:
        assert inj.t - ANCHOR_OFFSET in times
        assert cut <= inj.t <= end - HORIZON
        assert part_of_day(inj.t, ZONE) == inj.part
        assert not any(a.start <= inj.t < a.end for a in timeline.away)
    again = choose_injections("drawn", events, timeline, cut, end, 20, "anchored", HORIZON, TZ,
                              np.random.default_rng(5))
    assert again == chosen


def test_random_injections_and_the_stuck_variant(home: HomeData) -> None:
    events = list(home.events)
    _, cut, end = split(events, 0.6)
    timeline = extract_timeline(events)
    chosen = choose_injections("drawn", events, timeline, cut, end, 10, "random", HORIZON, TZ,
                               np.random.default_rng(1))
    assert sorted(i.part for i in chosen) == ["day"] * 5 + ["night"] * 5
    assert all(not any(a.start <= i.t < a.end for a in timeline.away) for i in chosen)
    stuck = choose_stuck("drawn", events, timeline, cut, end, 3, HORIZON, TZ, np.random.default_rng(1))
    for inj in stuck:
        assert inj.room == "bathroom" and inj.variant == "stuck"
        gaps = np.diff([inj.t.timestamp(), *(x.time.timestamp() for x in inj.extra)]) / 60
        assert ((gaps >= 10) & (gaps <= 20)).all() and inj.extra[-1].time < inj.t + HORIZON
        assert {x.room for x in inj.extra} == {"bathroom"} and inj.extra[0].kind is SensorKind.MOTION
    with pytest.raises(ValueError, match="protocol"):
        choose_injections("drawn", events, timeline, cut, end, 2, "sideways", HORIZON, TZ,
                          np.random.default_rng(1))


def test_episodes_and_delays_from_recorded_scores() -> None:
    s = np.array([-1.0, 0.5, 2.0, -0.5, 3.0, 3.0, -np.inf])
    assert episode_starts(s, 0.0).tolist() == [1, 4]
    assert episode_starts(s, 1.0).tolist() == [2, 4]
    assert episode_starts(s, 5.0).tolist() == []
    offsets = np.array([2.0, 7.0, 12.0, 17.0, 22.0, 27.0, 32.0])
    d = delays_min([s, s], [offsets, offsets + 1], 1.0)
    assert d.tolist() == [12.0, 13.0]
    assert math.isinf(delays_min([s], [offsets], 9.0)[0])


@pytest.mark.parametrize("protocol", ["rolling", "split"])
def test_false_alarms_and_delays_are_what_detect_reports(home: HomeData, run: HomeRun, split_run: HomeRun,
                                                         protocol: str) -> None:
    """The proof that the fast replay measures the monitoring's `detect`, check by check (with the
    model of the week the check falls in, under the rolling protocol)."""
    run = run if protocol == "rolling" else split_run
    assert len(run.folds) == (2 if protocol == "rolling" else 1)
    params = DetectionParams()
    events = list(home.events)

    def model_at(at: datetime) -> Any:
        return run.fold_methods[run.fold_at(at)]["hometwin"].model  # type: ignore[attr-defined]

    def alarm(recent: list, now: datetime, model: Any, technical: bool = True) -> bool:  # type: ignore[type-arg]
        return any(f.severity in (Severity.EMERGENCY, Severity.WARNING)
                   and (technical or f.kind not in TECHNICAL_KINDS)
                   for f in detect(model, recent, now, params))

    flags = []
    for ts in run.check_times:
        now = datetime.fromtimestamp(float(ts), UTC)
        flags.append(alarm([e for e in events if now - RECENT_WINDOW <= e.time <= now], now, model_at(now)))
    on = np.array(flags)
    detect_episodes = int((on & ~np.concatenate(([False], on[:-1]))).sum())
    summary = summarize([run], "hometwin", 0.0)
    assert summary["false_alarms"] == detect_episodes
    assert (run.scores["hometwin"].checks >= 0).tolist() == flags
    # The list of false alarms names the checks where `detect` began to alarm, in the home's time.
    began = [datetime.fromtimestamp(float(t), ZONE).isoformat(timespec="minutes")
             for t, f, before in zip(run.check_times, flags, [False, *flags[:-1]], strict=True) if f and not before]
    listed = false_alarm_list([run], "hometwin", 0.0)
    assert [x["start"] for x in listed] == began and {x["home"] for x in listed} <= {home.name}
    assert sum(x["counts"] for x in listed) == detect_episodes
    # ... how long `detect` kept alarming, and how far the margin rose (0 at the knob itself).
    lasted = [5 * (flags[k:] + [False]).index(False) for k, (f, before) in
              enumerate(zip(flags, [False, *flags[:-1]], strict=True)) if f and not before]
    assert [x["minutes"] for x in listed] == lasted
    assert all(x["peak_margin"] >= 0 for x in listed)
    tally: Counter[str] = Counter()
    for x in listed:
        tally[x["alarm"]] += x["counts"]
    assert tally == Counter(summary["false_alarms_by"])

    delays = delays_min(run.scores["hometwin"].injected, run.offsets, 0.0)
    for inj, off, delay in zip(run.injections, run.offsets, delays, strict=True):
        first = math.inf
        for minutes in off:
            now = inj.t + timedelta(minutes=float(minutes))
            seen = [e for e in events if now - RECENT_WINDOW <= e.time < inj.t] + [
                x for x in inj.extra if x.time <= now]
            if alarm(seen, now, model_at(inj.t), technical=False):  # dead sensors do not notice a fall
                first = float(minutes)
                break
        assert first == delay


def test_result_is_complete_and_deterministic(home: HomeData, run: HomeRun) -> None:
    cfg = EvalConfig(injections=12, stuck=4, seed=3)
    result = result_of([run], cfg)
    for key in ("false_alarms_per_day", "test_days", "median_delay_min", "median_delay_day_min",
                "median_delay_night_min", "mean_delay_min", *(f"recall_at_{m}" for m in (15, 30, 60, 120, 240))):
        assert key in result
        for method in ("hometwin", "timer_3h", "mean_3sd", "mean_x3"):
            assert key in result["methods"][method]
    assert result["test_days"] == pytest.approx(run.test_days, abs=0.01)
    assert result["homes"][0]["injections"] == 12 and result["homes"][0]["stuck_injections"] == 4
    assert "per day" in result["resolution_note"]
    listed = result["false_alarm_list"]
    assert sum(x["counts"] for x in listed) == result["false_alarms"]
    assert all(f"| {x['home']} | {x['start'].replace('T', ' ')} | {x['alarm']} |" in markdown(result) for x in listed)
    # The timer's delays are its knob, up to one check interval.
    timer = result["methods"]["timer_3h"]
    if timer["median_delay_min"] is not None:
        assert 180 <= timer["median_delay_min"] <= 185
    recalls = [result[f"recall_at_{m}"] for m in (15, 30, 60, 120, 240)]
    assert recalls == sorted(recalls)
    again = result_of([run_home(home, cfg)], cfg)
    assert json.dumps(again, sort_keys=True) == json.dumps(result, sort_keys=True)


def test_cli_on_the_simulator_writes_result_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    res = CliRunner().invoke(app, ["evaluate", "--format", "sim", "--days", "10", "--injections", "6",
                                   "--stuck", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    result = json.loads((out / "result.json").read_text())
    assert result["homes"][0]["name"] == "sim-1" and result["methods"]["hometwin"]["injections"] == 6
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "HomeTwin" in res.output
    # The honest protocol is the default: a model every week, reachable falls, intervals, the worst home.
    assert result["config"]["protocol"] == "rolling" and result["config"]["counting"] == "honest"
    assert result["homes"][0]["models"] == 1 and "reachable" in result and result["loho"] is None
    assert len(result["false_alarms_per_day_ci"]) == 2 and "worst home" in res.output
    assert "worst home" in (out / "result.md").read_text()
    assert result["config"]["faults_as_false_alarms"] is False
    assert result["fault_notices"] == {"faults": 0, "noticed": 0, "notices": 0}  # the plain simulator has none
    again = CliRunner().invoke(app, ["evaluate", "--format", "sim", "--days", "10", "--injections", "2",
                                     "--stuck", "0", "--faults-as-false-alarms", "--out", str(tmp_path / "e2")])
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "e2" / "result.json").read_text())["config"]["faults_as_false_alarms"] is True


def test_cli_refuses_bad_input_with_a_clear_message(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["evaluate", "--format", "sim", "--injection", "sideways"])
    assert res.exit_code != 0 and "anchored or random" in res.output
    res = CliRunner().invoke(app, ["evaluate", "--format", "sim", "--protocol", "sideways"])
    assert res.exit_code != 0 and "rolling or split" in res.output
    res = CliRunner().invoke(app, ["evaluate", "--format", "sim", "--days", "5"])
    assert res.exit_code == 2 and "at least 7 days" in res.output
    res = CliRunner().invoke(app, ["evaluate", "--dataset", str(tmp_path / "nothing"), "--format", "ordonez"])
    assert res.exit_code == 2 and "nothing" in res.output


def test_public_home_runs(shared_data: Path) -> None:
    from hometwin.evaluation.sources import load_homes

    homes = [h for h in load_homes([shared_data], "kasteren") if h.name == "ordonez-A"]
    assert len(homes) == 1
    run = run_home(homes[0], EvalConfig(injections=20, stuck=4, protocol="split"))
    s = summarize([run], "hometwin", 0.0)
    assert 5 < s["test_days"] < 6.5 and s["injections"] == 20
    assert s["false_alarms_per_day"] is not None and s["recall_at_240"] is not None


def test_several_homes_get_leave_one_home_out_figures_and_the_worst_home() -> None:
    from hometwin.evaluation.tables import markdown

    cfg = EvalConfig(injections=6, stuck=2, seed=2)
    runs = [run_home(HomeData(f"drawn-{seed}", drawn_events(12, seed=seed), TZ), cfg) for seed in (7, 8)]
    result = result_of(runs, cfg)
    loho = result["loho"]["methods"]["hometwin"]
    assert set(loho["by_home"]) == {"drawn-7", "drawn-8"} and len(loho["pooled"]["theta"]) == 2
    assert all(cmp["selection"] == "loho" for cmp in result["equal_rate"].values())
    assert all(isinstance(s["target_met_on_others"], bool) for s in loho["by_home"].values())
    models = result["by_model"]
    assert [m["model"] for m in models] == [1] and models[0]["homes"] == 2
    assert models[0]["false_alarms"] == result["false_alarms"]
    assert models[0]["test_days"] == pytest.approx(result["test_days"], abs=0.02)
    assert result["worst_home"]["hometwin"]["false_alarms_per_day"]["home"] in {"drawn-7", "drawn-8"}
    assert result["test_days"] == pytest.approx(sum(r.test_days for r in runs), abs=0.01)
    text = markdown(result)
    assert "Leave one home out" in text and "| worst home |" in text and "| pool |" in text
    plain = result_of(runs, EvalConfig(injections=6, stuck=2, seed=2, selection="pooled", counting="plain"))
    assert plain["loho"] is None and "| method | FA/day | median |" in markdown(plain)


def test_homes_replayed_in_several_processes_give_the_same_result() -> None:
    from hometwin.evaluation.report import evaluate

    cfg = EvalConfig(injections=4, stuck=2, seed=5)
    homes = [HomeData(f"drawn-{seed}", drawn_events(10, seed=seed), TZ) for seed in (7, 8, 9)]
    seen: list[tuple[str, int, int]] = []
    alone = evaluate(homes, cfg)
    together = evaluate(homes, cfg, lambda *step: seen.append(step), jobs=2)
    assert json.dumps(together, sort_keys=True, default=str) == json.dumps(alone, sort_keys=True, default=str)
    assert [h["name"] for h in together["homes"]] == ["drawn-7", "drawn-8", "drawn-9"]
    assert sorted(s for s in seen if s[1] == 1) == [("drawn-7", 1, 1), ("drawn-8", 1, 1), ("drawn-9", 1, 1)]
    with pytest.raises(ValueError, match="jobs"):
        evaluate(homes, cfg, jobs=0)
    res = CliRunner().invoke(app, ["evaluate", "--format", "sim", "--jobs", "0"])
    assert res.exit_code != 0 and "--jobs" in res.output
