"""How long the weekly e-mail takes to build and how big it is, charts included.

The actuation draws the trend charts inside the scheduler's invocation (`send_weekly_report`, 10 s
timeout by default, HOMETWIN_SCHEDULER_TIMEOUT), so this is the number to watch on a slow machine.
It simulates 12 weeks of a home (a toilet-nights change in the last 10 nights, no kitchen sensor, as
tests/contract/test_report_mail.py), makes the digest the modeling sends, then renders the e-mail
(`MailRenderer.report`: sentences, templates, every chart as a PNG) and its MIME form several times.

    python benchmarks/weekly_mail.py [--runs 5] [--days 84] [--save-chart chart.png]

Prints the median and slowest build time, the first build (matplotlib's import and font cache
included, what a freshly started actuation pays), the MIME message's bytes and each image's bytes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hometwin.adapters.mail import build_mime
from hometwin.domain.change import trend_report_from_events
from hometwin.domain.events import SensorEvent
from hometwin.ports import EmailMessage
from hometwin.services.messages import MailRenderer
from hometwin.services.trend_digest import trend_digest
from hometwin.sim import simulate

TZ = "Europe/Berlin"
START = datetime(2026, 1, 5, tzinfo=ZoneInfo(TZ))


def digest_of_a_home(days: int) -> dict[str, object]:
    """The digest a modeling sends for `days` simulated days with ten nights of extra toilet visits."""
    events = [e for e in simulate(days, seed=11, start=START).events if e.room != "kitchen"]
    for night in range(days - 10, days):
        for hour, minute in ((2, 40), (4, 10)):
            visit = START + timedelta(days=night, hours=hour, minutes=minute)
            events += [SensorEvent(visit + timedelta(minutes=m), "pir_bathroom", "bathroom") for m in (0, 2, 4)]
            events.append(SensorEvent(visit + timedelta(minutes=7), "pir_bedroom", "bedroom"))
    now = START + timedelta(days=days, hours=9)
    return json.loads(json.dumps(trend_digest(trend_report_from_events(sorted(events), tz=TZ, now=now))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--days", type=int, default=84)
    parser.add_argument("--save-chart", type=Path, help="write the first chart here, to look at it")
    args = parser.parse_args()
    digest = digest_of_a_home(args.days)
    report = {"title": "Weekly HomeTwin report", "period": "last weeks", "lines": ["Breakfast starts later."],
              "rooms": {}, "trends": digest}
    renderer = MailRenderer(home_id="bench-home", tz=TZ, dashboard_url="https://care.example.org",
                            ack_key="k" * 32)
    to = ("anna@example.org",)
    times = []
    for _ in range(args.runs):
        started = time.perf_counter()
        mail = renderer.report(report, to)
        raw = build_mime(EmailMessage(to=to, subject=mail.subject, text=mail.text, html=mail.html,
                                      message_id="<bench@hometwin>", images=mail.images),
                         "HomeTwin <twin@example.org>", datetime(2026, 3, 30, tzinfo=UTC)).as_bytes()
        times.append(time.perf_counter() - started)
    images = mail.images
    print(f"weekly e-mail, {len(digest['trends'])} indicators, {len(images)} charts, {args.runs} runs")  # type: ignore[arg-type]
    print(f"  build (render + charts + MIME): median {statistics.median(times):.3f} s, "
          f"slowest {max(times):.3f} s, first {times[0]:.3f} s")
    print(f"  message: {len(raw):,} bytes; images {sum(len(i.data) for i in images):,} bytes raw "
          f"(base64 in the message: 4/3 of that)")
    for image in images:
        print(f"    {image.filename:28} {len(image.data):>7,} bytes")
    if args.save_chart and images:
        args.save_chart.write_bytes(images[0].data)
        print(f"  first chart written to {args.save_chart}")


if __name__ == "__main__":
    main()
