"""Caregiver accounts that see only their homes (issue 16, item 4): tenant isolation over real HTTP
(uvicorn on 127.0.0.1) by page, API and form, the admin logins, and the accounts file's checks."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from hometwin.components.dashboard.accounts import (
    AccountsFileError,
    hash_password,
    load_accounts,
    main,
    password_matches,
    token_digest,
)
from tests.dashboard_fleet import Fleet, make_fleet
from tests.dashboard_helpers import serve

MARIA = "maria's own long passphrase"
OFFICE = "the office has its own passphrase"
BEN_TOKEN = "ben-family-token-" + "z" * 24
ADMIN_TOKEN = "tok-" + "x" * 28


@pytest.fixture(scope="module")
def hashes() -> dict[str, str]:
    return {"maria": hash_password(MARIA), "office": hash_password(OFFICE)}


@pytest.fixture
def fleet(tmp_path: Path, hashes: dict[str, str]) -> Fleet:
    fleet = make_fleet(tmp_path)
    (tmp_path / "accounts.yaml").write_text(f"""
accounts:
  - name: maria
    password_hash: "{hashes['maria']}"
    homes: [anna]
  - name: ben-family
    token_sha256: "{token_digest(BEN_TOKEN)}"
    homes: [ben]
  - name: office
    password_hash: "{hashes['office']}"
    homes: all
""", encoding="utf-8")
    return fleet


def app(fleet: Fleet, **settings: object):  # type: ignore[no-untyped-def]
    return fleet.app(dashboard_accounts_file=fleet.tmp / "accounts.yaml", dashboard_token=ADMIN_TOKEN,
                     home_id="ben", **settings)


def log_in(client: httpx.Client, account: str, secret: str) -> httpx.Response:
    return client.post("/login", data={"account": account, "secret": secret, "next": "/homes"})


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert match, "the page has no CSRF field"
    return match.group(1)


def test_an_account_sees_its_homes_only_by_page_api_and_form(fleet: Fleet) -> None:
    with serve(app(fleet)) as url, httpx.Client(base_url=url) as client:
        assert log_in(client, "maria", MARIA).headers["location"] == "/homes"
        listed = client.get("/api/homes").json()
        page = client.get("/homes").text
        own = client.get("/h/anna/")
        csrf = _csrf(own.text)
        denied = {path: client.get(path) for path in (
            "/h/ben/", "/h/ben/alerts", "/h/ben/today", "/h/ben/models", "/api/h/ben/now", "/api/h/ben/alerts",
            "/api/h/ben/trends", "/api/h/ben/models", "/api/h/ben/routine",
            "/api/now", "/alerts")}  # the old URLs are ben's (HOMETWIN_HOME_ID) here
        form = client.post(f"/h/ben/alerts/{fleet.alert_id}/ack", data={"csrf": csrf, "next": "/h/ben/"})
        api = client.post(f"/api/h/ben/alerts/{fleet.alert_id}/ack", headers={"X-CSRF-Token": csrf})
        unknown = client.get("/api/h/zoe/now")
        mine = client.post(f"/h/anna/alerts/{fleet.alert_id}/ack", data={"csrf": csrf, "next": "/h/anna/"})
    assert [h["id"] for h in listed["homes"]] == ["anna"] and "Ben Fischer" not in page
    assert own.status_code == 200 and "Anna Berger" in own.text
    for path, response in denied.items():
        assert response.status_code == 404, path
        assert "bathroom" not in response.text and "Ben" not in response.text, path
    # Not yours and does not exist read the same, so an account cannot probe for other homes.
    assert denied["/api/h/ben/now"].json()["detail"].replace("'ben'", "'zoe'") == unknown.json()["detail"]
    assert form.status_code == 404 and api.status_code == 404
    assert fleet.ports("ben").alerts.pending_acks() == []
    assert mine.status_code == 303
    [ack] = fleet.ports("anna").alerts.pending_acks()
    assert ack.by == "dashboard (maria)"


def test_an_accounts_token_reaches_its_home_only(fleet: Fleet) -> None:
    bearer = {"Authorization": f"Bearer {BEN_TOKEN}"}
    with serve(app(fleet)) as url, httpx.Client(base_url=url, headers=bearer) as client:
        listed = client.get("/api/homes").json()
        own = client.get("/api/h/ben/now")
        other = client.get("/api/h/anna/now")
        other_ack = client.post(f"/api/h/anna/alerts/{fleet.alert_id}/ack")
        own_ack = client.post(f"/api/h/ben/alerts/{fleet.alert_id}/ack")
    assert [h["id"] for h in listed["homes"]] == ["ben"]
    assert own.status_code == 200 and own.json()["open_alerts"][0]["id"] == fleet.alert_id
    assert other.status_code == 404 and other_ack.status_code == 404
    assert fleet.ports("anna").alerts.pending_acks() == []
    assert own_ack.status_code == 200 and own_ack.json()["acknowledged"] is True
    assert [a.by for a in fleet.ports("ben").alerts.pending_acks()] == ["dashboard (ben-family)"]


def test_admins_see_every_home(fleet: Fleet) -> None:
    with serve(app(fleet)) as url:
        with httpx.Client(base_url=url) as office:
            log_in(office, "office", OFFICE)
            by_office = [h["id"] for h in office.get("/api/homes").json()["homes"]]
            assert office.get("/h/carl/alerts").status_code == 200
        token = httpx.get(f"{url}/api/homes", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
        anonymous = httpx.get(f"{url}/api/homes")
        anonymous_home = httpx.get(f"{url}/api/h/anna/now")
    assert sorted(by_office) == sorted(h["id"] for h in token["homes"]) == sorted(h.home.id for h in fleet.homes)
    assert anonymous.status_code == 401 and anonymous_home.status_code == 401


def test_wrong_account_passwords_are_refused_and_counted(fleet: Fleet) -> None:
    with serve(app(fleet, dashboard_login_failures=2)) as url, httpx.Client(base_url=url) as client:
        login_page = client.get("/login").text
        wrong = log_in(client, "maria", OFFICE)  # another account's password
        nobody = log_in(client, "zoe", MARIA)
        blocked = log_in(client, "maria", MARIA)
        after = client.get("/api/homes")
    assert 'name="account"' in login_page
    assert wrong.status_code == 401 and nobody.status_code == 401
    assert blocked.status_code == 429 and after.status_code == 401


def test_a_session_of_a_removed_account_opens_nothing(fleet: Fleet, hashes: dict[str, str]) -> None:
    session_secret = "s" * 8 + "e" * 8 + "c" * 8 + "r" * 8 + "et"
    with serve(app(fleet, dashboard_session_secret=session_secret)) as url, httpx.Client(base_url=url) as client:
        log_in(client, "maria", MARIA)
        cookies = dict(client.cookies)
    (fleet.tmp / "accounts.yaml").write_text(f"""
