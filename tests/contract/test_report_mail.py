"""The weekly report with its trend charts through a real SMTP server (aiosmtpd), as a caregiver gets it:
the change sentences in the text, every chart an inline image the HTML references by Content-ID,
nothing to fetch from anywhere, and one e-mail however often the report event is delivered."""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

from hometwin.adapters.stores import open_object_store
from hometwin.components.wiring import open_mail
from hometwin.config import MailSettings
from hometwin.domain.change import trend_report_from_events
from hometwin.domain.trends_wording import change_sentence
from hometwin.services.outbox import Notifier
from hometwin.services.trend_digest import read_trend_digest, trend_digest
from tests import servers
from tests.trend_home import TZ, trend_events

CAREGIVERS = ["anna@example.org", "ben@example.org"]


def test_weekly_report_arrives_with_inline_trend_charts_and_the_sentences(
        tmp_path: Path, smtp_server: servers.SMTPServer) -> None:
    events, now = trend_events(84, more_toilet_nights=10, without_rooms=("kitchen",))
    digest = json.loads(json.dumps(trend_digest(trend_report_from_events(events, tz=TZ, now=now))))
    sentences = [change_sentence(c) for c in read_trend_digest(digest).recent_changes(14)]
    assert any("goes to the toilet" in s for s in sentences)
    settings = MailSettings(data_dir=tmp_path, caregivers=CAREGIVERS, smtp_url=f"smtp://127.0.0.1:{smtp_server.port}",
                            home_id="trends-home", mail_from="HomeTwin <twin@example.org>", tz=TZ,
                            public_dashboard_url="https://care.example.org", smtp_timeout=5.0)
    notifier = Notifier(open_mail(settings), open_object_store((tmp_path / "state").as_uri()), settings)
    report = {"title": "Weekly HomeTwin report: changes in the routine", "period": "2026-02-02 to 2026-03-30",
              "lines": ["Breakfast starts later."], "rooms": {}, "trends": digest}

    assert notifier.send_report(report, "modeling-invocation-7") == "sent"
    assert notifier.send_report(report, "modeling-invocation-7") == "duplicate"  # delivered twice: one e-mail

    message_id = "<report-modeling-invocation-7.trends-home@hometwin>"
    [raw] = [m for m in smtp_server.messages() if m["Message-ID"] == message_id]
    msg = email.message_from_bytes(raw.as_bytes(), policy=email.policy.default)
    assert raw["X-RcptTo"] == ", ".join(CAREGIVERS)
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for sentence in sentences:
        assert sentence in text and sentence in html.replace("&#39;", "'")
    assert "Breakfast starts later." in text
    assert "Time in the kitchen: not measurable in this home, needs a kitchen room" in text
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 9  # eleven indicators, two without a kitchen sensor
    assert len(raw.as_bytes()) < 160_000  # palette PNGs: was 314 KB (benchmarks/weekly_mail.py)
    related = [p for p in msg.walk() if p.get_content_type() == "multipart/related"]
    assert len(related) == 1 and all(p in related[0].iter_parts() for p in images)  # type: ignore[attr-defined]
    for image in images:
        data = image.get_payload(decode=True)
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5_000
        assert image.get_content_disposition() == "inline"
        assert f'src="cid:{image["Content-ID"].strip("<>")}"' in html
    # No remote content: the only addresses in the HTML are the dashboard's links.
    assert "src=\"http" not in html and html.count("http") == html.count("https://care.example.org")
