"""The dashboard in a real headless Chromium (Debian's /usr/bin/chromium; no browser is downloaded).

Loads the pages served by real uvicorn, checks that a caregiver sees the current room, the heat
maps and the open alert, clicks "Acknowledge", sees the Trends page's charts fit the screen, and saves
screenshots. With HOMETWIN_UPDATE_SCREENSHOT=1 the "now" page also becomes docs/img/dashboard.png and
the Trends page docs/img/trends-page.png (the README's pictures).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard_helpers import Home, make_trained_home, serve

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium "
                                                     "(`make test` installs it via .ci/system-deps)"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


def test_caregiver_sees_room_heat_maps_and_alert_and_acknowledges(
        browser: Any, tmp_path: Path) -> None:
    home: Home = make_trained_home(tmp_path)
    blocked: list[str] = []
    with serve(home.app()) as url:
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        page = context.new_page()
        # Nothing may be fetched from anywhere but the dashboard itself.
        page.on("request", lambda r: None if r.url.startswith(url) else blocked.append(r.url))

        page.goto(f"{url}/")
        room = page.locator("#current-room")
        assert room.is_visible()
        assert home.expected_room in room.inner_text()
        alert = page.locator("article.alert")
        assert alert.count() == 1 and "bathroom" in alert.inner_text()
        assert "Unusually long stay" in alert.inner_text()
        shot = tmp_path / "dashboard-now.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000

        page.get_by_role("link", name="Routine").click()
        page.wait_for_url(f"{url}/routine")
        heatmaps = page.locator("svg.heatmap")
        assert heatmaps.count() == 2 * len(home.rooms)
        assert heatmaps.first.is_visible()
        box = heatmaps.first.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100
        assert page.locator("svg.heatmap rect title").count() >= 2 * len(home.rooms) * 7 * 24
        page.screenshot(path=str(tmp_path / "dashboard-routine.png"), full_page=True)

        page.get_by_role("link", name="Now").click()
        page.get_by_role("button", name="Acknowledge: I am taking care of it").click()
        page.wait_for_url(f"{url}/?acked={home.alert_id}")
        assert "acknowledged (the monitoring confirms at its next check)" in page.locator(
            "article.alert").inner_text()
        assert page.get_by_role("button", name="Acknowledge: I am taking care of it").count() == 0

        phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
        small = phone.new_page()
        small.goto(f"{url}/")
        # Readable on a phone: no sideways scrolling of the page itself.
        assert small.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        small.screenshot(path=str(tmp_path / "dashboard-phone.png"), full_page=True)
        context.close()
        phone.close()

    [ack] = home.alerts.pending_acks()
    assert ack.alert_id == home.alert_id and ack.by == "dashboard"
    assert blocked == []
    if os.environ.get("HOMETWIN_UPDATE_SCREENSHOT") == "1":
        target = REPO / "docs" / "img" / "dashboard.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)


def test_trends_page_shows_a_chart_per_indicator_that_fits_the_screen(browser: Any, tmp_path: Path) -> None:
    from tests.trend_home import make_trends_home

    # Sixteen simulated weeks; in the last ten nights two more toilet visits each.
    home = make_trends_home(tmp_path, days=112, more_toilet_nights=10)
    blocked: list[str] = []
    with serve(home.app()) as url:
        context = browser.new_context(viewport={"width": 1100, "height": 1400})
        page = context.new_page()
        page.on("request", lambda r: None if r.url.startswith(url) else blocked.append(r.url))
        page.goto(f"{url}/")
        page.get_by_role("link", name="Trends").click()
        page.wait_for_url(f"{url}/trends")

        sentences = page.locator("#trend-changes li")
        assert sentences.count() >= 1
        assert any("goes to the toilet" in t for t in sentences.all_inner_texts())
        charts = page.locator("svg.chart.trend")
        assert charts.count() == 11  # every indicator is measurable in this home
        assert page.locator("svg.chart.trend polygon.band").count() >= 11
        toilet = page.locator("#indicator-night_toilet_visits")
        assert toilet.locator("rect.change-span").count() >= 1 and toilet.locator("line.change").count() >= 1
        for i in range(charts.count()):
            box = charts.nth(i).bounding_box()
            card = page.locator("section.trend-card").nth(i).bounding_box()
            assert box is not None and card is not None
            assert box["width"] > 300 and box["height"] > 100
            assert box["x"] >= card["x"] - 0.5 and box["x"] + box["width"] <= card["x"] + card["width"] + 0.5
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        shot = tmp_path / "trends-page.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000

        phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
        small = phone.new_page()
        small.goto(f"{url}/trends")
        assert small.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        first = small.locator("svg.chart.trend").first.bounding_box()
        assert first is not None and 300 < first["width"] <= 390 and first["height"] > 100
        small.screenshot(path=str(tmp_path / "trends-phone.png"), full_page=True)
        context.close()
        phone.close()
    assert blocked == []
    if os.environ.get("HOMETWIN_UPDATE_SCREENSHOT") == "1":
        target = REPO / "docs" / "img" / "trends-page.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)


def test_service_sees_its_homes_with_open_alerts_first(browser: Any, tmp_path: Path) -> None:
    """The home list of a fleet: every status in words, the homes with an open alert on top, and a
    click leads to that home's own pages."""
    from tests.dashboard_fleet import FLEET, STATUS, make_fleet

    fleet = make_fleet(tmp_path)
    blocked: list[str] = []
    with serve(fleet.app()) as url:
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        page = context.new_page()
        page.on("request", lambda r: None if r.url.startswith(url) else blocked.append(r.url))
        page.goto(f"{url}/")
        page.wait_for_url(f"{url}/homes")
        rows = page.locator("#homes tbody tr")
        assert rows.count() == len(FLEET)
        order = [rows.nth(i).get_attribute("data-home") for i in range(rows.count())]
        assert [STATUS[h or ""] for h in order[:2]] == ["alert", "alert"]
        assert "Open alert" in rows.first.inner_text() and "Anna Berger" in rows.first.inner_text()
        labels = {"alert": "Open alert", "warning": "Warning", "data_missing": "Data missing",
                  "no_model": "No model yet", "well": "All well"}
        for i, home_id in enumerate(order):
            badge = rows.nth(i).locator("span.state")
            assert badge.is_visible() and badge.inner_text() == labels[STATUS[home_id or ""]]
        # The alert's badge stands out: white on dark red, not the colour of "all well".
        alert_bg = rows.first.locator("span.state").evaluate("e => getComputedStyle(e).backgroundColor")
        well_bg = rows.last.locator("span.state").evaluate("e => getComputedStyle(e).backgroundColor")
        assert alert_bg == "rgb(139, 0, 24)" and alert_bg != well_bg
        shot = tmp_path / "homes.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000

        page.get_by_role("link", name="name").click()
        page.wait_for_url(f"{url}/homes?sort=name")
        names = [page.locator("#homes tbody tr th a").nth(i).inner_text() for i in range(len(FLEET))]
        assert names == sorted(name for _, name, _, _ in FLEET)

        # A nurse finds a client: by status, by a part of the name, and page by page.
        page.locator("#home-filter select[name=status]").select_option("alert")
        page.locator("#home-filter button").click()
        page.wait_for_url(f"{url}/homes?sort=name&q=&status=alert")
        assert [rows.nth(i).get_attribute("data-home") for i in range(rows.count())] == ["anna", "ben"]
        page.locator("#home-filter select[name=status]").select_option("")
        page.locator("#home-filter input[name=q]").fill("wag")
        page.locator("#home-filter button").click()
        page.wait_for_url(f"{url}/homes?sort=name&q=wag&status=")
        assert rows.count() == 1 and "Fred Wagner" in rows.first.inner_text()
        page.get_by_role("link", name="all homes", exact=True).click()
        page.wait_for_url(f"{url}/homes?sort=name")
        assert rows.count() == len(FLEET)
        page.goto(f"{url}/homes?limit=4")
        assert [rows.nth(i).get_attribute("data-home") for i in range(rows.count())] == order[:4]
        page.locator("#home-pages").get_by_role("link", name="next").click()
        page.wait_for_url(f"{url}/homes?sort=status&page=2&limit=4")
        assert [rows.nth(i).get_attribute("data-home") for i in range(rows.count())] == order[4:]
        assert "page 2 of 2" in page.locator("#home-pages").inner_text()
        page.goto(f"{url}/homes")

        page.get_by_role("link", name="Anna Berger").click()
        page.wait_for_url(f"{url}/h/anna/")
        assert page.locator("article.alert").count() == 1 and "bathroom" in page.locator("article.alert").inner_text()
        page.get_by_role("link", name="Alerts").click()
        page.wait_for_url(f"{url}/h/anna/alerts")
        page.get_by_role("link", name="All homes").click()
        page.wait_for_url(f"{url}/homes")

        phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
        small = phone.new_page()
        small.goto(f"{url}/homes")
        assert small.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        assert small.locator("#homes tbody tr").first.locator("span.state").is_visible()
        small.screenshot(path=str(tmp_path / "homes-phone.png"), full_page=True)
        context.close()
        phone.close()
    assert blocked == []
    if os.environ.get("HOMETWIN_UPDATE_SCREENSHOT") == "1":
        target = REPO / "docs" / "img" / "homes.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)
