"""`hometwin demo`, as a newcomer runs it, seen through a real headless Chromium.

The demo runs as its own process (history, training through the scheduler, a fall in accelerated
time); the test waits for the alert e-mail, then loads the running demo's dashboard and checks
that the current room, the heat maps and the open alert are shown. SIGTERM must stop every child.
"""

from __future__ import annotations

import mailbox
import os
import re
import shutil
import sys
from pathlib import Path

import httpx
import pytest

from hometwin.launcher import ChildProcess
from tests.servers import wait_until

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.slow


def _children_of(pid: int) -> list[int]:
    out = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        match = re.search(r"^PPid:\s+(\d+)$", text, re.M)
        if match and int(match.group(1)) == pid:
            out.append(int(status.parent.name))
    return out


def test_demo_shows_the_fall_on_the_dashboard_and_stops_cleanly(tmp_path: Path) -> None:
    demo = ChildProcess([sys.executable, "-m", "hometwin", "demo", "--dir", str(tmp_path), "--speed", "120",
                         "--history-days", "14", "--inject-after", "0.5", "--duration", "400"],
                        tmp_path / "demo.log", {"COLUMNS": "200"}).start()
    try:
        wait_until(lambda: "Dashboard: http" in demo.log.read_text(), timeout=120, what="the demo to start")
        url = re.search(r"Dashboard: (http://127\.0\.0\.1:\d+)", demo.log.read_text()).group(1)
        maildir = next(tmp_path.glob("run-*")) / "mail"
        wait_until(lambda: maildir.exists() and len(mailbox.Maildir(str(maildir), create=False)) >= 1,
                   timeout=240, what=f"the alert e-mail\n{demo.tail()}")
        _check_the_first_email_is_about_the_fall(demo.log.read_text(), maildir)
        alerts = httpx.get(f"{url}/api/alerts", timeout=10).json()
        assert "open" in str(alerts)
        mail = httpx.get(f"{url}/api/mail", timeout=10)  # the demo's mail drop, shown by the dashboard
        assert mail.status_code == 200 and "EMERGENCY" in mail.text.upper(), mail.text[:500]
        # The demo generated a dispatch secret: its components refuse an invocation nobody signed.
        logs = next(tmp_path.glob("run-*")) / "logs"
        for part, function in (("actuation", "send_emergency_email"), ("modeling", "train_occupancy_model")):
            address = re.search(r"will call this component at (http://\S+)", (logs / f"{part}.log").read_text())
            assert address, f"{part} logged no callback address"
            assert httpx.post(f"{address.group(1)}/api/{function}", json={}, timeout=10).status_code == 401
        children = _children_of(demo.pid)
        assert len(children) >= 6, f"expected smtp, scheduler and four components, got {children}"
        if CHROMIUM.exists():
            _check_in_browser(url, tmp_path)
    finally:
        demo.stop(timeout=30)
    leftovers = [pid for pid in children if Path(f"/proc/{pid}").exists()
                 and "zombie" not in Path(f"/proc/{pid}/status").read_text()]
    assert not leftovers, f"demo left processes behind: {leftovers}"
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium: the browser part was not run "
                    "(`make test` installs it via .ci/system-deps)")


def _check_the_first_email_is_about_the_fall(log: str, maildir: Path) -> None:
    """The demo exists to show its fall: an e-mail before it, or about another room, is a false alarm
    that a newcomer would take for the demo's point."""
    planned = re.search(r"At (\d\d:\d\d) simulated\s+time .*? the person\s+falls\s+in\s+the\s+(\w+)\.", log, re.S)
    assert planned, f"the demo did not say when and where the person falls:\n{log[-2000:]}"
    fall_at, room = planned.groups()
    mails = sorted(mailbox.Maildir(str(maildir), create=False), key=_checked_at)
    for mail in mails:  # the demo runs within one simulated day, so clock times compare
        assert _checked_at(mail) >= fall_at, f"e-mail before the fall at {fall_at}: {mail['Subject']}"
    assert f"EMERGENCY in the {room}" in mails[0]["Subject"], (fall_at, room, mails[0]["Subject"])


def _checked_at(mail: mailbox.MaildirMessage) -> str:
    """The simulated time of the check that sent the e-mail ("Checked: Mon 07 Dec 2026, 14:07 CET", or
    "confirmed ..." in an all clear)."""
    body = next(part for part in mail.walk() if part.get_content_type() == "text/plain")
    text = body.get_payload(decode=True).decode()
    checked = re.search(r"(?:Checked:\s+|confirmed )\w+ \d+ \w+ \d+, (\d\d:\d\d)", text)
    assert checked, text[:1000]
    return checked.group(1)


def _check_in_browser(url: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_context(viewport={"width": 1100, "height": 900}).new_page()
        page.goto(f"{url}/")
        assert page.locator("#current-room").is_visible()
        alert = page.locator("article.alert")
        assert alert.count() >= 1, page.content()[:2000]
        assert "EMERGENCY" in alert.first.inner_text().upper()
        page.screenshot(path=str(tmp_path / "demo-now.png"), full_page=True)
        if os.environ.get("HOMETWIN_UPDATE_SCREENSHOT") == "1":
            shutil.copy(tmp_path / "demo-now.png", REPO / "docs" / "img" / "demo-now.png")
        page.goto(f"{url}/routine")
        assert page.locator("svg.heatmap").count() >= 2 * 5  # visits and duration, five rooms
        page.screenshot(path=str(tmp_path / "demo-routine.png"), full_page=True)
        if os.environ.get("HOMETWIN_UPDATE_SCREENSHOT") == "1":
            shutil.copy(tmp_path / "demo-routine.png", REPO / "docs" / "img" / "demo-routine.png")
        browser.close()
