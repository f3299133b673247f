"""Login, sessions, CSRF, guessing limits, secret strength and the e-mail acknowledge link, over real
HTTP (uvicorn on 127.0.0.1; other loopback addresses play other machines)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from hometwin.components.dashboard.auth import COOKIE, SessionSigner, safe_next
from hometwin.components.dashboard.login_throttle import LoginThrottle, client_key
from hometwin.components.dashboard.revocations import RevokedSessions
from hometwin.config import DashboardSettings
from hometwin.domain import ack_links
from tests.dashboard_helpers import NOW, Home, make_home, serve

SRC = Path(__file__).resolve().parents[2] / "src"

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
        # A page's form that has expired tells a browser so on a page, not in JSON.
        stale = client.post(f"/alerts/{home.alert_id}/ack", data={"csrf": "stale", "next": "/alerts"},
                            headers={"accept": "text/html"})
        assert stale.status_code == 403 and "<h1>Not allowed</h1>" in stale.text and "form has expired" in stale.text
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


# -- guessing: the login throttle ----------------------------------------------------------------

def _from(address: str, url: str) -> httpx.Client:
    """A client at another loopback address: to the server, a different machine."""
    return httpx.Client(base_url=url, transport=httpx.HTTPTransport(local_address=address))


def _in_parallel(*calls: Callable[[], httpx.Response]) -> list[httpx.Response]:
    # Wrong logins wait a second each; sent together they cost one second, as a guesser would send them.
    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result() for f in [pool.submit(call) for call in calls]]


def test_a_guessing_client_gets_429_and_another_client_still_logs_in(home: Home) -> None:
    app = home.app(dashboard_password=PASSWORD, dashboard_login_failures=3)
    with serve(app) as url, _from("127.0.0.2", url) as guesser, _from("127.0.0.3", url) as caregiver:
        guesses = _in_parallel(*[lambda i=i: guesser.post("/login", data={"secret": f"guess {i}"})
                                 for i in range(3)])
        assert [r.status_code for r in guesses] == [401, 401, 401]
        blocked = guesser.post("/login", data={"secret": "guess 4"})
        assert blocked.status_code == 429 and "Too many wrong attempts" in blocked.text
        assert 0 < int(blocked.headers["retry-after"]) <= 15 * 60
        # Blocked means blocked: even the right secret is not tried until the window has passed.
        assert guesser.post("/login", data={"secret": PASSWORD}).status_code == 429
        assert guesser.get("/api/now", headers={"Authorization": "Bearer x"}).status_code == 429
        # Somebody else's failures do not lock the caregiver out.
        ok = caregiver.post("/login", data={"secret": PASSWORD, "next": "/alerts"})
        assert ok.status_code == 303 and ok.headers["location"] == "/alerts"
        assert caregiver.get("/alerts").status_code == 200


def test_many_guessing_clients_hit_the_global_limit_but_sessions_keep_working(home: Home) -> None:
    app = home.app(dashboard_password=PASSWORD, dashboard_login_failures=3, dashboard_login_failures_total=4)
    with serve(app) as url, _from("127.0.0.9", url) as caregiver:
        assert caregiver.post("/login", data={"secret": PASSWORD}).status_code == 303
        guessers = [_from(f"127.0.0.{n}", url) for n in range(2, 6)]
        try:
            wrong = _in_parallel(*[lambda c=c: c.post("/login", data={"secret": "guess"}) for c in guessers])
            assert [r.status_code for r in wrong] == [401] * 4  # each client is below its own limit
        finally:
            for client in guessers:
                client.close()
        with _from("127.0.0.6", url) as newcomer:
            late = newcomer.post("/login", data={"secret": PASSWORD})
            assert late.status_code == 429 and int(late.headers["retry-after"]) > 0
        assert caregiver.get("/alerts").status_code == 200  # already logged in: unaffected


def test_wrong_bearer_tokens_count_as_guesses(home: Home) -> None:
    with serve(home.app(dashboard_token=TOKEN, dashboard_login_failures=2)) as url, \
            _from("127.0.0.2", url) as guesser, _from("127.0.0.3", url) as script:
        for _ in range(2):
            assert guesser.get("/api/now", headers={"Authorization": "Bearer wrong"}).status_code == 401
        refused = guesser.get("/api/now", headers={"Authorization": f"Bearer {TOKEN}"})
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
        assert script.get("/api/now", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


class FakeClock:
    """A seam, not a mock: the throttle's window is minutes long, the test must not wait for it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_window_slides_and_memory_stays_bounded() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(per_client=2, overall=1000, window_s=600, max_clients=50, clock=clock)
    throttle.failed("a")
    clock.now += 100
    throttle.failed("a")
    assert throttle.retry_after("a") == 500  # until the first failure leaves the window
    clock.now += 500
    assert throttle.retry_after("a") == 0
    throttle.failed("a")
    assert throttle.retry_after("a") == 100
    throttle.succeeded("a")
    assert throttle.retry_after("a") == 0
    for n in range(10_000):  # a guesser with many addresses cannot grow the table
        throttle.failed(f"10.0.{n // 256}.{n % 256}")
    assert throttle.clients_remembered == 50
    assert throttle.retry_after("someone else") == 600  # ... but trips the global limit instead
    clock.now += 601
    assert throttle.retry_after("someone else") == 0
    throttle.failed("b")
    assert throttle.clients_remembered == 1  # expired clients are dropped


