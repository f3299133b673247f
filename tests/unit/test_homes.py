"""Homes as a first-class notion (issue 16, item 1): the homes file, its errors, the implicit home,
each home's sensor selection and the share of homes each monitoring replica checks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hometwin.adapters.influx import InfluxSource
from hometwin.adapters.memory_source import MemoryEventStore
from hometwin.adapters.sqlite import SQLiteEventStore
from hometwin.components.wiring import RoomOverride, home_events, homes_from_settings
from hometwin.config import CommonSettings, MonitoringSettings, SourceSettings
from hometwin.domain.events import SensorEvent
from hometwin.services.homes import Home, HomesFileError, load_homes, replica_of, share

GOOD = """\
# the course lab and a client of the care service
homes:
  - id: anna
    name: Anna Berger
    tz: Europe/Vienna
    caregivers: [daughter@example.org, nurse@example.org]
    sensors: {influx_user: anna}
    rooms: {pir_3: kitchen}
  - id: ben
    caregivers: [ben.son@example.org]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "homes.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_gives_every_home_with_its_fields_and_defaults(tmp_path: Path) -> None:
    homes = load_homes(write(tmp_path, GOOD), default_tz="Europe/Berlin")
    assert homes.ids() == ["anna", "ben"] and not homes.implicit
    anna, ben = homes
    assert (anna.name, anna.tz, anna.caregivers) == ("Anna Berger", "Europe/Vienna",
                                                     ("daughter@example.org", "nurse@example.org"))
    assert anna.rooms == {"pir_3": "kitchen"}
    assert anna.sensors.bucket_selection("anna") == ((), "^anna_")
    assert (ben.name, ben.tz) == ("ben", "Europe/Berlin")  # the name defaults to the id, tz to HOMETWIN_TZ
    assert homes.get("ben") is ben and homes.get("carla") is None and homes.default is anna


@pytest.mark.parametrize(("text", "expected"), [
    (GOOD.replace("tz: Europe/Vienna", "tz: Europe/Atlantis"),
     "line 5, home 'anna', field tz: 'Europe/Atlantis' is not an IANA time zone"),
    (GOOD.replace("[ben.son@example.org]", "[ben.son]"),
     "line 10, home 'ben', field caregivers: not a plain e-mail address"),
    (GOOD.replace("    caregivers: [ben.son@example.org]", "    colour: blue"),
     "line 10, home 'ben', field colour: Extra inputs are not permitted"),
    (GOOD.replace("id: ben", "id: anna"), "line 9: home id 'anna' is declared already on line 3"),
    (GOOD.replace("id: ben", "id: ../etc"), "line 9, home '../etc', field id: String should match pattern"),
    (GOOD.replace("influx_user: anna", "influx_user: anna, influx_buckets: [x]"),
     "line 7, home 'anna', field sensors: give one bucket selection, not influx_user and influx_buckets"),
    (GOOD.replace("  - id: ben\n", "  - name: nobody\n"), "line 9, a home without an id, field id: Field required"),
    ("homes: []\n", "it declares no home"),
    ("home:\n  - id: anna\n", "expected a top-level `homes:` list"),
    ("homes:\n  anna: {tz: Europe/Berlin}\n", "expected a top-level `homes:` list"),
    ("homes:\n  - id: [\n", "line 3: not valid YAML"),
])
def test_a_bad_file_is_refused_naming_line_home_and_field(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(HomesFileError) as caught:
        load_homes(write(tmp_path, text))
    assert expected in str(caught.value) and "homes.yaml" in str(caught.value)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(HomesFileError, match="cannot read it"):
        load_homes(tmp_path / "nowhere.yaml")


def test_without_a_homes_file_there_is_one_implicit_home_from_todays_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMETWIN_CAREGIVERS", "a@example.org, b@example.org")
    settings = CommonSettings(data_dir=tmp_path, home_id="flat-7", tz="Europe/London")
    homes = homes_from_settings(settings)
    assert homes.implicit and homes.ids() == ["flat-7"]
    assert (homes.default.tz, homes.default.caregivers) == ("Europe/London", ("a@example.org", "b@example.org"))
    monkeypatch.setenv("HOMETWIN_HOMES_FILE", str(write(tmp_path, GOOD)))
    assert homes_from_settings().ids() == ["anna", "ben"]


def test_each_home_reads_its_own_events(tmp_path: Path) -> None:
    anna, ben = load_homes(write(tmp_path, GOOD))
    sqlite = SourceSettings(data_dir=tmp_path)
    ben_store = home_events(ben, sqlite)
    assert isinstance(ben_store, SQLiteEventStore) and ben_store.path == tmp_path.resolve() / "homes" / "ben.sqlite"
    influx = SourceSettings(data_dir=tmp_path, events="influxdb://127.0.0.1:8086")
    anna_source = home_events(anna, influx)
    assert isinstance(anna_source, RoomOverride)  # anna's room mapping on top of her buckets
    assert isinstance(anna_source.source, InfluxSource)
    assert anna_source.source.settings.bucket_pattern == "^anna_"  # the course's <user>_<device>_<sensor>
    ben_influx = home_events(ben, influx)
    assert isinstance(ben_influx, InfluxSource) and ben_influx.settings.bucket_pattern == "^ben_"
    own = Home(id="carla", sensors={"events": "memory://carla-own"})
    assert home_events(own, influx) is MemoryEventStore.named("carla-own")
    assert home_events(Home(id="dora"), SourceSettings(events="memory://lab")) is MemoryEventStore.named("lab.dora")


def test_the_room_mapping_renames_only_the_listed_sensors() -> None:
    store = MemoryEventStore()
    at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    store.append([SensorEvent(at, "pir_3", "room3"), SensorEvent(at.replace(minute=5), "pir_4", "hall")])
    source = RoomOverride(store, {"pir_3": "kitchen"})
    assert [e.room for e in source.read(at, at.replace(hour=13))] == ["kitchen", "hall"]
    assert [e.room for e in source.stream(at, at.replace(hour=13))] == ["kitchen", "hall"]
    latest = source.latest()
    assert latest is not None and latest.room == "hall"


def test_replicas_share_the_homes_stably_and_completely(tmp_path: Path) -> None:
    ids = [f"home-{i}" for i in range(200)]
    homes = load_homes(write(tmp_path, "homes:\n" + "".join(f"  - id: {i}\n" for i in ids)))
    shares = [share(homes, index, 3).ids() for index in range(3)]
    assert sorted(sum(shares, [])) == sorted(ids)  # every home in exactly one share
    assert all(40 < len(s) < 95 for s in shares), [len(s) for s in shares]  # and roughly even
    assert [replica_of(i, 3) for i in ids] == [replica_of(i, 3) for i in ids]
    assert share(homes, 0, 1) is homes


def test_the_replica_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MonitoringSettings().replica() == (0, 1)
    assert MonitoringSettings(monitoring_replica="1/2").replica() == (1, 2)
    with pytest.raises(ValueError, match="replica 2 of 2 does not exist"):
        MonitoringSettings(monitoring_replica="2/2").replica()
    monkeypatch.setenv("HOSTNAME", "hometwin-monitoring-1")
    assert MonitoringSettings(monitoring_replica="auto/3").replica() == (1, 3)
    monkeypatch.setenv("HOSTNAME", "laptop")
    with pytest.raises(ValueError, match="StatefulSet ordinal"):
        MonitoringSettings(monitoring_replica="auto/3").replica()
