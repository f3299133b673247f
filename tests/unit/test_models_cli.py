"""`hometwin train` and `hometwin models list|show|promote` through the real CLI (Typer runner)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hometwin.adapters.filesystem import FileSystemStore
from hometwin.cli import app
from hometwin.domain.model import MODEL_KIND as BEHAVIOUR
from hometwin.registry import ModelRegistry

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOMETWIN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HOMETWIN_HOME_ID", "home-7")
    monkeypatch.delenv("HOMETWIN_MODEL_STORE", raising=False)
    monkeypatch.delenv("HOMETWIN_EVENTS", raising=False)
    return tmp_path


def register_two(root: Path) -> list[str]:
    registry = ModelRegistry(FileSystemStore(root), "home-7")
    versions = []
    for week in range(2):
        start = datetime(2024, 3, 4, tzinfo=UTC) + timedelta(weeks=week)
        meta = {"training_start": start, "training_end": start + timedelta(weeks=4), "n_events": 1000 + week,
                "n_stays": 300, "events_per_room": {"kitchen": 600, "bedroom": 400 + week}, "tz": "Europe/Berlin"}
        versions.append(registry.register(BEHAVIOUR, {"week": week}, meta).version)
    return versions


def test_models_list_prints_one_line_per_version_with_its_training_period(env: Path) -> None:
    first, second = register_two(env / "models")  # the default store: <data_dir>/models
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 2
    assert first in lines[0] and "2024-03-04T00:00 .. 2024-04-01T00:00" in lines[0]
    assert second in lines[1] and "2024-03-11T00:00" in lines[1] and lines[1].startswith("*")


def test_models_show_prints_the_metadata_of_a_version(env: Path) -> None:
    first, _ = register_two(env / "models")
    result = runner.invoke(app, ["models", "show", first])
    assert result.exit_code == 0, result.output
    assert f"version           {first}" in result.output
    assert "training_start    2024-03-04T00:00:00+00:00" in result.output
    assert "events_per_room   bedroom 400, kitchen 600" in result.output
    as_json = json.loads(runner.invoke(app, ["models", "show", "latest", "--json"]).output)
    assert as_json["n_events"] == 1001 and as_json["home_id"] == "home-7"


def test_models_promote_moves_latest_and_keeps_both(env: Path) -> None:
    first, second = register_two(env / "models")
    assert runner.invoke(app, ["models", "promote", first]).exit_code == 0
    lines = runner.invoke(app, ["models", "list"]).output.strip().splitlines()
    assert lines[0].startswith(f"* {first}") and lines[1].startswith(f"  {second}")


def test_unknown_version_and_empty_store_give_clear_messages(env: Path) -> None:
    result = runner.invoke(app, ["models", "show"])
    assert result.exit_code == 1 and "no behaviour model registered yet" in result.output
    assert "no behaviour models for home home-7" in runner.invoke(app, ["models", "list"]).output
    register_two(env / "models")
    result = runner.invoke(app, ["models", "show", "20990101T000000Z-000000"])
    assert result.exit_code == 1 and "models list" in result.output
    result = runner.invoke(app, ["models", "list", "--store", "ftp://x"])
    assert result.exit_code == 1 and "unsupported object store URL" in result.output


def test_train_from_a_sqlite_source_registers_a_model(env: Path) -> None:
    from zoneinfo import ZoneInfo

    from hometwin.adapters.sources import open_sink
    from hometwin.sim import simulate

    berlin = ZoneInfo("Europe/Berlin")
    events = simulate(days=21, seed=3, start=datetime(2024, 3, 4, tzinfo=berlin)).events
    url = f"sqlite:///{env / 'events.sqlite'}"
    open_sink(url).append(events)
    store = (env / "elsewhere").as_uri()
    result = runner.invoke(app, ["train", "--source", url, "--from", "2024-03-04", "--to", "2024-03-18",
                                 "--store", store])
    assert result.exit_code == 0, result.output
    version = ModelRegistry(FileSystemStore(env / "elsewhere"), "home-7").latest(BEHAVIOUR)
    assert version is not None and f"registered {version.version}" in result.output
    assert version.training_start == datetime(2024, 3, 4, tzinfo=berlin)
    assert version.training_end == datetime(2024, 3, 18, tzinfo=berlin)
    in_period = [e for e in events if version.training_start <= e.time < version.training_end]
    assert version.metadata["n_events"] == len(in_period)
    assert version.metadata["fingerprint"].startswith("sha256:") and version.metadata["tz"] == "Europe/Berlin"
    assert set(version.metadata["events_per_room"]) >= {"kitchen", "bedroom", "bathroom"}
    listed = runner.invoke(app, ["models", "list", "--store", store]).output
    assert version.version in listed and "2024-03-04T00:00 .. 2024-03-18T00:00" in listed


def test_train_reports_bad_input_without_a_traceback(env: Path) -> None:
    url = f"sqlite:///{env / 'empty.sqlite'}"
    result = runner.invoke(app, ["train", "--source", url, "--from", "2024-03-04", "--to", "2024-03-18"])
    assert result.exit_code == 1 and "no sensor events between" in result.output
    result = runner.invoke(app, ["train", "--source", url, "--from", "yesterday"])
    assert result.exit_code == 1 and "--from 'yesterday' is not an ISO date" in result.output
    result = runner.invoke(app, ["train", "--source", url, "--from", "2024-03-18", "--to", "2024-03-04"])
    assert result.exit_code == 1 and "is not before" in result.output
