"""Login, sessions, CSRF and the e-mail acknowledge link, over real HTTP (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from hometwin.components.dashboard.auth import SessionSigner, safe_next
from hometwin.domain import ack_links
from tests.dashboard_helpers import NOW, Home, make_home, serve

TOKEN = "tok-" + "x" * 28
PASSWORD = "correct horse battery staple"
ACK_SECRET = "ack-secret-" + "y" * 21


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return make_home(tmp_path)


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert match, "the page has no CSRF field"
    return match.group(1)


def test_open_dashboard_acknowledges_with_the_form_and_refuses_forged_posts(home: Home) -> None:
    with serve(home.app()) as url, httpx.Client(base_url=url) as client:
        page = client.get("/")
        assert page.status_code == 200 and "Acknowledge" in page.text
        assert page.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        # Another site can post the form but cannot know the CSRF token of this browser's session.
        forged = client.post(f"/alerts/{home.alert_id}/ack", data={"csrf": "0" * 32})
        assert forged.status_code == 403
        assert home.alerts.pending_acks() == []
        ok = client.post(f"/alerts/{home.alert_id}/ack", data={"csrf": _csrf(page.text), "next": "/"})
        assert ok.status_code == 303 and ok.headers["location"] == f"/?acked={home.alert_id}"
    [ack] = home.alerts.pending_acks()
    assert (ack.alert_id, ack.by) == (home.alert_id, "dashboard")


def test_token_protects_pages_and_api(home: Home) -> None:
    with serve(home.app(dashboard_token=TOKEN)) as url, httpx.Client(base_url=url) as client:
        page = client.get("/routine?x=1")
        assert page.status_code == 303 and page.headers["location"] == "/login?next=/routine%3Fx%3D1"
        api = client.get("/api/now")
        assert api.status_code == 401 and api.headers["www-authenticate"] == "Bearer"
        assert "bathroom" not in api.text
        assert client.get("/api/now", headers={"Authorization": "Bearer wrong"}).status_code == 401
        good = client.get("/api/now", headers={"Authorization": f"Bearer {TOKEN}"})
        assert good.status_code == 200 and good.json()["open_alerts"][0]["room"] == "bathroom"
        assert client.get("/healthz").status_code == 200
        assert client.get("/static/dashboard.css").status_code == 200
        ack = client.post(f"/api/alerts/{home.alert_id}/ack", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ack.status_code == 200 and ack.json()["acknowledged"] is True
        again = client.post(f"/api/alerts/{home.alert_id}/ack", headers={"Authorization": f"Bearer {TOKEN}"})
        assert again.json()["acknowledged"] is False and "already" in again.json()["detail"]
    assert [a.by for a in home.alerts.pending_acks()] == ["dashboard (token)"]


def test_password_login_session_and_logout(home: Home, tmp_path: Path) -> None:
    secret_file = tmp_path / "password"
    secret_file.write_text(PASSWORD + "\n")
    with serve(home.app(dashboard_password_file=secret_file)) as url, httpx.Client(base_url=url) as client:
        login = client.get("/login?next=/alerts")
        assert login.status_code == 200 and 'type="password"' in login.text and "<label" in login.text
        wrong = client.post("/login", data={"secret": "guess", "next": "/alerts"})
        assert wrong.status_code == 401 and "did not match" in wrong.text
        assert client.get("/alerts").status_code == 303
        right = client.post("/login", data={"secret": PASSWORD, "next": "/alerts"})
        assert right.status_code == 303 and right.headers["location"] == "/alerts"
        assert "httponly" in right.headers["set-cookie"].lower()
        alerts = client.get("/alerts")
        assert alerts.status_code == 200 and "In the bathroom for 1 h" in alerts.text
        # The session cookie alone is not enough for the JSON API's writes: CSRF header needed.
        no_csrf = client.post(f"/api/alerts/{home.alert_id}/ack")
        assert no_csrf.status_code == 403
        with_csrf = client.post(f"/api/alerts/{home.alert_id}/ack",
                                headers={"X-CSRF-Token": _csrf(alerts.text)})
        assert with_csrf.status_code == 200 and with_csrf.json()["by"] == "dashboard (caregiver)"
        out = client.post("/logout", data={"csrf": _csrf(alerts.text)})
        assert out.status_code == 303
        assert client.get("/alerts").status_code == 303


def test_tampered_or_expired_session_is_refused() -> None:
    signer = SessionSigner(b"k" * 32, max_age_s=60)
    session = signer.new("caregiver", now=1000.0)
    cookie = signer.dump(session)
    assert signer.load(cookie, now=1010.0) == session
    assert signer.load(cookie, now=1061.0) is None
    payload, mac = cookie.rsplit(".", 1)
    forged = signer.dump(signer.new("admin", now=1000.0)).rsplit(".", 1)[0] + "." + mac
    assert signer.load(forged, now=1010.0) is None
    assert signer.load(payload + "." + "0" * 64, now=1010.0) is None
    assert signer.load("garbage", now=1010.0) is None
    assert SessionSigner(b"other-key-" * 4, 60).load(cookie, now=1010.0) is None
    with pytest.raises(ValueError):
        SessionSigner(b"short", 60)


@pytest.mark.parametrize(("target", "expected"), [("/alerts?x=1", "/alerts?x=1"), ("//evil.example", "/"),
                                                  ("https://evil.example/", "/"), ("alerts", "/"), ("", "/")])
def test_login_redirects_only_to_this_site(target: str, expected: str) -> None:
    assert safe_next(target) == expected


def test_email_link_shows_a_confirm_page_and_acknowledges_on_post(home: Home) -> None:
    token = ack_links.sign(home.alert_id, NOW + timedelta(hours=24), ACK_SECRET)
    # The link works without a login: its signature is the authorisation.
    with serve(home.app(ack_secret=ACK_SECRET, dashboard_token=TOKEN)) as url, \
            httpx.Client(base_url=url) as client:
        confirm = client.get(f"/ack?token={token}")
        assert confirm.status_code == 200
        assert 'method="post" action="/ack"' in confirm.text and "bathroom" in confirm.text
        assert home.alerts.pending_acks() == []  # a mail scanner's GET acknowledges nothing
        done = client.post("/ack", data={"token": token})
        assert done.status_code == 200 and "acknowledged" in done.text
        forged = client.get(f"/ack?token={token[:-2]}xx")
        assert forged.status_code == 400 and "not valid" in forged.text
        other = ack_links.sign(home.alert_id, NOW + timedelta(hours=1), "another-secret-" + "z" * 10)
        assert client.post("/ack", data={"token": other}).status_code == 400
    [ack] = home.alerts.pending_acks()
    assert (ack.alert_id, ack.by) == (home.alert_id, "e-mail link")


def test_expired_email_link_is_refused(home: Home) -> None:
    token = ack_links.sign(home.alert_id, NOW - timedelta(seconds=1), ACK_SECRET)
    with serve(home.app(ack_secret=ACK_SECRET)) as url, httpx.Client(base_url=url) as client:
        page = client.post("/ack", data={"token": token})
    assert page.status_code == 400 and "expired" in page.text
    assert home.alerts.pending_acks() == []


def test_email_link_without_a_configured_secret_says_why(home: Home) -> None:
    token = ack_links.sign(home.alert_id, NOW + timedelta(hours=1), ACK_SECRET)
    with serve(home.app()) as url:
        page = httpx.get(f"{url}/ack?token={token}")
    assert page.status_code == 400 and "HOMETWIN_ACK_SECRET" in page.text


def test_failed_login_is_slowed_down(home: Home) -> None:
    with serve(home.app(dashboard_token=TOKEN)) as url:
        start = time.monotonic()
        assert httpx.post(f"{url}/login", data={"secret": "nope"}).status_code == 401
    assert time.monotonic() - start >= 0.9
