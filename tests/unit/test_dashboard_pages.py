"""The pages and their JSON API over real HTTP: what they show, and that they survive failures."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from hometwin.adapters.sources import open_source
from tests.dashboard_helpers import NOW, Home, make_home, serve


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return make_home(tmp_path)


def test_now_shows_the_current_room_last_activity_and_open_alert(home: Home) -> None:
    with serve(home.app()) as url, httpx.Client(base_url=url) as client:
        data = client.get("/api/now").json()
        page = client.get("/").text
    # The morning ends in the living room from 08:00 UTC; "now" is 09:30 UTC = 10:30 in Berlin.
    assert data["place"]["state"] == "room" and data["place"]["room"] == "livingroom"
    assert data["place"]["since"].startswith("2026-03-11T09:00") and data["place"]["since"].endswith("+01:00")
    assert data["last_activity"]["sensor"] == "pir_livingroom"
    assert [a["id"] for a in data["open_alerts"]] == [home.alert_id]
    assert 'id="current-room"' in page and "<strong>livingroom</strong>" in page
    assert "since 09:00" in page
    assert "Unusually long stay" in page and "bathroom" in page
    assert "No model yet, training first." in page
    assert data["status"]["model"] is None and data["status"]["problems"] == []


def test_today_draws_the_stays_of_the_day(home: Home) -> None:
    with serve(home.app()) as url, httpx.Client(base_url=url) as client:
        data = client.get("/api/today").json()
        page = client.get("/today").text
        other = client.get("/api/today", params={"day": "2026-03-10"}).json()
        bad = client.get("/api/today", params={"day": "yesterday"})
    rooms = [p["room"] for p in data["periods"] if p["kind"] == "stay"]
    assert rooms == ["bedroom", "bathroom", "kitchen", "livingroom"]
    assert data["seconds_per_room"]["bathroom"] == pytest.approx(20 * 60, abs=5 * 60)
    assert '<svg class="chart timeline"' in page and "bathroom 08:00" in page
    assert other["periods"] == []
    assert bad.status_code == 422 and "day" in bad.text


def test_pages_render_when_the_source_is_down(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    broken = tmp_path / "broken.sqlite"
    broken.write_bytes(b"this is not a database" * 100)
    home.source = open_source(f"sqlite:///{broken}")
    with serve(home.app()) as url, httpx.Client(base_url=url) as client:
        now, today = client.get("/"), client.get("/today")
        data = client.get("/api/now").json()
    assert now.status_code == 200 and today.status_code == 200
    assert "Sensor data is unavailable right now" in now.text
    assert "Sensor data is unavailable right now" in today.text
    assert data["status"]["source_ok"] is False and data["place"] is None
    assert data["open_alerts"][0]["id"] == home.alert_id  # the alerts still show


def test_alerts_page_lists_history_with_evidence(home: Home) -> None:
    with serve(home.app()) as url, httpx.Client(base_url=url) as client:
        data = client.get("/api/alerts").json()
        page = client.get("/alerts").text
    [alert] = data["alerts"]
    assert alert["evidence"]["observed"] == 3600 and alert["status"] == "notified"
    assert alert["notifications"] == 1
    assert "observed 1 h, usual 10 min, alert above 40 min, percentile 99.7" in page
    # when a check last saw it: a caregiver can tell an alert whose situation may be ending
    assert datetime.fromisoformat(alert["last_seen"]) == NOW - timedelta(minutes=5)
    assert "<dt>Last seen</dt><dd>Wed 11 Mar 10:25</dd>" in page  # in the home's zone (Berlin)


def test_bad_alert_id_is_a_422_naming_the_field(home: Home) -> None:
    with serve(home.app()) as url:
        r = httpx.post(f"{url}/api/alerts/bad%20id!/ack", headers={"content-type": "application/json"})
        unknown = httpx.post(f"{url}/api/alerts/a000/ack", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "alert_id" in r.text
    assert unknown.status_code == 404 and "a000" in unknown.text


def test_routine_and_models_pages_say_no_model_yet(home: Home) -> None:
    with serve(home.app()) as url, httpx.Client(base_url=url) as client:
        for path in ("/routine", "/models"):
            page = client.get(path)
            assert page.status_code == 200 and "No model yet, training first." in page.text
        assert client.get("/api/routine").json()["rooms"] == []
        assert client.get("/api/models").json()["versions"] == []


def test_demo_mail_page_lists_the_local_maildir(tmp_path: Path) -> None:
    from hometwin.adapters.mail import SmtpOptions, open_mailer
    from hometwin.components.dashboard import create_app
    from hometwin.config import DashboardSettings
    from hometwin.ports import EmailMessage

    home = make_home(tmp_path)
    maildir = tmp_path / "mail"
    mailer = open_mailer(f"maildir://{maildir}", SmtpOptions())
    mailer.send(EmailMessage(to=("carer@example.org",), subject="HomeTwin: bathroom – unusually long stay",
                             text="In the bathroom for 1 h.\nAcknowledge: http://127.0.0.1/ack?token=x"))
    app = create_app(DashboardSettings(data_dir=tmp_path), source=home.source, registry=home.registry,
                     alert_store=home.alerts, clock=home.clock, mail_dir=maildir)
    with serve(app) as url, httpx.Client(base_url=url) as client:
        page = client.get("/mail")
        data = client.get("/api/mail").json()
        nav = client.get("/").text
    assert page.status_code == 200 and "bathroom – unusually long stay" in page.text
    assert "In the bathroom for 1 h." in page.text
    assert data["enabled"] is True and data["mails"][0]["to"] == "carer@example.org"
    assert 'href="/mail"' in nav


def test_mail_page_is_absent_outside_the_demo(home: Home) -> None:
    with serve(home.app()) as url:
        assert httpx.get(f"{url}/mail").status_code == 404
        assert 'href="/mail"' not in httpx.get(f"{url}/").text


@pytest.mark.slow
def test_trained_home_shows_routine_models_and_their_comparison(tmp_path: Path) -> None:
    from tests.dashboard_helpers import make_trained_home

    home = make_trained_home(tmp_path, weeks=2)
    old, new = home.versions
    with serve(home.app()) as url, httpx.Client(base_url=url) as client:
        routine = client.get("/api/routine").json()
        models = client.get("/api/models").json()
        compare = client.get("/api/models/compare", params={"old": old, "new": new}).json()
        page = client.get("/models", params={"old": old, "new": new}).text
        missing = client.get("/api/models/compare", params={"old": old, "new": "20990101T000000Z-000000"})
        now = client.get("/api/now").json()
        routine_page = client.get("/routine").text
    assert [r["room"] for r in routine["rooms"]] == home.rooms
    assert all(len(r["visits"]) == 7 and len(r["visits"][0]) == 24 for r in routine["rooms"])
    assert sum(map(sum, routine["rooms"][0]["visits"])) > 0
    assert set(routine["average_duration"]) == set(home.rooms)
    assert routine_page.count('<svg class="chart heatmap"') == 2 * len(home.rooms)
    assert [v["version"] for v in models["versions"]] == [new, old]
    assert models["versions"][0]["metadata"]["training_end"] > models["versions"][1]["metadata"]["training_end"]
    assert compare["old"]["version"] == old and compare["lines"]
    assert f"What changed from {old} to {new}" in page and compare["lines"][0] in page.replace("&#39;", "'")
    assert missing.status_code == 404 and "20990101T000000Z-000000" in missing.text
    assert now["status"]["model"]["version"] == new
    assert {e["room"] for e in now["expected"]} == set(home.rooms)
    assert now["place"]["room"] == "bathroom" and now["place"]["percentile"] > 99



def _unreadable(folder: Path) -> None:
    """Every stored object under `folder` turns unreadable: its data file becomes a directory."""
    for data in folder.rglob("data"):
        data.unlink()
        data.mkdir()


def test_alert_store_failures_answer_503_try_again(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    acks = tmp_path / "state" / "state" / "home" / "acks"
    acks.write_text("a file where the acknowledgements go: recording one fails")
    with serve(home.app()) as url, httpx.Client(base_url=url) as client:
        unrecorded = client.post(f"/api/alerts/{home.alert_id}/ack", json={})
        _unreadable(tmp_path / "state")
        unreadable = client.post(f"/api/alerts/{home.alert_id}/ack", json={})
        page = client.get("/alerts")
    for answer in (unrecorded, unreadable):
        assert answer.status_code == 503 and "the alert store is unavailable, try again" in answer.text
    assert page.status_code == 200  # the page still renders and says what is missing


def test_model_registry_failure_answers_503_and_the_page_says_why(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    version = home.registry.register("behaviour", {"rooms": {}}, {
        "training_start": "2026-03-01T00:00:00+00:00", "training_end": "2026-03-08T00:00:00+00:00"}).version
    _unreadable(tmp_path / "models")
    with serve(home.app()) as url, httpx.Client(base_url=url) as client:
        compare = client.get("/api/models/compare", params={"old": version, "new": version})
        page = client.get("/models", params={"old": version, "new": version})
    assert compare.status_code == 503 and "model registry is unavailable, try again" in compare.text
    assert page.status_code == 200 and "The models could not be compared" in page.text