accounts:
  - name: office
    password_hash: "{hashes['office']}"
    homes: all
""", encoding="utf-8")
    with serve(app(fleet, dashboard_session_secret=session_secret)) as url:
        response = httpx.get(f"{url}/api/h/anna/now", cookies=cookies)
    assert response.status_code == 401


def test_password_hashes_verify_and_resist_tampering() -> None:
    stored = hash_password("a passphrase of five words")
    assert stored.startswith("scrypt$16384$8$1$")
    assert password_matches("a passphrase of five words", stored)
    assert not password_matches("a passphrase of five word", stored)
    assert hash_password("same", salt=b"0123456789abcdef") != hash_password("same", salt=b"fedcba9876543210")


@pytest.mark.parametrize(("body", "message"), [
    ("accounts:\n  - name: a\n    password: plain text\n    homes: [anna]\n", "field password: Extra inputs"),
    ("accounts:\n  - name: a\n    password_hash: md5$abc\n    homes: [anna]\n", "not a scrypt hash"),
    ("accounts:\n  - name: a\n    password_hash: scrypt$99999999$8$1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA\n"
     "    homes: [anna]\n", "out of range"),
    (f"accounts:\n  - name: a\n    token_sha256: \"{'0' * 64}\"\n    homes: [zoe]\n", "no home 'zoe'"),
    (f"accounts:\n  - name: a\n    token_sha256: \"{'0' * 64}\"\n", "field homes"),
    ("accounts:\n  - name: a\n    homes: all\n", "give a password_hash, a token_sha256 or both"),
    (f"accounts:\n  - name: a\n    token_sha256: \"{'0' * 64}\"\n    homes: all\n"
     f"  - name: a\n    token_sha256: \"{'1' * 64}\"\n    homes: all\n", "declared twice"),
    ("accounts: []\n", "non-empty"),
    ("accounts: [\n", "not valid YAML"),
])
def test_accounts_file_problems_name_the_account_and_field(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "accounts.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(AccountsFileError, match=re.escape(message)) as caught:
        load_accounts(path, ["anna", "ben"])
    assert str(path) in str(caught.value)


def test_a_bad_accounts_file_stops_the_dashboard_at_start(tmp_path: Path) -> None:
    fleet = make_fleet(tmp_path)
    (tmp_path / "accounts.yaml").write_text("accounts:\n  - name: a\n    homes: [anna]\n", encoding="utf-8")
    with pytest.raises(AccountsFileError, match="account 'a'"):
        fleet.app(dashboard_accounts_file=tmp_path / "accounts.yaml")


def test_the_hash_tool_prints_a_line_to_paste_and_refuses_weak_passwords(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("a passphrase of five words\n"))
    assert main([]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith('password_hash: "scrypt$') and password_matches("a passphrase of five words",
                                                                            line.split('"')[1])
    monkeypatch.setattr("sys.stdin", io.StringIO("password123\n"))
    assert main([]) == 2 and "well-known guess" in capsys.readouterr().err
    assert main(["--token"]) == 0
    token_line, digest_line = capsys.readouterr().out.strip().splitlines()
    assert token_digest(token_line.rsplit(" ", 1)[1]) in digest_line


def test_the_accounts_file_is_read_again_when_it_changes_and_a_broken_one_keeps_the_last(
        fleet: Fleet, hashes: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    path = fleet.tmp / "accounts.yaml"
    original = path.read_text(encoding="utf-8")
    with serve(app(fleet)) as url, httpx.Client(base_url=url) as client:
        assert log_in(client, "maria", MARIA).status_code == 303
        assert client.get("/api/h/ben/now").status_code == 404  # not hers
        # The service grants her ben's home too: no restart needed.
        path.write_text(original.replace("homes: [anna]", "homes: [anna, ben]"), encoding="utf-8")
        assert client.get("/api/h/ben/now").status_code == 200
        # A slip while editing: the last good accounts stay in force, and the log says why.
        path.write_text("accounts: [this is not, an account]\n", encoding="utf-8")
        assert client.get("/api/h/ben/now").status_code == 200
        assert any("accounts file" in r.getMessage() and "stay in force" in r.getMessage() for r in caplog.records)
        # Removed from the file: her session opens nothing any more.
        path.write_text(original.replace("  - name: maria", "  - name: maria-left"), encoding="utf-8")
        assert client.get("/api/h/anna/now").status_code == 401
