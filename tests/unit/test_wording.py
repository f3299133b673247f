import email
import email.policy
import math
import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from hometwin.adapters.mail import MaildirMailer
from hometwin.adapters.stores import open_object_store
from hometwin.config import MailSettings
from hometwin.domain.alerts import AlertBook, AlertPolicy, Notification, NotificationKind
from hometwin.domain.findings import Finding, FindingKind, Severity
from hometwin.domain.wording import (
    FINDING_WORDING,
    clock_text,
    count_text,
    duration_text,
    finding_wording,
    visits_text,
)
from hometwin.services.outbox import Notifier
from tests.dashboard_helpers import NOW, make_home, serve


@pytest.mark.parametrize(("seconds", "text"), [
    (5, "5 s"), (59.4, "59 s"), (-3, "0 s"), (600, "10 min"), (52 * 60, "52 min"), (3600, "1 h"),
    (70 * 60, "1 h 10 min"), (7380, "2 h 3 min"), (3 * 3600, "3 h"), (50 * 3600, "2 days 2 h"),
    (72 * 3600, "3 days"), (math.nan, "–"), (math.inf, "–")])
def test_durations_read_like_a_caregiver_writes_them(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


@pytest.mark.parametrize(("minutes", "text"), [
    (0, "00:00"), (425, "07:05"), (449.6, "07:30"), (1439.4, "23:59"), (1439.6, "00:00"), (1450, "00:10"),
    (math.nan, "–")])
def test_clock_times_are_minutes_after_midnight_to_the_nearest_minute(minutes: float, text: str) -> None:
    assert clock_text(minutes) == text


@pytest.mark.parametrize(("value", "count", "visits"), [
    (8.0, "8", "8 visits"), (1.0, "1", "1 visit"), (1.14, "1.1", "1.1 visits"), (12.4, "12", "12 visits"),
    (0.0, "0", "0 visits"), (math.nan, "–", "– visits")])
def test_counts_carry_no_false_precision(value: float, count: str, visits: str) -> None:
    assert count_text(value) == count and visits_text(value) == visits


def test_a_kind_this_version_does_not_know_still_reads() -> None:
    wording = finding_wording("door_left_open")
    assert wording.label == "Door left open" and wording.value(600) == "10 min"
    assert finding_wording("missing_routine") is FINDING_WORDING[FindingKind.MISSING_ROUTINE]


# What each finding kind's numbers say, and how a caregiver must read them (observed, usual,
# threshold). A kind added to the domain without an entry here (and in FINDING_WORDING) fails.
READINGS: dict[FindingKind, tuple[tuple[float, float, float], tuple[str, str, str]]] = {
    FindingKind.PROLONGED_STAY: ((3120, 360, 1140), ("52 min", "6 min", "19 min")),
    FindingKind.UNUSUAL_SILENCE: ((11400, 3600, 7380), ("3 h 10 min", "1 h", "2 h 3 min")),
    # minutes after local midnight: the day has not started by 10:00, it usually starts at 07:30
    FindingKind.MISSING_ROUTINE: ((600, 450, 554), ("10:00", "07:30", "09:14")),
    FindingKind.NOT_BACK_HOME: ((8 * 3600, 92 * 60, 310 * 60), ("8 h", "1 h 32 min", "5 h 10 min")),
    FindingKind.UNUSUAL_FREQUENCY: ((8, 1.1, 2.3), ("8 visits", "1.1 visits", "2.3 visits")),
    # technical: no usual value (None), reported after a plain limit
    FindingKind.SENSOR_DATA_MISSING: ((1800, 0, 1800), ("30 min", None, "30 min")),
    FindingKind.SENSOR_STUCK: ((3 * 3600, 0, 7200), ("3 h", None, "2 h")),
}
SEVERITY = {FindingKind.UNUSUAL_FREQUENCY: Severity.INFO, FindingKind.PROLONGED_STAY: Severity.EMERGENCY,
            FindingKind.UNUSUAL_SILENCE: Severity.EMERGENCY}
ROOMLESS = {FindingKind.MISSING_ROUTINE, FindingKind.SENSOR_DATA_MISSING}


def _finding(kind: FindingKind) -> Finding:
    (observed, expected, threshold), _ = READINGS[kind]
    return Finding(kind, SEVERITY.get(kind, Severity.WARNING), None if kind in ROOMLESS else "bathroom",
                   NOW - timedelta(hours=1), observed=observed, expected=expected, threshold=threshold,
                   percentile=99.7, message=f"A {kind.value} to read.")


def _email_readings(tmp_path: Path, findings: list[Finding]) -> dict[FindingKind, tuple[str, str, str | None, str]]:
    """(label, observed, usual, threshold) as the e-mail of each finding writes them (usual None: a
    technical finding, "Reported: after ...")."""
    settings = MailSettings(data_dir=tmp_path, caregivers=["anna@example.org"], tz="Europe/Berlin", home_id="oma")
    mailer = MaildirMailer(tmp_path / "mail", settings.mail_from)
    notifier = Notifier(mailer, open_object_store("memory://"), settings)
    out = {}
    for finding in findings:
        note = Notification(f"n-{finding.kind.value}", f"a-{finding.kind.value}", 1, NotificationKind.ALERT,
                            ("anna@example.org",), finding, NOW, finding.severity)
        assert notifier.handle(note.to_event_data(), note.id) == "sent"
    for raw in mailer.messages():
        msg = email.message_from_bytes(raw.as_bytes(), policy=email.policy.default)
        text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        found = re.search(r"What: +(.+)\n.*\n.*\n +Observed: +(.+)\n(?: +Usually: +(.+)\n +Unusual: +from (.+) "
                          r"\(this| +Reported: +after (.+)\n)", text)
        assert found, text
        kind = FindingKind(re.search(r"Reference: n-(\w+)", text)[1])  # type: ignore[index]
        label, observed, usual, threshold, after = found.groups()
        out[kind] = (label, observed, usual, threshold or after)
    return out


def _dashboard_readings(tmp_path: Path, findings: list[Finding]) -> dict[FindingKind, tuple[str, str, str | None, str]]:
    """(label, observed, usual, threshold) as the dashboard's alerts page shows each finding."""
    home = make_home(tmp_path / "dashboard", alert=False)
    book = AlertBook()
    book.advance(findings, NOW - timedelta(minutes=5), AlertPolicy(escalation=("carer@example.org",)))
    home.alerts.save(book)
    with serve(home.app()) as url, httpx.Client(base_url=url) as client:
        alerts = client.get("/api/alerts").json()["alerts"]
        page = client.get("/alerts").text
    out = {}
    for alert in alerts:
        card = re.search(rf'aria-labelledby="alert-{alert["id"]}">(.*?)</article>', page, re.S)
        assert card, page
        label = re.search(r"</span>\s*(.+?)\s*(?:—|</h3>)", card[1])
        found = re.search(r"observed (.+?)(?:, usual (.+?))?, alert (?:above|after) (.+?)(?:, percentile|</dd>)",
                          card[1])
        assert label and found, card[1]
        out[FindingKind(alert["kind"])] = (label[1], *found.groups())
    return out


def test_email_and_dashboard_read_every_finding_kind_the_same(tmp_path: Path) -> None:
    assert set(FINDING_WORDING) == set(FindingKind), "every finding kind needs its wording"
    findings = [_finding(kind) for kind in FindingKind]
    mailed, shown = _email_readings(tmp_path, findings), _dashboard_readings(tmp_path, findings)
    for kind in FindingKind:
        label = FINDING_WORDING[kind].label
        assert mailed[kind] == (label, *READINGS[kind][1]), kind
        assert shown[kind] == mailed[kind], kind
