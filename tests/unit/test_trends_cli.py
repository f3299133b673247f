"""`hometwin trends` (table, --plot) and `hometwin evaluate --trends` through the real CLI, on
simulated homes in the embedded SQLite event store; the simulator's injected behaviour changes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from hometwin.cli import app
from hometwin.domain.change import ChangeParams
from hometwin.evaluation.trends import DEFAULT_COUNT_SWEEP
from hometwin.sim import BehaviourChange, simulate, simulated_home
from hometwin.sim.changes import CHANGE_KINDS

runner = CliRunner()
ZONE = ZoneInfo("Europe/Berlin")
START = datetime(2024, 1, 1, tzinfo=ZONE)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """70 days of the default resident, getting up 90 minutes later from day 56 on."""
    from hometwin.adapters.sources import open_sink

    url = f"sqlite:///{tmp_path_factory.mktemp('trends') / 'events.db'}"
    later = BehaviourChange("wake_later_90", (START + timedelta(days=56)).date())
    open_sink(url).append(simulate(70, seed=4, start=START, changes=[later]).events)
    return url


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: str) -> Path:
    monkeypatch.setenv("HOMETWIN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HOMETWIN_EVENTS", store)
    monkeypatch.setenv("HOMETWIN_TZ", "Europe/Berlin")
    return tmp_path


def test_trends_prints_every_indicator_with_its_normal_band_and_the_change(env: Path) -> None:
    result = runner.invoke(app, ["trends", "--weeks", "4"])
    assert result.exit_code == 0, result.output
    for label in ("Night-time toilet visits", "Getting up", "Going to bed", "Outings", "Time in the kitchen",
                  "Activity (room changes)", "Time in the bathroom per visit"):
        assert label in result.output
    assert "normal" in result.output
    assert "gets up at" in result.output and "instead of" in result.output  # the injected change, in words
    assert "later:" in result.output


def test_trends_plot_writes_a_png(env: Path) -> None:
    plot = env / "out" / "trends.png"
    result = runner.invoke(app, ["trends", "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    data = plot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000


def test_trends_refuses_bad_input_with_a_clear_message(env: Path, tmp_path: Path) -> None:
    assert runner.invoke(app, ["trends", "--weeks", "0"]).exit_code == 2
    assert runner.invoke(app, ["trends", "--sensitivity", "-1"]).exit_code == 2
    bad_zone = runner.invoke(app, ["trends", "--tz", "Mars/Olympus"])
    assert bad_zone.exit_code == 1 and "error" in bad_zone.output
    empty = runner.invoke(app, ["trends", "--source", f"sqlite:///{tmp_path / 'empty.db'}"])
    assert empty.exit_code == 1 and "holds no events" in empty.output


def test_evaluate_trends_on_a_tiny_configuration(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    result = runner.invoke(app, ["evaluate", "--trends", "--trend-seeds", "3", "--trend-homes", "1",
                                 "--trend-days", "21,5", "--trend-sweep", "5,9", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "result.json").read_text())
    assert data["sim_homes"] == 1
    assert [row["h"] for row in data["sweep"]] == [5.0, 8.0, 9.0]  # the default h joins the sweep
    assert data["default"]["h"] == 8.0
    assert set(data["sweep"][0]["types"]) == set(CHANGE_KINDS)
    for row in data["sweep"]:
        assert {"false_sim", "false_public"} <= set(row)
        assert row["false_sim"]["monitored_days"] > 0
    assert data["public_note"].startswith("skipped")
    assert "Change reports by sensitivity h" in (out / "result.md").read_text()
    # the count CUSUM's thresholds at the default h, for the change the toilet visits show
    assert [row["h_count"] for row in data["count_sweep"]] == list(DEFAULT_COUNT_SWEEP)
    assert ChangeParams().h_count in DEFAULT_COUNT_SWEEP and 0.0 in DEFAULT_COUNT_SWEEP
    for row in data["count_sweep"]:
        assert set(row["types"]) == {"night_toilet_x2"} and row["false_sim"]["monitored_days"] > 0
    assert "Count CUSUM threshold h_count" in (out / "result.md").read_text()
    # a lasting change told again after its first report, per home-month followed after it
    assert set(data["told_again"]) == set(CHANGE_KINDS)
    assert all(r["reports"] >= 0 for r in data["told_again"].values())
    assert "told again / home-month after" in (out / "result.md").read_text()
    bad = runner.invoke(app, ["evaluate", "--trends", "--trend-days", "5,5"])
    assert bad.exit_code == 2 and "baseline_days" in bad.output


def test_the_default_simulator_is_unchanged_and_a_change_starts_on_its_day() -> None:
    plain = simulate(20, seed=9, start=START)
    assert simulate(20, seed=9, start=START, changes=()).events == plain.events
    day = (START + timedelta(days=10)).date()
    later = simulate(20, seed=9, start=START, changes=[BehaviourChange("wake_later_90", day)])
    cut = START + timedelta(days=9, hours=12)  # the last unchanged day's morning is over
    assert [e for e in later.events if e.time < cut] == [e for e in plain.events if e.time < cut]

    def wake(result: object, d: int) -> datetime:
        acts = result.ground_truth.activities  # type: ignore[attr-defined]
        return max(a.end for a in acts if a.label == "sleeping"
                   and START + timedelta(days=d, hours=3) <= a.end < START + timedelta(days=d, hours=13))

    for d in range(10, 20):
        assert (wake(later, d) - wake(plain, d)).total_seconds() / 60 == pytest.approx(90, abs=1)


def test_injected_changes_change_what_they_say() -> None:
    home_start = simulated_home(5, days=1).start
    day = (home_start + timedelta(days=14)).date()

    def count(kind: str | None, label: str) -> tuple[int, int]:
        changes = [BehaviourChange(kind, day)] if kind else []
        acts = simulated_home(5, days=42, changes=changes).ground_truth.activities
        split = home_start + timedelta(days=14)
        return (sum(1 for a in acts if a.label == label and a.start < split),
                sum(1 for a in acts if a.label == label and a.start >= split))

    base_out, changed_out = count(None, "out"), count("outings_stop", "out")
    assert changed_out[0] == base_out[0] and base_out[1] > 10 and changed_out[1] == 0
    base_night, double_night = count(None, "toileting"), count("night_toilet_x2", "toileting")
    assert double_night[1] > base_night[1]
    with pytest.raises(ValueError):
        BehaviourChange("moves_to_mars", day)
    assert BehaviourChange("more_bed", day, ramp_days=4).strength(day) == pytest.approx(0.2)


def test_simulate_injects_a_behaviour_change_from_the_command_line(tmp_path: Path) -> None:
    from hometwin.adapters.sqlite import SQLiteEventStore

    def run(*extra: str) -> tuple[int, str, int]:
        db = tmp_path / f"e{len(extra)}.sqlite"
        result = runner.invoke(app, ["simulate", "--days", "6", "--seed", "2", "--start", "2024-02-05", "--tz",
                                     "Europe/Berlin", "--to", f"sqlite://{db}", *extra])
        if result.exit_code:
            return result.exit_code, result.output, 0
        with SQLiteEventStore(db) as events:
            return result.exit_code, result.output, events.count()

    plain, changed = run(), run("--change", "outings_stop@2024-02-07")
    assert plain[0] == 0 and changed[0] == 0, changed[1]
    assert changed[2] != plain[2]  # the days from 7 February on differ
    bad = run("--change", "moves_to_mars@2024-02-07")
    assert bad[0] == 2 and "unknown change 'moves_to_mars'" in bad[1]
    bad_day = run("--change", "outings_stop@someday")
    assert bad_day[0] == 2 and "not an ISO date" in bad_day[1]
