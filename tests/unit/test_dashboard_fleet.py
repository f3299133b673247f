"""The dashboard for a service (issue 16, item 4) over real HTTP: the home list with each home's status,
each home's pages under /h/<id>, the old URLs, unknown homes, and e-mail links that name their home."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from hometwin.domain import ack_links
from tests.dashboard_fleet import FLEET, STATUS, Fleet, make_fleet
from tests.dashboard_helpers import NOW, make_home, serve

ACK_SECRET = "ack-secret-" + "y" * 21


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    return make_fleet(tmp_path)


def test_home_list_shows_every_homes_status_with_open_alerts_first(fleet: Fleet) -> None:
    with serve(fleet.app()) as url, httpx.Client(base_url=url) as client:
        data = client.get("/api/homes").json()
        by_name = client.get("/api/homes", params={"sort": "name"}).json()
        page = client.get("/homes").text
        bad = client.get("/api/homes", params={"sort": "size"})
    ids = [h["id"] for h in data["homes"]]
    # anna's alert is the newer one, so she comes first; then by rank: warning, data missing, no model, well.
    assert ids == ["anna", "ben", "carl", "dora", "eve", "fred"]
    assert {h["id"]: h["status"] for h in data["homes"]} == STATUS
    assert data["counts"] == {"alert": 2, "warning": 1, "data_missing": 1, "no_model": 1, "well": 1}
    anna = data["homes"][0]
    assert anna["name"] == "Anna Berger" and anna["url"] == "/h/anna/"
    assert [a["id"] for a in anna["open_alerts"]] == [fleet.alert_id] and anna["model_version"]
    assert data["homes"][3]["problems"] == ["No sensor event yet."] and data["homes"][3]["last_activity"] is None
    assert [h["name"] for h in by_name["homes"]] == sorted(name for _, name, _, _ in FLEET)
    assert bad.status_code == 422 and "sort" in bad.text
    rows = re.findall(r'<tr class="home-row" data-home="([a-z]+)" data-status="([a-z_]+)"', page)
    assert rows == [(h, STATUS[h]) for h in ids]
    for label in ("Open alert", "Warning", "Data missing", "No model yet", "All well"):
        assert label in page
    assert 'href="/h/anna/"' in page and 'href="/h/anna/alerts"' in page


def test_each_homes_pages_and_api_are_under_its_id(fleet: Fleet) -> None:
    with serve(fleet.app()) as url, httpx.Client(base_url=url) as client:
        root = client.get("/")
        anna = client.get("/h/anna/").text
        bare = client.get("/h/anna")
        api_anna = client.get("/api/h/anna/now").json()
        api_carl = client.get("/api/h/carl/alerts").json()
        api_dora = client.get("/api/h/dora/now").json()
        today = client.get("/h/anna/today")
    assert root.status_code == 303 and root.headers["location"] == "/homes"  # a service starts at its list
    assert bare.status_code == 303 and bare.headers["location"] == "/h/anna/"
    assert "Anna Berger" in anna and 'href="/homes"' in anna and 'href="/h/anna/today"' in anna
    assert f'action="/h/anna/alerts/{fleet.alert_id}/ack"' in anna
    assert api_anna["home_id"] == "anna" and [a["id"] for a in api_anna["open_alerts"]] == [fleet.alert_id]
    assert api_carl["alerts"][0]["severity"] == "warning"
    assert api_dora["open_alerts"] == [] and api_dora["last_activity"] is None
    assert today.status_code == 200 and 'href="/h/anna/today?day=2026-03-10"' in today.text


def test_an_unknown_home_is_a_404_that_says_so(fleet: Fleet) -> None:
    with serve(fleet.app()) as url, httpx.Client(base_url=url) as client:
        page = client.get("/h/zoe/alerts")
        api = client.get("/api/h/zoe/now")
        ack = client.get("/h/zoe/ack", params={"token": "x"})
    for response in (page, api, ack):
        assert response.status_code == 404 and "no home 'zoe' on this dashboard" in response.json()["detail"]


def test_a_browser_gets_a_page_for_an_unknown_home_and_the_api_stays_json(fleet: Fleet) -> None:
    html = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    with serve(fleet.app()) as url, httpx.Client(base_url=url, headers=html) as client:
        page = client.get("/h/zoe/alerts")
        ack = client.get("/h/zoe/ack", params={"token": "x"})
        api = client.get("/api/h/zoe/now")
    for response in (page, ack):
        assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")
        assert "<h1>Not found</h1>" in response.text and "no home &#39;zoe&#39; on this dashboard" in response.text
        assert 'href="/homes"' in response.text  # the way back
    assert api.status_code == 404 and "no home 'zoe' on this dashboard" in api.json()["detail"]


def test_old_urls_mean_the_home_of_hometwin_home_id(fleet: Fleet) -> None:
    with serve(fleet.app(home_id="carl")) as url, httpx.Client(base_url=url) as client:
        alerts = client.get("/api/alerts").json()
        page = client.get("/alerts").text
    assert alerts["home_id"] == "carl" and alerts["alerts"][0]["severity"] == "warning"
    assert 'href="/today"' in page  # the old URLs keep linking among themselves


def test_ack_link_of_one_home_acknowledges_nothing_in_another(fleet: Fleet) -> None:
    """anna and ben have an alert of the same id: anna's link under ben's address fails its signature."""
    expires = NOW + timedelta(hours=48)
    token = ack_links.sign(fleet.alert_id, expires, ack_links.home_key(ACK_SECRET, "anna"), episode=1)
    with serve(fleet.app(ack_secret=ACK_SECRET, dashboard_token="tok-" + "x" * 28)) as url, \
            httpx.Client(base_url=url) as client:
        other = client.get("/h/ben/ack", params={"token": token})
        forged = client.post("/h/ben/ack", data={"token": token})
        legacy = client.post("/ack", data={"token": token})  # the old path checks the secret itself
        shown = client.get("/h/anna/ack", params={"token": token})
        done = client.post("/h/anna/ack", data={"token": token})
    assert other.status_code == 400 and "not valid" in other.text
    assert forged.status_code == 400 and legacy.status_code == 400
    assert fleet.ports("ben").alerts.pending_acks() == []
    assert shown.status_code == 200 and 'action="/h/anna/ack"' in shown.text and "bathroom" in shown.text
    assert done.status_code == 200 and "The alert is acknowledged" in done.text
    [ack] = fleet.ports("anna").alerts.pending_acks()
    assert (ack.alert_id, ack.by, ack.episode) == (fleet.alert_id, "e-mail link", 1)
    assert fleet.ports("ben").alerts.pending_acks() == []


def test_old_ack_links_keep_acknowledging_the_legacy_home(fleet: Fleet) -> None:
    token = ack_links.sign(fleet.alert_id, NOW + timedelta(hours=48), ACK_SECRET, episode=1)
    with serve(fleet.app(ack_secret=ACK_SECRET, home_id="ben")) as url:
        done = httpx.post(f"{url}/ack", data={"token": token})
        elsewhere = httpx.post(f"{url}/h/anna/ack", data={"token": token})
    assert done.status_code == 200 and "The alert is acknowledged" in done.text
    assert elsewhere.status_code == 400
    assert [a.alert_id for a in fleet.ports("ben").alerts.pending_acks()] == [fleet.alert_id]
    assert fleet.ports("anna").alerts.pending_acks() == []


def test_e_mailed_ack_link_of_a_fleet_home_round_trips(fleet: Fleet, tmp_path: Path) -> None:
    """The actuation's e-mail for ben links to ben's pages, and the link acknowledges ben's alert only."""
    from hometwin.adapters.mail import MaildirMailer
    from hometwin.adapters.stores import open_object_store
    from hometwin.config import MailSettings
    from hometwin.services.home_mail import build_notifiers
    from hometwin.services.homes import Homes

    with serve(fleet.app(ack_secret=ACK_SECRET, dashboard_password="correct horse battery staple")) as url:
        settings = MailSettings(data_dir=tmp_path, public_dashboard_url=url + "/", ack_secret=ACK_SECRET)
        mailer = MaildirMailer(tmp_path / "mail", settings.mail_from)
        notifiers = build_notifiers(Homes(tuple(h.home.model_copy(update={"caregivers": ("c@example.org",)})
                                                for h in fleet.homes)),
                                    mailer, open_object_store(f"file://{tmp_path / 'outbox'}"), settings,
                                    ack_link_lifetime=timedelta(hours=48))
        note = fleet.notifications["ben"]
        assert notifiers.handle({**note.to_event_data(), "home_id": "ben"}, "invocation-1") == "sent"
        [message] = mailer.messages()
        parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
        text = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        link = re.search(r"(http://127\.0\.0\.1:\d+/h/ben/ack\?token=[A-Za-z0-9_.=-]+)", text)
        assert link is not None, text
        assert f"{url}/h/ben" in text  # the dashboard link is ben's page too
        page = httpx.get(link.group(1))
        token = link.group(1).split("token=")[1]
        done = httpx.post(f"{url}/h/ben/ack", data={"token": token})
        wrong = httpx.post(f"{url}/h/anna/ack", data={"token": token})
    assert page.status_code == 200 and "Yes, I am taking care of it" in page.text
    assert done.status_code == 200 and "The alert is acknowledged" in done.text
    assert wrong.status_code == 400
    assert [a.alert_id for a in fleet.ports("ben").alerts.pending_acks()] == [fleet.alert_id]
    assert fleet.ports("anna").alerts.pending_acks() == []


def test_single_home_keeps_todays_urls_and_lists_itself(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    with serve(home.app()) as url, httpx.Client(base_url=url) as client:
        root = client.get("/")
        listed = client.get("/api/homes").json()
        under = client.get("/api/h/home/now")
    assert root.status_code == 200 and 'href="/homes"' not in root.text and 'href="/today"' in root.text
    assert [(h["id"], h["status"], h["url"]) for h in listed["homes"]] == [("home", "alert", "/")]
    assert under.status_code == 200 and under.json()["home_id"] == "home"
