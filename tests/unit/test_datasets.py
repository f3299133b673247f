"""Importers against the real public files (../shared/data) and small fixtures we wrote ourselves."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hometwin.adapters.datasets import (
    DatasetError,
    load_dataset,
    load_room_map,
    public_homes,
)
from hometwin.domain.events import SensorKind

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_public_homes_load_with_our_room_mappings(shared_data: Path) -> None:
    homes = public_homes(shared_data)
    assert [name for name, _, _ in homes] == [
        "kasteren-A", "kasteren-B", "kasteren-C", "ordonez-A", "ordonez-B"]
    for name, path, fmt in homes:
        result = load_dataset(path, fmt)
        assert result.name == name
        assert result.events == sorted(result.events, key=lambda e: e.time)
        rooms = {e.room for e in result.events}
        assert {"kitchen", "bedroom"} <= rooms, name
        assert rooms <= {
            "kitchen", "bedroom", "bathroom", "toilet", "downstairs_toilet", "livingroom", "hall"}
        assert result.activities, name
        # every rejected line is one the mapping deliberately lacks (unnamed ids) or bad data, with its number
        for r in result.rejected:
            assert r.line >= 1 and r.text and r.reason


def test_ordonez_interval_counts_match_the_readme(shared_data: Path) -> None:
    # README: home A has 409 sensor intervals, home B 2,334; each becomes an ON and an OFF event
    a = load_dataset(shared_data / "uci_adl_ordonez" / "OrdonezA", "ordonez")
    b = load_dataset(shared_data / "uci_adl_ordonez" / "OrdonezB_Sensors.txt", "ordonez")
    assert len(a.events) == 2 * 409 and len(b.events) == 2 * 2334
    assert Counter(e.value for e in a.events) == {1.0: 409, 0.0: 409}
    door = [e for e in a.events if e.kind is SensorKind.DOOR]
    assert door and {e.sensor for e in door} == {"Entrance Maindoor"} and {e.room for e in door} == {"hall"}
    # the first row: 2011-11-28 02:27:59 local Madrid (UTC+1) to 10:18:11, bed pressure mat
    first = a.events[0]
    assert (first.time, first.sensor, first.room, first.kind) == (
        datetime(2011, 11, 28, 1, 27, 59, tzinfo=UTC), "Bedroom Bed", "bedroom", SensorKind.PRESSURE)
    # three ADL rows in home A end before they start: reported with their line numbers, not dropped silently
    assert len(a.rejected) == 3 and all(r.file == "OrdonezA_ADLs.txt" for r in a.rejected)
    assert {a.label for a in b.activities} >= {"Toileting", "Showering", "Sleeping", "Leaving"}


def test_ordonez_without_mapping_uses_the_place_column(shared_data: Path) -> None:
    result = load_dataset(shared_data / "uci_adl_ordonez" / "OrdonezB", "ordonez", rooms={})
    assert len(result.events) == 0 and len(result.rejected) == 2334  # empty mapping: every line named
    assert "not in the room mapping" in result.rejected[0].reason


def test_kasteren_both_formats_agree_on_house_a(shared_data: Path) -> None:
    original = load_dataset(shared_data / "kasteren" / "houseA_original", "kasteren")
    tl = shared_data / "kasteren" / "houseABC_tl_converted"
    converted = load_dataset(tl / "houseA.sensors", "kasteren")
    assert original.name == converted.name == "kasteren-A"
    assert len(original.events) == 2 * 1319 and not original.rejected  # README: 1,319 intervals
    # the same first interval in both releases: 25-Feb-2008 00:20:14 Amsterdam = 23:20:14 UTC
    first = datetime(2008, 2, 24, 23, 20, 14, tzinfo=UTC)
    assert original.events[0].time == converted.events[0].time == first
    assert original.events[0].room == converted.events[0].room == "bedroom"
    assert {e.sensor for e in original.events if e.kind is SensorKind.DOOR} == {"Frontdoor"}
    assert {e.sensor for e in converted.events if e.kind is SensorKind.DOOR} == {"Front door"}
    # id 4 has no name in the converted release: its lines are rejected with the reason
    assert converted.rejected and all("sensor id 4" in r.reason for r in converted.rejected)
    assert Counter(a.label for a in original.activities)["use toilet"] == 114


def test_kasteren_b_and_c(shared_data: Path) -> None:
    tl = shared_data / "kasteren" / "houseABC_tl_converted"
    b = load_dataset(tl / "houseB", "kasteren")
    assert {e.sensor for e in b.events if e.kind is SensorKind.MOTION} == {
        "PIR slaapkamer", "PIR badkamer", "PIR keuken"}
    assert {r.reason.split()[2] for r in b.rejected} == {"4", "20", "22", "23", "24", "25"}
    c = load_dataset(tl / "houseC", "kasteren")
    assert {e.room for e in c.events if e.sensor == "matt couch living room"} == {"livingroom"}


def test_casas_fixture_with_bad_lines(tmp_path: Path) -> None:
    result = load_dataset(FIXTURES / "casas_sample.txt", "casas", tz="UTC")
    assert [(e.sensor, e.value) for e in result.events] == [
        ("M021", 1.0), ("M021", 0.0), ("M028", 1.0), ("M028", 0.0),
        ("Kitchen", 1.0), ("Kitchen", 0.0), ("T001", 21.5)]
    assert result.events[2].time == datetime(2011, 6, 15, 3, 21, 3, tzinfo=UTC)
    assert result.events[0].kind is SensorKind.MOTION
    assert [r.line for r in result.rejected] == [8, 9, 10]
    assert "25:00:00" in result.rejected[2].reason
    assert [(a.label, a.start.hour, a.end.hour) for a in result.activities] == [("Sleep", 0, 6)]

    mapping = tmp_path / "rooms.csv"
    mapping.write_text("sensor,room,kind\nM021,bedroom,\nM028,bathroom,motion\nKitchen,hall,door\n")
    mapped = load_dataset(FIXTURES / "casas_sample.txt", "casas", rooms=mapping, tz="UTC")
    assert [e.room for e in mapped.events] == ["bedroom"] * 2 + ["bathroom"] * 2 + ["hall"] * 2
    assert mapped.events[4].kind is SensorKind.DOOR
    assert any("'T001' is not in the room mapping" in r.reason for r in mapped.rejected)


def test_local_time_follows_daylight_saving(tmp_path: Path) -> None:
    data = tmp_path / "dst.txt"
    data.write_text("2024-03-30 12:00:00 M001 ON\n2024-03-31 12:00:00 M001 ON\n")
    result = load_dataset(data, "casas", tz="Europe/Berlin")
    assert [e.time.hour for e in result.events] == [11, 10]  # CET then CEST


@pytest.mark.parametrize("text, message", [
    ("room,sensor\nM1,kitchen\n", "line 1: header"),
    ("sensor,room,kind\nM1,kitchen,laser\n", "line 2: kind 'laser'"),
    ("sensor,room\nM1,kitchen\nM1,hall\n", "line 3: sensor 'M1' is mapped twice"),
    ("sensor,room\nM1,\n", "line 2: sensor and room must not be empty"),
])
def test_room_map_errors_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "map.csv"
    path.write_text(text)
    with pytest.raises(DatasetError, match=message):
        load_room_map(path)


def test_missing_or_unknown_input_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="unknown format"):
        load_dataset(tmp_path, "csv")
    with pytest.raises(DatasetError, match="no van Kasteren data"):
        load_dataset(tmp_path / "houseZ", "kasteren")
    with pytest.raises(DatasetError, match="no UCI ADL data"):
        load_dataset(tmp_path / "OrdonezZ", "ordonez")
    with pytest.raises(DatasetError, match="unknown time zone"):
        load_dataset(tmp_path, "casas", tz="Mars/Olympus")


def test_kasteren_converted_bad_rows(tmp_path: Path) -> None:
    (tmp_path / "houseX.sensor_names").write_text("1\tPIR hall\n2\tfront door\n")
    (tmp_path / "houseX.sensors").write_text(
        "1200000000\t10\t1\nabc\t1\t1\n1200000100\t-5\t2\n1200000200\t0\t2\n")
    result = load_dataset(tmp_path / "houseX", "kasteren", tz="UTC")
    assert [(e.sensor, e.kind, e.value) for e in result.events] == [
        ("PIR hall", SensorKind.MOTION, 1.0), ("PIR hall", SensorKind.MOTION, 0.0),
        ("front door", SensorKind.DOOR, 1.0), ("front door", SensorKind.DOOR, 0.0)]
    assert [r.line for r in result.rejected] == [2, 3]
    assert "negative duration" in result.rejected[1].reason


def test_labelled_toilet_visits_fall_in_wet_room_stays(shared_data: Path) -> None:
    """Sanity of importers + room mappings + stays (figures in docs/data.md): most labelled
    toileting/showering activities overlap a bathroom/toilet stay in every public home."""
    from hometwin.domain.stays import extract_timeline

    for name, path, fmt in public_homes(shared_data):
        result = load_dataset(path, fmt)
        stays = [s for s in extract_timeline(result.events).stays if "bath" in s.room or "toilet" in s.room]
        wanted = [a for a in result.activities
                  if a.label.lower() in {"use-toilet", "take-shower", "toileting", "showering"}]
        hit = sum(any(s.start < a.end and s.end > a.start for s in stays) for a in wanted)
        assert wanted and hit / len(wanted) > 0.7, (name, hit, len(wanted))
