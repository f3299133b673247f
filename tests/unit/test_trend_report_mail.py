"""The weekly e-mail's trends: the digest the modeling puts into the report event, the PNG charts,
the rendered text and HTML, the inline images in the MIME message, and the outbox keeping them.

The real SMTP server's view is in tests/contract/test_report_mail.py.
"""

from __future__ import annotations

import copy
import email
import email.policy
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hometwin.adapters.mail import MaildirMailer, build_mime
from hometwin.adapters.sources import open_source
from hometwin.adapters.stores import open_object_store
from hometwin.components.modeling import report_trends
from hometwin.config import MailSettings
from hometwin.domain.change import ChangeParams, track_indicator, trend_report_from_events
from hometwin.domain.indicators import SPECS
from hometwin.ports import EmailMessage, InlineImage
from hometwin.services.errors import InvalidNotification
from hometwin.services.messages import MailRenderer
from hometwin.services.outbox import FlushReport, Notifier
from hometwin.services.trend_digest import history_days, last_weeks, read_trend_digest, trend_digest
from hometwin.services.trend_images import trend_png, trends_png
from tests.trend_home import TZ, trend_events

PNG = b"\x89PNG\r\n\x1a\n"
CAREGIVERS = ["anna@example.org", "ben@example.org"]


@pytest.fixture(scope="module")
def digest() -> dict[str, Any]:
    """Twelve simulated weeks without a kitchen sensor; more toilet visits in the last ten nights."""
    events, now = trend_events(84, more_toilet_nights=10, without_rooms=("kitchen",))
    return json.loads(json.dumps(trend_digest(trend_report_from_events(events, tz=TZ, now=now))))


# -- the digest -------------------------------------------------------------------------------------

def test_digest_holds_eight_weeks_and_reads_back_the_same(digest: dict[str, Any]) -> None:
    report = read_trend_digest(digest)
    assert len(digest["days"]) == 56 and len(json.dumps(digest)) < 40_000  # far below the scheduler's 1 MB
    toilet = report.trend("night_toilet_visits")
    assert toilet.days[-1] == date(2026, 3, 29) and len(toilet.days) == 56
    original = next(t for t in digest["trends"] if t["indicator"] == "night_toilet_visits")
    assert [None if np.isnan(v) else v for v in toilet.values] == original["values"]
    [change] = [c for c in report.recent_changes(14) if c.indicator == "night_toilet_visits"]
    assert change.direction == "up" and change.to_dict() == original["changes"][-1]
    assert report.trend("kitchen_visits").unsupported and np.isnan(report.trend("kitchen_visits").values).all()


@pytest.mark.parametrize(("damage", "says"), [
    (lambda d: d.pop("version"), "version"),
    (lambda d: d.update(tz="Mars/Olympus"), "time zone"),
    (lambda d: d["trends"][0]["values"].pop(), "trends.0.values has 55 values for 56 days"),
    (lambda d: d["days"].reverse(), "consecutive"),
    (lambda d: d["trends"][0].update(values="many"), "trends.0.values"),
    (lambda d: d["trends"][0]["changes"].append({"indicator": "x", "direction": "sideways"}), "direction"),
    (lambda d: d["trends"][1]["values"].__setitem__(3, float("inf")), "trends.1.values.3"),
    (lambda d: d["trends"][1]["high"].__setitem__(3, 1e300), "trends.1.high.3"),
])
def test_a_damaged_digest_is_refused_naming_what_is_wrong(digest: dict[str, Any], damage: Any, says: str) -> None:
    broken = copy.deepcopy(digest)
    damage(broken)
    with pytest.raises(InvalidNotification, match=says):
        read_trend_digest(broken)


def test_an_indicator_of_a_newer_version_is_left_out(digest: dict[str, Any]) -> None:
    newer = copy.deepcopy(digest)
    newer["trends"].append({**newer["trends"][0], "indicator": "stairs_per_day", "changes": []})
    assert [t.spec.key for t in read_trend_digest(newer).trends] == [t["indicator"] for t in digest["trends"]]


