"""`hometwin simulate` and `hometwin import` end to end, into a real SQLite store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from hometwin.adapters.sqlite import SQLiteEventStore
from hometwin.cli import app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_simulate_writes_events_and_ground_truth(tmp_path: Path) -> None:
    db, truth = tmp_path / "e.sqlite", tmp_path / "truth.json"
    args = ["simulate", "--days", "3", "--seed", "9", "--start", "2024-02-05", "--tz", "Europe/Berlin",
            "--to", f"sqlite://{db}", "--ground-truth", str(truth), "--stuck", "2024-02-06T11:00"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    with SQLiteEventStore(db) as store:
        n = store.count()
        assert n > 1000
        assert f"{n} events ({n} new)" in result.output
    doc = json.loads(truth.read_text())
    assert doc["seed"] == 9 and doc["emergencies"][0]["type"] == "stuck_in_bathroom"
    again = CliRunner().invoke(app, args)
    assert "(0 new)" in again.output  # idempotent


def test_import_reports_rejected_lines_and_bad_input(tmp_path: Path) -> None:
    db = tmp_path / "e.sqlite"
    result = CliRunner().invoke(app, ["import", "--format", "casas", str(FIXTURES / "casas_sample.txt"),
                                      "--tz", "UTC", "--to", f"sqlite://{db}"])
    assert result.exit_code == 0, result.output
    assert "7 events (7 new)" in result.output and "3 lines rejected" in result.output
    assert "line 9:" in result.output
    with SQLiteEventStore(db) as store:
        latest = store.latest()
        assert latest is not None and latest.time == datetime(2011, 6, 15, 7, 0, tzinfo=UTC)
    bad = CliRunner().invoke(app, ["import", "--format", "ordonez", str(tmp_path / "nothing")])
    assert bad.exit_code == 2 and "no UCI ADL data" in bad.output
    bad_url = CliRunner().invoke(app, ["simulate", "--days", "1", "--to", "ftp://x"])
    assert bad_url.exit_code == 2 and "unknown scheme" in bad_url.output


def test_simulate_a_population_into_stores_and_casas_files(tmp_path: Path) -> None:
    from hometwin.adapters.datasets import load_dataset
    from hometwin.sim import DEVELOPMENT_SEEDS

    seed = str(DEVELOPMENT_SEEDS[3])
    args = ["simulate", "--population", "2", "--days", "3", "--seed", seed, "--casas", str(tmp_path / "casas"),
            "--to", f"sqlite://{tmp_path}/stores/{{home}}.sqlite"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "simulated 2 homes of 3 days" in result.output
    for name in (f"sim-{seed}-00", f"sim-{seed}-01"):
        truth = json.loads((tmp_path / "casas" / f"{name}.json").read_text())
        with SQLiteEventStore(tmp_path / "stores" / f"{name}.sqlite") as store:
            assert store.count() == truth["n_events"] > 100
        assert f"{name}: {truth['n_events']} events ({truth['n_events']} new)" in result.output
        imported = load_dataset(tmp_path / "casas" / f"{name}.txt", "casas",
                                tmp_path / "casas" / f"{name}.rooms.csv", tz=truth["tz"])
        assert len(imported.events) == truth["n_events"] and not imported.rejected
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "(0 new)" in again.output  # idempotent


def test_simulate_population_rejects_options_that_do_not_fit(tmp_path: Path) -> None:
    def run(*extra: str) -> str:
        result = CliRunner().invoke(app, ["simulate", "--days", "2", *extra])
        assert result.exit_code == 2
        return result.output

    assert "--fall: not with --population" in run("--population", "2", "--fall", "2024-01-01T10:00",
                                                  "--casas", str(tmp_path))
    assert "{home}" in run("--population", "2", "--to", f"sqlite://{tmp_path}/one.sqlite")
    assert "give --casas" in run("--population", "2")
    assert "--casas needs --population" in run("--casas", str(tmp_path))
