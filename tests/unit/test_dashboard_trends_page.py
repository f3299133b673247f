"""The Trends page and /api/trends over real HTTP, on a simulated home with months of history."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from hometwin.adapters.sources import open_source
from hometwin.domain.indicators import INDICATORS
from tests.dashboard_helpers import Home, serve
from tests.trend_home import make_trends_home

pytestmark = pytest.mark.slow  # simulates twelve weeks of a resident


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    # No kitchen sensor; the last ten nights with two more toilet visits each.
    return make_trends_home(tmp_path_factory.mktemp("trends"), days=84, more_toilet_nights=10,
                            without_rooms=("kitchen",))


def test_trends_page_shows_sentences_charts_and_what_cannot_be_measured(home: Home) -> None:
    with serve(home.app()) as url, httpx.Client(base_url=url, timeout=60) as client:
        page = client.get("/trends")
        data = client.get("/api/trends").json()
        nav = client.get("/").text
    assert page.status_code == 200 and 'href="/trends"' in nav
    html = page.text.replace("&#39;", "'")
    toilet = [c for c in data["changes"] if c["indicator"] == "night_toilet_visits"]
    assert toilet and toilet[0]["direction"] == "up"
    assert toilet[0]["sentence"].startswith("Since ") and "goes to the toilet" in toilet[0]["sentence"]
    # The sentences stand at the top, before the first chart.
    assert html.index(toilet[0]["sentence"]) < html.index('<svg class="chart trend"')
    measurable = [i for i in data["indicators"] if not i["unsupported"]]
    assert html.count('<svg class="chart trend"') == len(measurable) == len(INDICATORS) - 2
    kitchen = {i["key"]: i for i in data["indicators"] if i["key"].startswith("kitchen")}
    assert set(kitchen) == {"kitchen_visits", "kitchen_time"}
    assert all(i["unsupported"] and i["values"] == [] for i in kitchen.values())
    assert html.count("Not measurable in this home: needs a kitchen room.") == 2
    toilet_trend = next(i for i in data["indicators"] if i["key"] == "night_toilet_visits")
    assert len(toilet_trend["days"]) == 8 * 7 and toilet_trend["days"][-1] == "2026-03-29"
    assert any(v is not None for v in toilet_trend["high"])  # the normal band is known
    assert toilet_trend["changes"] and 'class="change-span"' in html


def test_weeks_choose_the_period_and_nonsense_is_refused(home: Home) -> None:
    with serve(home.app()) as url, httpx.Client(base_url=url, timeout=60) as client:
        four = client.get("/api/trends", params={"weeks": 4}).json()
        page = client.get("/trends", params={"weeks": 4})
        bad = client.get("/trends", params={"weeks": 1})
        worse = client.get("/api/trends", params={"weeks": "many"})
    assert {len(i["days"]) for i in four["indicators"] if not i["unsupported"]} == {28}
    assert page.status_code == 200 and "the last 4 weeks" in page.text
    assert bad.status_code == 422 and worse.status_code == 422 and "weeks" in worse.text


def test_trends_need_the_login_like_every_page(home: Home) -> None:
    with serve(home.app(dashboard_token="a-token-for-the-trends-test")) as url, \
            httpx.Client(base_url=url, timeout=60) as client:
        page = client.get("/trends")
        api = client.get("/api/trends")
        good = client.get("/api/trends", headers={"Authorization": "Bearer a-token-for-the-trends-test"})
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/trends"
    assert api.status_code == 401 and "night_toilet" not in api.text
    assert good.status_code == 200 and good.json()["indicators"]


def test_trends_page_says_when_the_sensor_data_is_unavailable(tmp_path: Path, home: Home) -> None:
    broken = tmp_path / "broken.sqlite"
    broken.write_bytes(b"this is not a database" * 100)
    down = Home(open_source(f"sqlite:///{broken}"), home.alerts, home.registry, home.clock, "", tmp_path)
    with serve(down.app()) as url, httpx.Client(base_url=url, timeout=60) as client:
        page = client.get("/trends")
        data = client.get("/api/trends").json()
    assert page.status_code == 200 and "Sensor data is unavailable right now" in page.text
    assert data["status"]["source_ok"] is False and data["indicators"] == []
    assert "No change against" not in page.text  # no all-clear without data


def test_a_home_without_events_has_no_charts_and_no_verdict(tmp_path: Path, home: Home) -> None:
    empty = Home(open_source(f"sqlite:///{tmp_path / 'empty.sqlite'}"), home.alerts, home.registry,
                 home.clock, "", tmp_path)
    with serve(empty.app()) as url, httpx.Client(base_url=url, timeout=60) as client:
        page = client.get("/trends")
    assert page.status_code == 200 and '<svg class="chart trend"' not in page.text
    assert page.text.count("No sensor data in this period.") == len(INDICATORS)
    assert "Not measurable" not in page.text and "No change against" not in page.text