def test_the_modeling_reads_the_older_history_the_first_charted_weeks_need(tmp_path: Path) -> None:
    events, now = trend_events(84)
    source = open_source(f"sqlite:///{tmp_path / 'events.sqlite'}")
    source.append(events)  # type: ignore[attr-defined]
    start = now - timedelta(days=56)  # the training window
    assert history_days() == 56 + ChangeParams().window_days
    trained_on = [e for e in events if e.time >= start]
    digest = report_trends(source, trained_on, start, now, tz=TZ)
    assert digest is not None and len(digest["days"]) == 56
    time_in_bed = next(t for t in digest["trends"] if t["indicator"] == "time_in_bed")
    # With the 28 older days, the band is known from the first charted day on; without, it is not.
    assert time_in_bed["high"][0] is not None
    alone = report_trends(open_source("memory://"), trained_on, start, now, tz=TZ)
    assert alone is not None
    assert next(t for t in alone["trends"] if t["indicator"] == "time_in_bed")["high"][0] is None


def test_a_long_training_window_charts_what_the_dashboard_charts(tmp_path: Path) -> None:
    """A home-year's training reports the trends of the dashboard's days, not of the whole year."""
    events, now = trend_events(140, more_toilet_nights=10)
    source = open_source(f"sqlite:///{tmp_path / 'events.sqlite'}")
    source.append(events)  # type: ignore[attr-defined]
    start = now - timedelta(days=140)
    trained_on = [e for e in events if e.time >= start]
    since = now - timedelta(days=history_days())
    as_the_dashboard = trend_digest(trend_report_from_events(source.read(since, now), tz=TZ, now=now))
    from_the_year = trend_digest(trend_report_from_events(trained_on, tz=TZ, now=now))
    assert from_the_year != as_the_dashboard  # the year's older days do change the online baselines
    assert report_trends(source, trained_on, start, now, tz=TZ) == as_the_dashboard


def test_the_report_goes_out_without_trends_when_they_cannot_be_computed(tmp_path: Path) -> None:
    broken = tmp_path / "broken.sqlite"
    broken.write_bytes(b"this is not a database" * 100)
    now = datetime(2026, 3, 30, 8, tzinfo=UTC)
    assert report_trends(open_source(f"sqlite:///{broken}"), [], now - timedelta(days=56), now, tz=TZ) is None


# -- the pictures -----------------------------------------------------------------------------------

def test_trend_png_draws_one_indicator_and_trends_png_all(digest: dict[str, Any]) -> None:
    report = read_trend_digest(digest)
    one = trend_png(report.trend("night_toilet_visits"))
    assert one.startswith(PNG) and 5_000 < len(one) < 80_000
    assert trend_png(report.trend("night_toilet_visits")) == one  # the same trend, the same bytes
    assert trend_png(report.trend("kitchen_time")).startswith(PNG)  # "not measurable" drawn as text
    everything = trends_png(list(report.trends), weeks=4)
    assert everything.startswith(PNG) and len(everything) > len(one)
    with pytest.raises(ValueError, match="no trend"):
        trends_png([])


def test_a_trend_of_missing_days_only_still_draws() -> None:
    days = tuple(date(2026, 3, 2) + timedelta(days=i) for i in range(30))
    trend = track_indicator(SPECS["getting_up"], days, np.full(30, np.nan))
    assert trend_png(trend).startswith(PNG)
    assert len(last_weeks(trend, 2).days) == 14 and last_weeks(trend, 8) is trend


# -- the e-mail -------------------------------------------------------------------------------------

def renderer() -> MailRenderer:
    return MailRenderer(home_id="oma", tz=TZ, dashboard_url="https://care.example.org", ack_key=None)


def test_report_with_trends_has_the_sentences_and_one_inline_chart_per_measurable_indicator(
        digest: dict[str, Any]) -> None:
    mail = renderer().report({"lines": ["Breakfast is later."], "trends": digest}, CAREGIVERS)
    report = read_trend_digest(digest)
    [toilet] = [c for c in report.recent_changes(14) if c.indicator == "night_toilet_visits"]
    from hometwin.domain.trends_wording import change_sentence

    sentence = change_sentence(toilet)
    assert sentence in mail.text and sentence in mail.html.replace("&#39;", "'")
    assert "Breakfast is later." in mail.text
    assert "Kitchen visits: not measurable in this home, needs a kitchen room" in mail.text
    assert len(mail.images) == 9 and all(i.data.startswith(PNG) for i in mail.images)
    for image in mail.images:
        assert f'src="cid:{image.cid}"' in mail.html
    assert "https://care.example.org/trends" in mail.text
    assert "http" not in mail.html.replace("https://care.example.org", "")  # nothing fetched from anywhere


