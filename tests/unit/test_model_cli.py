"""`hometwin model show` through the real CLI (Typer runner), from a file and from the registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hometwin.adapters.filesystem import FileSystemStore
from hometwin.cli import app
from hometwin.domain.model import BehaviourModel, train_model
from hometwin.registry import ModelRegistry
from tests.unit.test_model import TZ, routine

runner = CliRunner()


@pytest.fixture(scope="module")
def model() -> BehaviourModel:
    return train_model(routine(3), tz=TZ, home_id="home-7")


@pytest.fixture
def model_file(tmp_path: Path, model: BehaviourModel) -> Path:
    path = tmp_path / "model.json"
    path.write_text(json.dumps(model.to_dict()))
    return path


def test_show_prints_the_average_duration_per_room(model_file: Path) -> None:
    result = runner.invoke(app, ["model", "show", "--file", str(model_file)], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "Average duration per room" in result.output
    row = next(line for line in result.output.splitlines() if "bathroom" in line)
    assert "2.0" in row  # visits per day: morning and evening
    assert "The day usually starts at 06:" in result.output


def test_show_room_prints_visits_and_time_per_visit_by_weekday_and_hour(model_file: Path) -> None:
    result = runner.invoke(app, ["model", "show", "--file", str(model_file), "--room", "Bathroom"],
                           env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(line for line in lines if "Mon" in line and "Sun" in line)
    assert header.index("Mon") < header.index("Sat")
    seven = next(line for line in lines if "07:00" in line)
    assert seven.count("1.0×10m") == 5  # Monday to Friday, 10 minutes each
    nine = next(line for line in lines if "09:00" in line)
    assert nine.count("1.0×20m") == 2  # the weekend


def test_plot_writes_heat_maps(model_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "heat.png"
    result = runner.invoke(app, ["model", "show", "--file", str(model_file), "--plot", str(out)])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_show_reads_the_registry(tmp_path: Path, model: BehaviourModel) -> None:
    registry = ModelRegistry(FileSystemStore(tmp_path / "models"), "home-7")
    period = model.training["period"]
    version = registry.register("behaviour", model.to_dict(),
                                {"training_start": period["start"], "training_end": period["end"]}).version
    result = runner.invoke(app, ["model", "show", "--store", f"file://{tmp_path / 'models'}", "--home", "home-7"],
                           env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert version in result.output and "bathroom" in result.output


def test_bad_input_gives_a_clear_message(model_file: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["model", "show", "--file", str(model_file), "--room", "attic"])
    assert result.exit_code == 1 and "no room 'attic'" in result.output
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = runner.invoke(app, ["model", "show", "--file", str(broken)])
    assert result.exit_code == 1 and "is not JSON" in result.output
    old = tmp_path / "old.json"
    old.write_text(json.dumps({**json.loads(model_file.read_text()), "schema_version": 0}))
    result = runner.invoke(app, ["model", "show", "--file", str(old)])
    assert result.exit_code == 1 and "schema_version" in result.output
    result = runner.invoke(app, ["model", "show", "--file", str(model_file), "--plot", str(tmp_path / "x.jpg")])
    assert result.exit_code == 1 and ".png" in result.output
    result = runner.invoke(app, ["model", "show", "--file", str(tmp_path / "missing.json")])
    assert result.exit_code == 1 and "cannot read" in result.output
