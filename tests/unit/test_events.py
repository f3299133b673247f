"""The canonical sensor record: validation, UTC normalisation, ordering; labelled activities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from hometwin.domain.errors import InvalidEvent
from hometwin.domain.events import Activity, SensorEvent, SensorKind

T = datetime(2024, 10, 27, 2, 30, tzinfo=timezone(timedelta(hours=2)))  # the DST night, CEST


def test_time_is_normalised_to_utc_and_events_sort_by_time() -> None:
    late = SensorEvent(T + timedelta(minutes=1), "a", "kitchen")
    early = SensorEvent(T, "z", "bathroom", SensorKind.DOOR, 0)
    assert early.time == datetime(2024, 10, 27, 0, 30, tzinfo=UTC) and early.time.tzinfo == UTC
    assert early.value == 0.0 and isinstance(early.value, float)
    assert sorted([late, early]) == [early, late]
    assert SensorEvent(T, "a", "k", "contact").kind is SensorKind.CONTACT  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs, message", [
    ({"time": datetime(2024, 1, 1)}, "no time zone"),
    ({"time": "2024-01-01T00:00:00Z"}, "must be a datetime"),
    ({"sensor": "  "}, "sensor name is empty"),
    ({"room": ""}, "room of sensor 'pir' is empty"),
    ({"kind": "laser"}, "kind 'laser' is not one of motion, door, contact, pressure, other"),
    ({"value": "on"}, "value 'on' is not a number"),
    ({"value": float("nan")}, "value is NaN"),
])
def test_bad_records_are_rejected_with_a_reason(kwargs: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {"time": T, "sensor": "pir", "room": "kitchen"} | kwargs
    with pytest.raises(InvalidEvent, match=message):
        SensorEvent(**fields)


def test_trusted_constructor_equals_validated_one() -> None:
    checked = SensorEvent(T, "pir", "kitchen", SensorKind.MOTION, 1.0)
    assert SensorEvent.trusted(checked.time, "pir", "kitchen", SensorKind.MOTION, 1.0) == checked


def test_activity_validation() -> None:
    activity = Activity("Toileting", T, T + timedelta(minutes=3))
    assert activity.start.tzinfo == UTC
    with pytest.raises(InvalidEvent, match="ends before it starts"):
        Activity("x", T, T - timedelta(seconds=1))
    with pytest.raises(InvalidEvent, match="timezone-aware"):
        Activity("x", datetime(2024, 1, 1), T)
