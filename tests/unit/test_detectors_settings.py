"""The detectors' settings are generated from their knobs: same variables as always, and a new knob
becomes a setting (and a row of docs/configuration.md) without touching config.py."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import ValidationError

from hometwin.config import CommonSettings, DetectionSettings, detection_knobs, params_from_knobs
from hometwin.domain.detection import DetectionParams
from hometwin.domain.detectors.base import knob
from hometwin.settings_doc import env_names

# The variables as they were written by hand before the settings were generated: they must keep working.
VARIABLES = {
    "silence_limit": "HOMETWIN_DETECT_SILENCE_LIMIT", "silence_floor_min": "HOMETWIN_DETECT_SILENCE_FLOOR_MIN",
    "stay_limit": "HOMETWIN_DETECT_STAY_LIMIT", "stay_floor_min": "HOMETWIN_DETECT_STAY_FLOOR_MIN",
    "room_floor_min": "HOMETWIN_DETECT_ROOM_FLOORS", "few_samples": "HOMETWIN_DETECT_FEW_SAMPLES",
    "stay_gap_slack": "HOMETWIN_DETECT_STAY_GAP_SLACK", "routine_limit": "HOMETWIN_DETECT_ROUTINE_LIMIT",
    "away_limit": "HOMETWIN_DETECT_AWAY_LIMIT", "away_floor_min": "HOMETWIN_DETECT_AWAY_FLOOR_MIN",
    "frequency_limit": "HOMETWIN_DETECT_FREQUENCY_LIMIT",
    "frequency_min_excess": "HOMETWIN_DETECT_FREQUENCY_MIN_EXCESS",
    "source_error_after_min": "HOMETWIN_DETECT_SOURCE_ERROR_AFTER_MIN",
    "dead_sensor_after_h": "HOMETWIN_DETECT_DEAD_SENSOR_AFTER_H",
    "dead_sensor_share": "HOMETWIN_DETECT_DEAD_SENSOR_SHARE",
    "silent_sensor_factor": "HOMETWIN_DETECT_SILENT_SENSOR_FACTOR",
    "daily_sensor_share": "HOMETWIN_DETECT_DAILY_SENSOR_SHARE", "sensitivity": "HOMETWIN_DETECT_SENSITIVITY",
    "stuck_sensor_after_min": "HOMETWIN_DETECT_STUCK_SENSOR_AFTER_MIN",  # added with the detector
}


def _variables(cls: type[CommonSettings]) -> dict[str, str]:
    common = set(CommonSettings.model_fields)
    return {name: env_names(cls, name, f)[0] for name, f in cls.model_fields.items() if name not in common}


def test_every_variable_keeps_its_name_and_reaches_its_knob(monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(_variables(DetectionSettings).values()) == set(VARIABLES.values())
    for i, (name, variable) in enumerate(sorted(VARIABLES.items())):
        if name == "room_floor_min":
            continue
        value = 0.5 + i / 100  # within every knob's bounds, and different from every default
        monkeypatch.setenv(variable, str(value))
        assert getattr(DetectionSettings().params(), name) == pytest.approx(value), variable


def test_settings_defaults_and_descriptions_are_the_knobs() -> None:
    params = DetectionParams()
    for f in dataclasses.fields(DetectionParams):
        setting = DetectionSettings.model_fields[VARIABLES[f.name].removeprefix("HOMETWIN_").lower()]
        assert setting.description == f.metadata["doc"]
        if f.name != "room_floor_min":
            assert setting.default == getattr(params, f.name)


def test_bounds_and_pairs_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMETWIN_DETECT_DEAD_SENSOR_SHARE", "1.5")
    with pytest.raises(ValidationError, match="detect_dead_sensor_share"):
        DetectionSettings()
    monkeypatch.delenv("HOMETWIN_DETECT_DEAD_SENSOR_SHARE")
    monkeypatch.setenv("HOMETWIN_DETECT_ROOM_FLOORS", "bathroom=-5")
    with pytest.raises(ValueError, match="HOMETWIN_DETECT_ROOM_FLOORS: 'bathroom=-5' is not room=minutes"):
        DetectionSettings().params()


@dataclasses.dataclass(frozen=True)
class _WithANewDetector(DetectionParams):
    nap_limit: float = knob(1.5, "A new detector's knob.", ge=0)
    nap_rooms: dict[str, float] = knob({}, "Per-room naps, e.g. 'sofa=90'.", ge=0, env="nap_floors",
                                       pair="room=minutes")


def test_a_new_knob_is_a_setting_without_editing_config(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = detection_knobs(CommonSettings, _WithANewDetector)
    assert _variables(settings)["detect_nap_limit"] == "HOMETWIN_DETECT_NAP_LIMIT"
    assert _variables(settings)["detect_nap_floors"] == "HOMETWIN_DETECT_NAP_FLOORS"
    assert settings.model_fields["detect_nap_limit"].description == "A new detector's knob."
    assert params_from_knobs(settings(), _WithANewDetector) == _WithANewDetector()
    monkeypatch.setenv("HOMETWIN_DETECT_NAP_LIMIT", "2")
    monkeypatch.setenv("HOMETWIN_DETECT_NAP_FLOORS", "sofa=90")
    p = params_from_knobs(settings(), _WithANewDetector)
    assert isinstance(p, _WithANewDetector) and p.nap_limit == 2.0 and p.nap_rooms == {"sofa": 90.0}
    monkeypatch.setenv("HOMETWIN_DETECT_NAP_LIMIT", "-1")
    with pytest.raises(ValidationError, match="detect_nap_limit"):
        settings()


def test_a_knob_without_a_setting_type_is_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class Odd(DetectionParams):
        odd: tuple[int, ...] = dataclasses.field(default=(), metadata={"doc": "?", "bounds": {}})

    with pytest.raises(TypeError, match="Odd.odd"):
        detection_knobs(CommonSettings, Odd)
