"""Homes declared through the dashboard's API (`PUT /api/homes/{id}`), over real HTTP: service admins
only, validated with the homes file's own messages, written to the file and shown at once."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from hometwin.components.dashboard.accounts import hash_password
from hometwin.services.homes import HomesFileError, load_homes, save_homes
from tests.dashboard_fleet import Fleet, make_fleet
from tests.dashboard_helpers import make_home, serve

ADMIN = {"Authorization": "Bearer " + "tok-" + "x" * 28}
MARIA = "maria's own long passphrase"
GINA = {"name": "Gina Roth", "tz": "Europe/Vienna", "caregivers": ["gina.son@example.org"],
        "sensors": {"influx_user": "gina"}}


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    fleet = make_fleet(tmp_path)
    save_homes(tmp_path / "homes.yaml", [h.home for h in fleet.homes])
    (tmp_path / "accounts.yaml").write_text(f"""
accounts:
  - name: maria
    password_hash: "{hash_password(MARIA)}"
    homes: [anna]
""", encoding="utf-8")
    return fleet


def app(fleet: Fleet, **settings: object):  # type: ignore[no-untyped-def]
    return fleet.app(homes_file=fleet.tmp / "homes.yaml", dashboard_token=ADMIN["Authorization"][7:],
                     dashboard_accounts_file=fleet.tmp / "accounts.yaml", **settings)


def test_an_admin_declares_a_home_that_is_written_and_shown_at_once(fleet: Fleet) -> None:
    before = load_homes(fleet.tmp / "homes.yaml")
    with serve(app(fleet)) as url, httpx.Client(base_url=url, headers=ADMIN) as client:
        created = client.put("/api/homes/gina", json=GINA)
        listed = {h["id"]: h for h in client.get("/api/homes").json()["homes"]}
        page = client.get("/h/gina/")
        renamed = client.put("/api/homes/gina", json={**GINA, "name": "Gina Roth-Maier"})
    assert created.status_code == 200, created.text
    assert created.json()["created"] is True and created.json()["shown"] is True
    assert "restart the monitoring, the modeling and the actuation" in created.json()["detail"]
    assert listed["gina"]["name"] == "Gina Roth" and listed["gina"]["status"] == "data_missing"
    assert page.status_code == 200 and "Gina Roth" in page.text
    assert renamed.json()["created"] is False
    after = load_homes(fleet.tmp / "homes.yaml")
    assert after.ids() == before.ids() + ["gina"]
    assert [h for h in after if h.id != "gina"] == list(before)  # the other homes as they were
    gina = after.get("gina")
    assert gina is not None and gina.name == "Gina Roth-Maier" and gina.tz == "Europe/Vienna"
    assert gina.sensors.influx_user == "gina" and gina.caregivers == ("gina.son@example.org",)


def test_a_bad_declaration_gets_the_homes_files_message_and_changes_nothing(fleet: Fleet) -> None:
    text = (fleet.tmp / "homes.yaml").read_text(encoding="utf-8")
    bad = {**GINA, "tz": "Europe/Atlantis"}
    (fleet.tmp / "bad.yaml").write_text("homes:\n  - id: gina\n    tz: Europe/Atlantis\n", encoding="utf-8")
    with pytest.raises(HomesFileError) as in_file:
        load_homes(fleet.tmp / "bad.yaml")
    with serve(app(fleet)) as url, httpx.Client(base_url=url, headers=ADMIN) as client:
        answer = client.put("/api/homes/gina", json=bad)
        unknown = client.put("/api/homes/gina", json={**GINA, "colour": "blue"})
        other_id = client.put("/api/homes/gina", json={**GINA, "id": "anna"})
        bad_id = client.put("/api/homes/bad%20id", json=GINA)
        twice = client.put("/api/homes/gina", json={**GINA, "caregivers": ["a@example.org", "A@example.org"]})
    detail = answer.json()["detail"]
    assert answer.status_code == 422 and detail.startswith("home 'gina', field tz:")
    assert detail.split("field tz:")[1] == str(in_file.value).split("field tz:")[1]  # the same words
    assert unknown.status_code == 422 and "field colour" in unknown.json()["detail"]
    assert other_id.status_code == 422 and "another home" in other_id.json()["detail"]
    assert bad_id.status_code == 422 and twice.status_code == 422 and "listed twice" in twice.text
    assert (fleet.tmp / "homes.yaml").read_text(encoding="utf-8") == text


def test_only_service_admins_declare_homes(fleet: Fleet) -> None:
    text = (fleet.tmp / "homes.yaml").read_text(encoding="utf-8")
    with serve(app(fleet)) as url, httpx.Client(base_url=url) as client:
        anonymous = client.put("/api/homes/gina", json=GINA)
        client.post("/login", data={"account": "maria", "secret": MARIA})
        csrf_page = client.get("/h/anna/alerts").text
        csrf = csrf_page.split('name="csrf" value="')[1].split('"')[0]
        by_maria = client.put("/api/homes/gina", json=GINA, headers={"X-CSRF-Token": csrf})
        listed = [h["id"] for h in client.get("/api/homes").json()["homes"]]
    assert anonymous.status_code == 401 and by_maria.status_code == 403 and "service admin" in by_maria.text
    assert listed == ["anna"]
    assert (fleet.tmp / "homes.yaml").read_text(encoding="utf-8") == text


def test_without_a_homes_file_or_a_login_nothing_is_declared(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    with serve(home.app(dashboard_token=ADMIN["Authorization"][7:])) as url:
        single = httpx.put(f"{url}/api/homes/gina", json=GINA, headers=ADMIN)
    with serve(home.app()) as url:
        open_dashboard = httpx.put(f"{url}/api/homes/gina", json=GINA)
    assert single.status_code == 409 and "HOMETWIN_HOMES_FILE" in single.text
    assert open_dashboard.status_code == 403 and "needs a login" in open_dashboard.text


def test_a_read_only_homes_file_is_a_clear_503(fleet: Fleet) -> None:
    import os

    if os.geteuid() == 0:
        pytest.skip("root writes into read-only directories")
    (fleet.tmp).chmod(0o555)
    try:
        with serve(app(fleet)) as url:
            answer = httpx.put(f"{url}/api/homes/gina", json=GINA, headers=ADMIN)
    finally:
        fleet.tmp.chmod(0o755)
    assert answer.status_code == 503 and "cannot be written" in answer.text


def test_the_written_file_reads_back_the_same_whatever_the_default_zone(tmp_path: Path) -> None:
    from hometwin.services.homes import Home, HomeSensors

    homes = [Home(id="a", tz="Europe/Berlin"),  # the model's default zone, which HOMETWIN_TZ may not be
             Home(id="b", name="B", tz="America/New_York", caregivers=("x@example.org",),
                  sensors=HomeSensors(influx_buckets=("b_pir_1",)), rooms={"pir_1": "kitchen"})]
    path = tmp_path / "homes.yaml"
    path.write_text("homes: []\n", encoding="utf-8")
    path.chmod(0o640)
    save_homes(path, homes)
    assert list(load_homes(path, default_tz="Asia/Tokyo")) == homes
    assert path.stat().st_mode & 0o777 == 0o640 and [p.name for p in tmp_path.iterdir()] == ["homes.yaml"]