def test_report_without_trends_is_the_report_as_before() -> None:
    mail = renderer().report({"lines": ["Breakfast is later."], "period": "p"}, CAREGIVERS)
    assert mail.images == () and "Changes in daily life" not in mail.text and "cid:" not in mail.html


def test_a_report_with_damaged_trends_is_refused(digest: dict[str, Any]) -> None:
    with pytest.raises(InvalidNotification, match="trends"):
        renderer().report({"lines": [], "trends": {**digest, "days": "yesterday"}}, CAREGIVERS)


def test_mime_puts_the_images_next_to_the_html_and_refuses_bad_ones() -> None:
    image = InlineImage("chart-1@hometwin", PNG + b"rest", "chart-1.png")
    html = '<p><img src="cid:chart-1@hometwin" alt="a chart"></p>'
    mime = build_mime(EmailMessage(("anna@example.org",), "s", "text", html, None, (image,)), "t@example.org")
    assert [p.get_content_type() for p in mime.walk()] == [
        "multipart/alternative", "text/plain", "multipart/related", "text/html", "image/png"]
    [png] = [p for p in mime.walk() if p.get_content_type() == "image/png"]
    assert png["Content-ID"] == "<chart-1@hometwin>" and png.get_content_disposition() == "inline"
    assert png.get_payload(decode=True) == PNG + b"rest"
    for bad in (InlineImage("no at sign", b"x", "a.png"), InlineImage("a@b", b"x", "../../etc/passwd"),
                InlineImage("a\r\nBcc: x@y.z@b", b"x", "a.png"), InlineImage("a@b", b"x", "a.svg", "svg+xml")):
        with pytest.raises(ValueError, match="inline image"):
            build_mime(EmailMessage(("anna@example.org",), "s", "t", html, None, (bad,)), "t@example.org")
    with pytest.raises(ValueError, match="HTML"):
        build_mime(EmailMessage(("anna@example.org",), "s", "t", None, None, (image,)), "t@example.org")


def test_a_queued_report_keeps_its_charts_until_it_is_sent(tmp_path: Path, digest: dict[str, Any]) -> None:
    s = MailSettings(data_dir=tmp_path, caregivers=CAREGIVERS, tz=TZ, home_id="oma")
    store = open_object_store((tmp_path / "state").as_uri())
    now = [datetime(2026, 3, 30, 8, tzinfo=UTC)]
    (tmp_path / "unwritable").write_text("a file where the mail folder should be")
    down = Notifier(MaildirMailer(tmp_path / "unwritable", s.mail_from), store, s, clock=lambda: now[0])
    assert down.send_report({"lines": [], "trends": digest}, "2026-W14") == "queued"
    mailer = MaildirMailer(tmp_path / "mail", s.mail_from)
    restarted = Notifier(mailer, store, s, clock=lambda: now[0])  # another process, after a restart
    assert restarted.flush_outbox() == FlushReport(1, 0)
    assert restarted.send_report({"lines": [], "trends": digest}, "2026-W14") == "duplicate"
    [stored] = mailer.messages()
    msg = email.message_from_bytes(stored.as_bytes(), policy=email.policy.default)
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 9 and all(p.get_payload(decode=True).startswith(PNG) for p in images)
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert all(f"cid:{p['Content-ID'].strip('<>')}" in html for p in images)


def test_a_redelivered_report_answers_before_drawing_the_charts(tmp_path: Path, digest: dict[str, Any]) -> None:
    s = MailSettings(data_dir=tmp_path, caregivers=CAREGIVERS, tz=TZ, home_id="oma")
    mailer = MaildirMailer(tmp_path / "mail", s.mail_from)
    notifier = Notifier(mailer, open_object_store("memory://"), s)
    assert notifier.send_report({"lines": [], "trends": digest}, "2026-W14") == "sent"
    # The same invocation again (a scheduler timeout): its report is not even read, let alone drawn.
    assert notifier.send_report({"lines": [], "trends": {"damaged": True}}, "2026-W14") == "duplicate"
    with pytest.raises(InvalidNotification):
        notifier.send_report({"lines": [], "trends": {"damaged": True}}, "2026-W15")
    assert len(mailer.messages()) == 1
