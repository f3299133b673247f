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
