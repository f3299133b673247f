"""The weekly e-mail's charts stay small and can never cost the e-mail: palette PNGs with a byte
bound, a drawing budget that keeps the invocation inside the scheduler's timeout, and a drawing
failure that leaves the text (saying which charts are missing) rather than nothing.

How long the drawing takes is measured by benchmarks/weekly_mail.py; tests assert bytes, not time.
"""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path
from typing import Any

import pytest

from hometwin.adapters.mail import MaildirMailer, build_mime
from hometwin.adapters.stores import open_object_store
from hometwin.config import MailSettings
from hometwin.domain.change import IndicatorTrend, trend_report_from_events
from hometwin.ports import EmailMessage
from hometwin.services import trend_images
from hometwin.services.messages import MailRenderer
from hometwin.services.outbox import Notifier
from hometwin.services.trend_digest import read_trend_digest, trend_digest
from tests.trend_home import TZ, trend_events

PNG = b"\x89PNG\r\n\x1a\n"
CAREGIVERS = ["anna@example.org"]
# 314 KB and ~24 KB a chart before the palette PNGs; about 110 KB and 7-10 KB a chart now.
MESSAGE_MAX_BYTES = 160_000
CHART_MAX_BYTES = 15_000


@pytest.fixture(scope="module")
def digest() -> dict[str, Any]:
    events, now = trend_events(84, more_toilet_nights=10, without_rooms=("kitchen",))
    return json.loads(json.dumps(trend_digest(trend_report_from_events(events, tz=TZ, now=now))))


def renderer() -> MailRenderer:
    return MailRenderer(home_id="oma", tz=TZ, dashboard_url="https://care.example.org", ack_key=None)


def test_the_weekly_mail_and_each_chart_stay_under_their_byte_bounds(digest: dict[str, Any]) -> None:
    mail = renderer().report({"lines": ["Breakfast is later."], "trends": digest}, CAREGIVERS)
    raw = build_mime(EmailMessage(tuple(CAREGIVERS), mail.subject, mail.text, mail.html, "<w@hometwin>",
                                  mail.images), "twin@example.org").as_bytes()
    assert len(mail.images) == 9
    for image in mail.images:
        assert image.data.startswith(PNG) and 5_000 < len(image.data) < CHART_MAX_BYTES
        assert image.data[25] == 3  # IHDR colour type 3: a palette PNG
    assert len(raw) < MESSAGE_MAX_BYTES
    again = renderer().report({"lines": ["Breakfast is later."], "trends": digest}, CAREGIVERS)
    assert [i.data for i in again.images] == [i.data for i in mail.images]  # a resent e-mail is identical


def test_drawing_stops_at_the_budget_and_names_the_charts_left_out(digest: dict[str, Any]) -> None:
    trends = [t for t in read_trend_digest(digest).trends if not t.unsupported]
    now = [0.0]

    def draw_one_second(trend: IndicatorTrend) -> bytes:  # a fake slow machine: each chart takes 1 s
        now[0] += 1.0
        return PNG + trend.spec.key.encode()

    charts = trend_images.mail_charts(trends, budget_s=3.0, draw=draw_one_second, clock=lambda: now[0])
    assert list(charts.pngs) == [t.spec.key for t in trends[:3]]
    assert charts.missing == tuple(t.spec.key for t in trends[3:])


def test_a_chart_that_fails_to_draw_is_left_out_not_the_others(digest: dict[str, Any]) -> None:
    trends = [t for t in read_trend_digest(digest).trends if not t.unsupported]

    def draw(trend: IndicatorTrend) -> bytes:
        if trend is trends[1]:
            raise ValueError("a drawing bug")
        return PNG

    charts = trend_images.mail_charts(trends, draw=draw)
    assert charts.missing == (trends[1].spec.key,) and len(charts.pngs) == len(trends) - 1


def test_when_no_chart_can_be_drawn_the_text_still_goes_out_and_says_so(
        tmp_path: Path, digest: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_renderer(*_args: object, **_kwargs: object) -> bytes:
        # A fake at the seam: stands in for matplotlib failing (a broken install, a font cache it cannot write).
        raise RuntimeError("matplotlib cannot draw here")

    monkeypatch.setattr(trend_images, "trend_png", broken_renderer)
    s = MailSettings(data_dir=tmp_path, caregivers=CAREGIVERS, tz=TZ, home_id="oma")
    mailer = MaildirMailer(tmp_path / "mail", s.mail_from)
    notifier = Notifier(mailer, open_object_store((tmp_path / "state").as_uri()), s)

    assert notifier.send_report({"lines": ["Breakfast is later."], "trends": digest}, "2026-W14") == "sent"

    [stored] = mailer.messages()
    msg = email.message_from_bytes(stored.as_bytes(), policy=email.policy.default)
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert [p for p in msg.walk() if p.get_content_maintype() == "image"] == [] and "cid:" not in html
    assert "9 chart(s) could not be drawn this time" in text and "9 chart(s) could not be drawn" in html
    assert html.count("Chart missing") == 9
    assert "Breakfast is later." in text and "Night-time toilet visits:" in text  # the figures are all there