@pytest.mark.parametrize(("host", "key"), [("192.0.2.7", "192.0.2.7"), ("::ffff:192.0.2.7", "192.0.2.7"),
                                           ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"), (None, "unknown")])
def test_a_client_is_an_address_or_an_ipv6_64(host: str | None, key: str) -> None:
    assert client_key(host) == key


# -- secrets that are not secret ---------------------------------------------------------------

@pytest.mark.parametrize("setting", ["DASHBOARD_TOKEN", "DASHBOARD_PASSWORD", "DASHBOARD_SESSION_SECRET",
                                     "ACK_SECRET"])
@pytest.mark.parametrize("value", ["REPLACE_ME", "replace-me-with-a-long-random-value", "change-me",
                                   "ChangeMe", "password", "PASSWORD123456789", "secret", "admin",
                                   "adminadminadminadminadminadmin"])
def test_placeholder_secrets_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, setting: str,
                                         value: str) -> None:
    monkeypatch.setenv(f"HOMETWIN_{setting}", value)
    with pytest.raises(ValidationError) as refused:
        DashboardSettings(data_dir=tmp_path)
    message = str(refused.value)
    assert f"HOMETWIN_{setting} " in message
    assert "input_value" not in message and repr(value) not in message  # a refused secret is not logged


@pytest.mark.parametrize(("field", "minimum"), [("dashboard_token", 24), ("dashboard_password", 15),
                                                ("dashboard_session_secret", 32), ("ack_secret", 16)])
def test_short_secrets_are_refused(tmp_path: Path, field: str, minimum: int) -> None:
    good = "Ab3-" + "q7Zx" * 10
    DashboardSettings(data_dir=tmp_path, **{field: good[:minimum]})
    with pytest.raises(ValidationError, match=f"HOMETWIN_{field.upper()} is {minimum - 1} characters long"):
        DashboardSettings(data_dir=tmp_path, **{field: good[:minimum - 1]})


def test_a_placeholder_in_a_secret_file_names_the_file(tmp_path: Path) -> None:
    mounted = tmp_path / "dashboard-token"
    mounted.write_text("REPLACE_ME\n")  # the committed secrets.env.example, applied unchanged
    with pytest.raises(ValidationError, match=f"HOMETWIN_DASHBOARD_TOKEN_FILE \\({mounted}\\) is still a"):
        DashboardSettings(data_dir=tmp_path, dashboard_token_file=mounted)


def test_the_dashboard_refuses_to_start_with_a_clear_message(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC), "HOMETWIN_DATA_DIR": str(tmp_path),
           "HOMETWIN_DASHBOARD_PASSWORD": "changeme"}
    done = subprocess.run([sys.executable, "-m", "hometwin", "component", "dashboard", "--port", "1"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "HOMETWIN_DASHBOARD_PASSWORD is still a placeholder" in done.stderr
    assert "Traceback" not in done.stderr and "changeme" not in done.stderr


# -- logout ends the session on the server -------------------------------------------------------

def _cookie(response: httpx.Response) -> str:
    match = re.search(rf"{COOKIE}=([^;]+)", response.headers["set-cookie"])
    assert match, response.headers.get("set-cookie")
    return match.group(1)


def test_a_session_cookie_copied_before_logout_opens_nothing_after_it(home: Home) -> None:
    with serve(home.app(dashboard_password=PASSWORD)) as url, httpx.Client(base_url=url) as browser:
        stolen = _cookie(browser.post("/login", data={"secret": PASSWORD}))
        alerts = browser.get("/alerts")
        assert alerts.status_code == 200
        assert browser.post("/logout", data={"csrf": _csrf(alerts.text)}).status_code == 303
        with httpx.Client(base_url=url, cookies={COOKIE: stolen}) as thief:
            assert thief.get("/alerts").status_code == 303
            assert thief.get("/api/now").status_code == 401
    assert not (home.tmp / "dashboard").exists()  # a random session key dies with the process: no file


def test_logouts_survive_a_restart_and_a_lost_record_logs_everyone_out(home: Home) -> None:
    settings = {"dashboard_password": PASSWORD, "dashboard_session_secret": "k3y-" + "s" * 20 + "0123456789ab"}
    with serve(home.app(**settings)) as url, httpx.Client(base_url=url) as browser:
        kept = _cookie(browser.post("/login", data={"secret": PASSWORD}))
        ended = _cookie(browser.post("/login", data={"secret": PASSWORD}))
        page = browser.get("/alerts")
        assert browser.post("/logout", data={"csrf": _csrf(page.text)}).status_code == 303

    def status_after_restart(cookie: str) -> int:
        with serve(home.app(**settings)) as url, httpx.Client(base_url=url, cookies={COOKIE: cookie}) as client:
            return client.get("/alerts").status_code

    assert status_after_restart(kept) == 200
    assert status_after_restart(ended) == 303
    for record in (home.tmp / "dashboard").glob("logouts-*.json"):
        record.unlink()  # e.g. a new pod with an empty /tmp: no way to know who logged out
    assert status_after_restart(kept) == 303


def test_the_logout_record_is_bounded_and_a_broken_one_logs_everyone_out(tmp_path: Path) -> None:
    record = tmp_path / "logouts.json"
    logouts = RevokedSessions(record, limit=3, now=1000.0)
    logouts.revoke("old", expires=1150.0, now=1100.0)
    for n in range(3):  # "old" has expired by now and is dropped, so three live ones fit
        logouts.revoke(f"n{n}", expires=2000.0, now=1200.0)
    assert logouts.revoked("n0", issued=1050.0) and not logouts.revoked("other", issued=1050.0)
    assert RevokedSessions(record).revoked("n2", issued=1050.0)  # kept on disk
    logouts.revoke("n3", expires=2000.0, now=1300.0)  # a fourth: everyone out rather than forget one
    assert logouts.not_before == 1300.0 and logouts.revoked("other", issued=1250.0)
    assert not logouts.revoked("other", issued=1300.0)
    record.write_text("{not json")
    assert RevokedSessions(record, now=5000.0).revoked("other", issued=4999.0)


# -- the Secure flag -------------------------------------------------------------------------------

@pytest.mark.parametrize(("setting", "address", "headers", "secure"), [
    (None, "127.0.0.1", {}, False),                                    # the demo on this machine
    (None, "127.0.0.1", {"Host": "localhost"}, False),
    (None, "127.0.0.1", {"Host": "care.example.org"}, True),           # a real name: behind a proxy
    (None, "127.0.0.1", {"Host": "192.168.1.20:8000"}, True),          # the home network
    (None, "127.0.0.1", {"X-Forwarded-Proto": "https"}, True),         # a proxy uvicorn trusts
    (None, "127.0.0.2", {"X-Forwarded-Proto": "https"}, False),        # ... and one it does not
    (False, "127.0.0.1", {"Host": "192.168.1.20:8000"}, False),        # plain HTTP at home, on purpose
    (True, "127.0.0.1", {}, True),
])
def test_cookie_is_secure_unless_served_on_localhost(home: Home, setting: bool | None, address: str,
                                                     headers: dict[str, str], secure: bool) -> None:
    with serve(home.app(dashboard_password=PASSWORD, dashboard_secure_cookie=setting)) as url, \
            _from(address, url) as client:
        page = client.get("/login", headers=headers)
        login = client.post("/login", data={"secret": PASSWORD}, headers=headers)
    assert login.status_code == 303
    for response in (page, login):  # the login and the anonymous (CSRF) session alike
        flags = [part.strip().lower() for part in response.headers["set-cookie"].split(";")]
        assert ("secure" in flags) is secure, response.headers["set-cookie"]


def test_email_link_of_an_earlier_episode_acknowledges_nothing(home: Home) -> None:
    from hometwin.domain.alerts import AlertPolicy
    from hometwin.domain.findings import Finding

    book = home.alerts.load()
    finding = Finding.from_dict(book.history()[0].finding.to_dict())
    # No hold before the all clear, so that the second episode begins before NOW.
    policy = AlertPolicy(escalation=("carer@example.org",), clear_after=timedelta(0))
    book.advance([], NOW - timedelta(minutes=4), policy)  # resolved ...
    [again] = book.advance([finding], NOW - timedelta(minutes=3), policy)  # ... and back: episode 2
    home.alerts.save(book)
    old = ack_links.sign(home.alert_id, NOW + timedelta(hours=24), ACK_SECRET, episode=1)
    new = ack_links.sign(home.alert_id, NOW + timedelta(hours=24), ACK_SECRET, episode=again.episode)
    with serve(home.app(ack_secret=ACK_SECRET)) as url, httpx.Client(base_url=url) as client:
        for page in (client.get(f"/ack?token={old}"), client.post("/ack", data={"token": old})):
            assert page.status_code == 400 and "earlier occurrence of this alert, which is over" in page.text
        assert home.alerts.pending_acks() == []
        done = client.post("/ack", data={"token": new})
        assert done.status_code == 200 and "The alert is acknowledged" in done.text
    [ack] = home.alerts.pending_acks()
    assert (ack.alert_id, ack.episode) == (home.alert_id, 2)
