"""`hometwin import --format home-assistant`: Home Assistant's recorder database into an event store.

The databases are built from tests/fixtures/home_assistant/schema_52.sql (Home Assistant's own
tables, see the README there) and written the way the recorder writes them (recorder_db.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hometwin.adapters.datasets import DatasetError, load_dataset
from hometwin.adapters.home_assistant import NEWEST_SCHEMA, load_home_assistant
from hometwin.adapters.home_assistant_rooms import guess_room, kind_of, read_ha_config, room_of_area
from hometwin.adapters.sqlite import SQLiteEventStore
from hometwin.cli import app
from hometwin.domain.events import SensorKind
from tests.fixtures.home_assistant.recorder_db import SCHEMA_33, SCHEMA_52, RecorderDb

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "home_assistant" / "recorded_by_home_assistant.sql"

DAY0 = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday
MOTION = {"device_class": "motion", "friendly_name": "Kitchen Motion"}
HALL = {"device_class": "occupancy", "friendly_name": "Hallway Presence"}
BEDROOM = {"device_class": "presence", "friendly_name": "Bedroom FP2 Presence"}
FRONT = {"device_class": "door", "friendly_name": "Front Door"}
BATH_DOOR = {"device_class": "door", "friendly_name": "Bathroom Door"}
PHONE = {"device_class": "presence", "friendly_name": "Anna's Phone"}


def three_days(path: Path) -> dict[str, int]:
    """Three mornings in a small flat, with what real recorders also hold: unavailable spells, an
    attribute-only write, sensors HomeTwin has no use for, and three broken rows. Returns state ids."""
    db = RecorderDb(path)
    for day in range(3):
        t = DAY0 + timedelta(days=day, hours=6)
        for minutes, entity, state, attrs in (
                (0, "binary_sensor.bedroom_fp2", "on", BEDROOM), (55, "binary_sensor.bedroom_fp2", "off", BEDROOM),
                (56, "binary_sensor.hallway_pir", "on", HALL), (57, "binary_sensor.hallway_pir", "off", HALL),
                (58, "binary_sensor.bathroom_door", "on", BATH_DOOR),
                (59, "binary_sensor.bathroom_door", "off", BATH_DOOR),
                (80, "binary_sensor.kitchen_motion", "on", MOTION), (82, "binary_sensor.kitchen_motion", "off", MOTION),
                (120, "binary_sensor.front_door", "on", FRONT), (121, "binary_sensor.front_door", "off", FRONT),
                (122, "binary_sensor.anna_phone", "off", PHONE),
                (123, "binary_sensor.water_leak", "off", {"device_class": "moisture"}),
                (124, "binary_sensor.washer_vibration", "on", {"device_class": "vibration"}),
                (125, "binary_sensor.sofa", "on", {"friendly_name": "Sofa"}),
                (126, "sensor.kitchen_temperature", "21.5", {"device_class": "temperature"})):
            db.write(entity, state, t + timedelta(minutes=minutes), attrs)
        db.write("binary_sensor.kitchen_motion", "unavailable", t + timedelta(hours=5), MOTION)
        db.write("binary_sensor.kitchen_motion", "unknown", t + timedelta(hours=5, minutes=1), MOTION)
    ids = {"attr": db.write("binary_sensor.kitchen_motion", "unknown", DAY0 + timedelta(days=3), MOTION),
           "open": db.write("binary_sensor.front_door", "open", DAY0 + timedelta(days=3, hours=1), FRONT),
           "null": db.write("binary_sensor.kitchen_motion", "on", None, MOTION),
           "text": db.write("binary_sensor.hallway_pir", "on", "yesterday", HALL)}
    db.write("binary_sensor.front_door", "off", DAY0 + timedelta(days=3, hours=2), {**FRONT, "battery": 80})
    db.write("binary_sensor.front_door", "off", DAY0 + timedelta(days=3, hours=3), {**FRONT, "battery": 79})
    db.close()
    return ids


def snapshot(folder: Path) -> dict[str, str]:
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.iterdir())}


def ddl(sql: str, tables: set[str]) -> set[str]:
    """The CREATE statements for `tables`, whitespace-normalised, as a set (dumps order them differently)."""
    found = set()
    for statement in sql.split(";"):
        text = " ".join(statement.replace("(", " ( ").replace(")", " ) ").replace(",", " , ").split())
        text = text[text.find("CREATE"):] if "CREATE" in text else ""
        if text and any(f" {t} (" in text or f"TABLE {t} " in text for t in tables):
            found.add(text)
    return found


def test_a_database_written_by_home_assistants_own_recorder_imports(tmp_path: Path) -> None:
    """recorded_by_home_assistant.sql: every row written by Home Assistant 2025.1.4 (schema 48)."""
    db = tmp_path / "home-assistant_v2.db"
    with sqlite3.connect(db) as con:
        con.executescript(RECORDED.read_text(encoding="utf-8"))
    con.close()
    result = load_home_assistant(db)
    assert [(e.sensor.removeprefix("binary_sensor."), e.value) for e in result.events] == [
        ("kitchen_motion", 0), ("front_door", 0), ("bathroom_door", 0), ("hallway_occupancy", 0),
        ("hallway_occupancy", 1), ("kitchen_motion", 1), ("hallway_occupancy", 0), ("kitchen_motion", 0),
        ("bathroom_door", 1), ("bathroom_door", 0), ("kitchen_motion", 1), ("kitchen_motion", 0),
        ("front_door", 1), ("front_door", 0)]
    assert len({e.time for e in result.events}) == 14  # 50 ms apart, microseconds kept
    assert {(e.sensor, e.room, e.kind) for e in result.events} == {
        ("binary_sensor.kitchen_motion", "kitchen", SensorKind.MOTION),
        ("binary_sensor.hallway_occupancy", "hall", SensorKind.MOTION),
        ("binary_sensor.front_door", "hall", SensorKind.DOOR),
        ("binary_sensor.bathroom_door", "bathroom", SensorKind.CONTACT)}
    assert [(r.line, r.reason) for r in result.rejected] == [(16, "state 'open' is not on/off")]
    notes = "\n".join(result.notes)
    assert "recorder schema version 48 (HomeTwin reads 38 to 52); 18 state rows of 4 binary sensors" in notes
    assert "binary_sensor.anna_phone" in notes and "1 device class moisture" in notes
    # `unavailable`, and the row Home Assistant writes (state NULL) when an entity is removed
    assert "skipped 2 unavailable/unknown rows and 1 rows where only attributes changed" in notes


def test_the_fixture_ddl_is_what_home_assistant_creates() -> None:
    """schema_52.sql (written by hand, read by the other tests) equals the tables Home Assistant's
    recorder created itself; those four tables did not change from schema 48 to 52."""
    tables = {"states", "states_meta", "state_attributes", "schema_changes"}
    ours = ddl(SCHEMA_52.read_text(encoding="utf-8"), tables)
    assert len(ours) == 11 and ours == ddl(RECORDED.read_text(encoding="utf-8"), tables)


@pytest.mark.parametrize(("names", "room"), [
    (("binary_sensor.kitchen_motion", ""), "kitchen"), (("binary_sensor.pir_1", "Living Room PIR"), "livingroom"),
    (("binary_sensor.hall_toilet_door", ""), "toilet"), (("binary_sensor.front_door", "Front Door"), "hall"),
    (("binary_sensor.fp2", "Schlafzimmer Präsenz"), "bedroom"), (("binary_sensor.bed_occupancy", ""), "bedroom"),
    (("binary_sensor.motion_3", "Motion 3"), None), (("binary_sensor.bedside", ""), None),
])
def test_room_guess_reads_whole_words_of_both_names(names: tuple[str, str], room: str | None) -> None:
    guess = guess_room(*names)
    assert (guess[0] if guess else None) == room


def test_device_classes_become_kinds_and_only_outside_doors_are_doors() -> None:
    assert kind_of("motion") is kind_of("occupancy") is kind_of("presence") is SensorKind.MOTION
    assert kind_of("door", "binary_sensor.front_door") is SensorKind.DOOR
    assert kind_of("opening", "binary_sensor.x", "Back Door") is SensorKind.DOOR
    assert kind_of("garage_door", "binary_sensor.garage") is SensorKind.DOOR
    assert kind_of("door", "binary_sensor.bathroom_door") is SensorKind.CONTACT
    assert kind_of("window", "binary_sensor.kitchen_window") is SensorKind.CONTACT
    assert kind_of("moisture") is kind_of("battery") is kind_of("") is None
    assert room_of_area("Living Room") == "living_room" and room_of_area(" Küche ") == "küche"


def test_three_days_import_with_counts_guesses_and_bad_rows(tmp_path: Path) -> None:
    db = tmp_path / "home-assistant_v2.db"
    ids = three_days(db)
    before = snapshot(tmp_path)
    seen: list[tuple[int, int]] = []
    result = load_home_assistant(db, progress=lambda done, total: seen.append((done, total)))
    assert snapshot(tmp_path) == before  # not a byte written, no -wal/-shm left behind
    per_sensor = Counter((e.sensor, e.room, e.kind, e.value) for e in result.events)
    placed = (("bedroom_fp2", "bedroom", SensorKind.MOTION), ("hallway_pir", "hall", SensorKind.MOTION),
              ("bathroom_door", "bathroom", SensorKind.CONTACT), ("kitchen_motion", "kitchen", SensorKind.MOTION),
              ("front_door", "hall", SensorKind.DOOR))
    assert per_sensor == {(f"binary_sensor.{name}", room, kind, value): 3
                          for name, room, kind in placed for value in (1.0, 0.0)
                          } | {("binary_sensor.front_door", "hall", SensorKind.DOOR, 0.0): 4}
    first = [e for e in result.events if e.sensor == "binary_sensor.kitchen_motion"][0]
    assert first.time == DAY0 + timedelta(hours=7, minutes=20) and first.value == 1.0
    assert [e.time for e in result.events] == sorted(e.time for e in result.events)
    assert [(r.line, r.file) for r in result.rejected] == [(ids["open"], "states"), (ids["null"], "states"),
                                                            (ids["text"], "states")]
    assert "'open' is not on/off" in result.rejected[0].reason and "is not a time" in result.rejected[2].reason
    assert result.item == "row" and result.tz == "UTC" and result.fmt == "home-assistant"
    notes = "\n".join(result.notes)
    assert f"recorder schema version 52 (HomeTwin reads 38 to {NEWEST_SCHEMA})" in notes
    assert "binary_sensor.kitchen_motion -> kitchen (motion; guessed from 'kitchen')" in notes
    assert "binary_sensor.front_door -> hall (door; guessed from 'front')" in notes
    assert "skipped 1 binary sensors without a room" in notes and "binary_sensor.anna_phone" in notes
    assert ("ignored 3 other binary sensors (1 device class moisture, 1 device class none, "
            "1 device class vibration) and 1 entities that are not binary sensors") in notes
    # six unavailable/unknown rows and the 'unknown' at the end (an attribute-only write still isn't a reading)
    assert "skipped 7 unavailable/unknown rows and 1 rows where only attributes changed" in notes
    assert seen[-1][0] == seen[-1][1] == 3 * 12 + 6  # every row of the imported entities, counted
    assert load_dataset(db, "home-assistant").events == result.events  # the generic entry point agrees


def test_a_mapping_file_and_home_assistant_areas_place_entities(tmp_path: Path) -> None:
    db = tmp_path / "home-assistant_v2.db"
    three_days(db)
    mapping = tmp_path / "rooms.csv"
    mapping.write_text("entity_id,room,kind\nbinary_sensor.sofa,livingroom,pressure\n"
                       "binary_sensor.anna_phone,-\nbinary_sensor.hallway_pir,hall\nbinary_sensor.gone,kitchen\n")
    storage = tmp_path / "config" / ".storage"
    storage.mkdir(parents=True)
    registry = {"core.area_registry": {"areas": [{"id": "kueche", "name": "Küche"}]},
                "core.device_registry": {"devices": [{"id": "dev1", "area_id": "kueche"}]},
                "core.entity_registry": {"entities": [
                    {"entity_id": "binary_sensor.kitchen_motion", "device_id": "dev1", "area_id": None},
                    {"entity_id": "binary_sensor.front_door", "area_id": "flur"},
                    {"entity_id": "binary_sensor.washer_vibration", "device_class": "occupancy",
                     "original_device_class": "vibration"}]},
                "core.config": {"time_zone": "Europe/Berlin"}}
    for name, data in registry.items():
        (storage / name).write_text(json.dumps({"version": 1, "key": name, "data": data}))
    config = read_ha_config(storage.parent)
    assert config.areas == {"binary_sensor.kitchen_motion": "Küche", "binary_sensor.front_door": "flur"}
    result = load_home_assistant(db, mapping, ha_config=storage.parent)
    rooms = {(e.sensor, e.room, e.kind) for e in result.events}
    assert ("binary_sensor.sofa", "livingroom", SensorKind.PRESSURE) in rooms  # no device class, kind from the map
    assert ("binary_sensor.kitchen_motion", "küche", SensorKind.MOTION) in rooms  # the area of its device
    assert ("binary_sensor.front_door", "flur", SensorKind.DOOR) in rooms
    # the washer's recorded device class (vibration) wins: the registry's only fills in a missing one
    assert not any(e.sensor in ("binary_sensor.anna_phone", "binary_sensor.washer_vibration") for e in result.events)
    notes = "\n".join(result.notes)
    assert "binary_sensor.kitchen_motion -> küche (motion; area 'Küche')" in notes
    assert "binary_sensor.hallway_pir -> hall (motion; mapping)" in notes
    assert "1 left out by the mapping" in notes and "without a room" not in notes
    assert "no binary sensor for: binary_sensor.gone" in notes and result.tz == "Europe/Berlin"


def test_the_registry_gives_a_device_class_the_recorder_lacks(tmp_path: Path) -> None:
    db = tmp_path / "home-assistant_v2.db"
    writer = RecorderDb(db)
    writer.write("binary_sensor.0x00158d0001", "on", DAY0, {"friendly_name": "Zigbee sensor"})
    writer.close()
    assert load_home_assistant(db).events == []  # no device class, no room: left out
    (tmp_path / ".storage").mkdir()
    (tmp_path / ".storage" / "core.entity_registry").write_text(json.dumps({"data": {"entities": [
        {"entity_id": "binary_sensor.0x00158d0001", "original_device_class": "motion", "area_id": "bad"}]}}))
    [event] = load_home_assistant(db, ha_config=tmp_path).events
    assert (event.room, event.kind, event.value) == ("bad", SensorKind.MOTION, 1.0)  # area id, no area registry


@pytest.mark.parametrize(("version", "message"), [
    (33, "schema version 33, too old: HomeTwin reads recorder schema versions 38 to 52. Start Home Assistant"),
    (37, "schema version 37, too old"),
    (NEWEST_SCHEMA + 1, f"schema version {NEWEST_SCHEMA + 1}, newer than any HomeTwin was checked against: "
                        "HomeTwin reads recorder schema versions 38 to 52. To try anyway, add --accept-newer-schema"),
])
def test_unsupported_schema_versions_are_refused(tmp_path: Path, version: int, message: str) -> None:
    db = tmp_path / "recorder.db"
    RecorderDb(db, version=version, schema=SCHEMA_33 if version < 38 else SCHEMA_52).close()
    with pytest.raises(DatasetError, match=message):
        load_home_assistant(db)


def test_a_newer_schema_can_be_tried_and_other_files_get_clear_errors(tmp_path: Path) -> None:
    newer = tmp_path / "newer.db"
    writer = RecorderDb(newer, version=NEWEST_SCHEMA + 1)
    writer.write("binary_sensor.kitchen_motion", "on", DAY0, MOTION)
    writer.close()
    assert len(load_home_assistant(newer, accept_newer_schema=True).events) == 1
    with sqlite3.connect(newer) as con:
        con.execute("ALTER TABLE states DROP COLUMN last_changed_ts")
    with pytest.raises(DatasetError, match="table states has no column last_changed_ts"):
        load_home_assistant(newer, accept_newer_schema=True)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE t (x)")
    with pytest.raises(DatasetError, match="not a Home Assistant recorder database"):
        load_home_assistant(other)
    text = tmp_path / "notes.db"
    text.write_text("not a database at all, just some text that is long enough " * 20)
    with pytest.raises(DatasetError, match="is not a readable SQLite database"):
        load_home_assistant(text)
    with pytest.raises(DatasetError, match="Home Assistant database not found"):
        load_home_assistant(tmp_path / "missing.db")
    with pytest.raises(DatasetError, match="no core.entity_registry"):
        load_home_assistant(newer, ha_config=tmp_path)


def test_a_database_home_assistant_is_writing_to_is_read_through_its_log(tmp_path: Path) -> None:
    db = tmp_path / "home-assistant_v2.db"
    writer = RecorderDb(db)
    writer.write("binary_sensor.kitchen_motion", "on", DAY0, MOTION)
    writer.db.commit()  # committed into the -wal, not yet into the database file
    assert (tmp_path / "home-assistant_v2.db-wal").stat().st_size > 0
    try:
        assert [e.value for e in load_home_assistant(db).events] == [1.0]
    finally:
        writer.close()


def test_cli_imports_into_the_embedded_store_and_reports(tmp_path: Path) -> None:
    db = tmp_path / "home-assistant_v2.db"
    ids = three_days(db)
    store = tmp_path / "events.sqlite"
    args = ["import", "--format", "home-assistant", str(db), "--to", f"sqlite://{store}", "--show-rejected", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "home-assistant_v2: 31 events (31 new) from 2025-03-03T06:00:00+00:00" in result.output
    assert "rooms: bathroom, bedroom, hall, kitchen; 0 labelled activities; 3 rows rejected" in result.output
    assert f"  states row {ids['open']}: state 'open' is not on/off: binary_sensor.front_door" in result.output
    assert "  ... and 1 more" in result.output and "skipped 1 binary sensors without a room" in result.output
    with SQLiteEventStore(store) as events:
        assert events.count() == 31
    assert "(0 new)" in CliRunner().invoke(app, args).output  # idempotent
    old = tmp_path / "old.db"
    RecorderDb(old, version=33, schema=SCHEMA_33).close()
    refused = CliRunner().invoke(app, ["import", "--format", "home-assistant", str(old), "--to", f"sqlite://{store}"])
    assert refused.exit_code == 2 and "schema version 33, too old" in refused.output
    wrong = CliRunner().invoke(app, ["import", "--format", "casas", str(db), "--accept-newer-schema"])
    assert wrong.exit_code == 2 and "are for --format home-assistant" in wrong.output


def test_simulated_history_round_trips_and_trains_a_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two weeks of a simulated resident, written as Home Assistant would have recorded them
    (motion: on, then off a second later), imported and trained on by `hometwin train`."""
    from zoneinfo import ZoneInfo

    from hometwin.sim import simulate

    monkeypatch.setenv("HOMETWIN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("HOMETWIN_EVENTS", raising=False)
    events = simulate(days=14, seed=3, start=datetime(2024, 3, 4, tzinfo=ZoneInfo("Europe/Berlin"))).events
    db = tmp_path / "home-assistant_v2.db"
    writer = RecorderDb(db)
    classes = {SensorKind.MOTION: "motion", SensorKind.DOOR: "door", SensorKind.CONTACT: "opening"}
    for e in events:
        attrs = {"device_class": classes[e.kind], "friendly_name": e.sensor.replace("_", " ").title()}
        writer.write(f"binary_sensor.{e.sensor}", "on" if e.value else "off", e.time, attrs)
        if e.kind is SensorKind.MOTION:
            writer.write(f"binary_sensor.{e.sensor}", "off", e.time + timedelta(seconds=1), attrs)
    writer.close()
    mapping = tmp_path / "rooms.csv"
    mapping.write_text("entity_id,room\nbinary_sensor.fridge,kitchen\n")  # the one sensor without a room word
    store = f"sqlite:///{tmp_path / 'events.sqlite'}"
    result = CliRunner().invoke(app, ["import", "-f", "home-assistant", str(db), "--rooms", str(mapping),
                                      "--to", store])
    assert result.exit_code == 0, result.output
    imported = load_home_assistant(db, mapping).events
    presence = [(e.time, e.sensor, e.room, e.kind, e.value) for e in imported if e.value or e.kind != SensorKind.MOTION]
    assert len(presence) == len(events) and len(imported) == len(events) + sum(e.kind is SensorKind.MOTION
                                                                                 for e in events)
    presence.sort(key=lambda p: (p[0], p[1]))
    for got, want in zip(presence, sorted(events, key=lambda e: (e.time, f"binary_sensor.{e.sensor}")), strict=True):
        assert abs((got[0] - want.time).total_seconds()) < 1e-5  # float epoch seconds keep microseconds
        assert got[1:] == (f"binary_sensor.{want.sensor}", want.room, want.kind, want.value)
    trained = CliRunner().invoke(app, ["train", "--source", store, "--from", "2024-03-04", "--to", "2024-03-18",
                                       "--tz", "Europe/Berlin"])
    assert trained.exit_code == 0, trained.output
    assert "registered" in trained.output
    assert os.listdir(tmp_path / "models")
