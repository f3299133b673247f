"""The CLI for one home of a fleet (`--home ID` with a homes file): train, models, model show."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from hometwin.adapters.filesystem import FileSystemStore
from hometwin.cli import app
from hometwin.domain.model import MODEL_KIND
from hometwin.registry import ModelRegistry

runner = CliRunner()
VIENNA = ZoneInfo("Europe/Vienna")
HOMES = """homes:
  - id: anna
    tz: Europe/Vienna
    caregivers: [daughter@example.org]
  - id: ben
    caregivers: [son@example.org]
"""


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from hometwin.adapters.sources import open_sink
    from hometwin.sim import simulate

    (tmp_path / "homes.yaml").write_text(HOMES)
    monkeypatch.setenv("HOMETWIN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HOMETWIN_HOMES_FILE", str(tmp_path / "homes.yaml"))
    monkeypatch.setenv("HOMETWIN_EVENTS", f"sqlite:///{tmp_path / 'events.sqlite'}")
    monkeypatch.delenv("HOMETWIN_MODEL_STORE", raising=False)
    monkeypatch.delenv("HOMETWIN_HOME_ID", raising=False)
    # anna's events in her own database, where the monitoring and the modeling read them (docs/fleet.md)
    (tmp_path / "homes").mkdir()
    open_sink(f"sqlite:///{tmp_path / 'homes' / 'anna.sqlite'}").append(
        simulate(days=16, seed=5, start=datetime(2024, 3, 4, tzinfo=VIENNA)).events)
    return tmp_path


def test_train_home_reads_that_homes_events_in_its_time_zone_into_its_registry(fleet: Path) -> None:
    result = runner.invoke(app, ["train", "--home", "anna", "--from", "2024-03-04", "--to", "2024-03-18"])
    assert result.exit_code == 0, result.output
    version = ModelRegistry(FileSystemStore(fleet / "models"), "anna").latest(MODEL_KIND)
    assert version is not None and f"registered {version.version}" in result.output and "home anna" in result.output
    assert version.metadata["home_id"] == "anna" and version.metadata["tz"] == "Europe/Vienna"
    assert version.training_start == datetime(2024, 3, 4, tzinfo=VIENNA)  # --from in anna's local time
    assert ModelRegistry(FileSystemStore(fleet / "models"), "ben").latest(MODEL_KIND) is None

    listed = runner.invoke(app, ["models", "list", "--home", "anna"])
    assert listed.exit_code == 0 and version.version in listed.output
    shown = runner.invoke(app, ["model", "show", "--home", "anna"], env={"COLUMNS": "160"})
    assert shown.exit_code == 0, shown.output
    assert "Average duration per room" in shown.output
    assert "no behaviour models for home ben" in runner.invoke(app, ["models", "list", "--home", "ben"]).output


def test_a_home_without_events_and_an_unknown_home_get_clear_errors(fleet: Path) -> None:
    result = runner.invoke(app, ["train", "--home", "ben"])
    assert result.exit_code == 1 and "the source of home ben holds no events" in result.output
    for command in (["train"], ["models", "list"], ["models", "show"], ["model", "show"]):
        result = runner.invoke(app, [*command, "--home", "carl"])
        assert result.exit_code == 1, command
        assert "--home 'carl' is not a home of the homes file" in result.output and "its homes: anna, ben" in \
            result.output, command
        assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    result = runner.invoke(app, ["models", "list"])  # no --home: HOMETWIN_HOME_ID, by default "home"
    assert result.exit_code == 1 and "HOMETWIN_HOME_ID (give --home) 'home' is not a home" in result.output


def test_a_broken_homes_file_is_named_with_its_line(fleet: Path) -> None:
    (fleet / "homes.yaml").write_text(HOMES.replace("Europe/Vienna", "Europe/Atlantis"))
    result = runner.invoke(app, ["train", "--home", "anna"])
    assert result.exit_code == 1 and "line 3" in result.output and "Europe/Atlantis" in result.output
