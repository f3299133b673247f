"""The notifier (actuation core) on the real Maildir mailer and the real memory/file object stores.

The SMTP side (duplicates, server down then up, TLS) is in tests/contract/test_mail.py.
"""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hometwin.adapters.mail import MaildirMailer, build_mime, open_mailer, read_maildir
from hometwin.adapters.stores import open_object_store
from hometwin.components.wiring import open_mail, smtp_options
from hometwin.config import AlertSettings, MailSettings
from hometwin.domain.ack_links import read, verify
from hometwin.domain.addresses import check_address, parse_sender
from hometwin.domain.alerts import AlertBook, AlertPolicy, Notification
from hometwin.domain.findings import Finding, FindingKind, Severity
from hometwin.ports import EmailMessage, PortError
from hometwin.services.errors import InvalidNotification
from hometwin.services.outbox import FlushReport, Notifier

CAREGIVERS = ["anna@example.org", "ben@example.org"]
SECRET = "a-secret-of-enough-length"
T0 = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)  # 09:00 in Berlin


def settings(tmp_path: Path, **overrides) -> MailSettings:
    values = {"data_dir": tmp_path, "caregivers": CAREGIVERS, "ack_secret": SECRET,
              "public_dashboard_url": "https://care.example.org/", "tz": "Europe/Berlin", "home_id": "oma"}
    values.update(overrides)
    return MailSettings(**values)


def notes(room: str | None = "bathroom", severity: Severity = Severity.EMERGENCY) -> list[Notification]:
    """alert, reminder, escalation, all clear of one incident, as the monitoring produces them."""
    finding = Finding(FindingKind.PROLONGED_STAY, severity, room, T0, observed=3120, expected=360,
                      threshold=1140, percentile=99.7,
                      message="In the bathroom for 52 min; on Tuesday mornings a visit usually lasts 6 min")
    policy = AlertPolicy(escalation=tuple(CAREGIVERS))
    book = AlertBook()
    out = []
    for minute in (52, 67, 82):
        out += book.advance([finding], T0 + timedelta(minutes=minute), policy)
    out += book.advance([], T0 + timedelta(minutes=90), policy)  # the all clear waits 10 min
    out += book.advance([], T0 + timedelta(minutes=92), policy)
    assert [n.kind.value for n in out] == ["alert", "reminder", "escalation", "all_clear"]
    return out


def make(tmp_path: Path, **overrides) -> tuple[Notifier, MaildirMailer]:
    s = settings(tmp_path, **overrides)
    mailer = open_mail(s)
    assert isinstance(mailer, MaildirMailer)
    return Notifier(mailer, open_object_store("memory://"), s), mailer


def parsed(mailer: MaildirMailer) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(m.as_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for m in mailer.messages()]


def bodies(msg) -> tuple[str, str]:
    return msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()


def test_alert_email_names_severity_and_room_and_carries_a_working_ack_link(tmp_path: Path) -> None:
    notifier, mailer = make(tmp_path)
    alert = notes()[0]
    assert notifier.handle(alert.to_event_data(), "invocation-1") == "sent"
    [msg] = parsed(mailer)
    assert msg["Subject"] == "[HomeTwin oma] EMERGENCY in the bathroom: unusually long stay"
    assert msg["To"] == "anna@example.org"
    assert msg["Message-ID"] == f"<{alert.id}.oma@hometwin>"
    text, html = bodies(msg)
    assert "52 min" in text and "6 min" in text and "19 min" in text
    assert "Tue 03 Mar 2026, 09:00 CET" in text  # local time of the home
    link = next(w for w in text.split() if w.startswith("https://care.example.org/ack?token="))
    assert verify(link.split("token=")[1], SECRET, T0 + timedelta(hours=1)) == alert.alert_id
    assert read(link.split("token=")[1], SECRET, T0 + timedelta(hours=1)).episode == alert.episode == 1
    assert f'href="{link}"' in html


def test_each_kind_has_its_subject(tmp_path: Path) -> None:
    notifier, mailer = make(tmp_path)
    for note in notes():
        assert notifier.handle(note.to_event_data(), note.id) == "sent"
    subjects = sorted(m["Subject"] for m in parsed(mailer))
    assert subjects == [
        "[HomeTwin oma] All clear in the bathroom: unusually long stay is over",
        "[HomeTwin oma] EMERGENCY in the bathroom: unusually long stay",
        "[HomeTwin oma] Escalated - EMERGENCY in the bathroom: unusually long stay",
        "[HomeTwin oma] Reminder - EMERGENCY in the bathroom: unusually long stay",
    ]
    clear = next(m for m in parsed(mailer) if m["Subject"].startswith("[HomeTwin oma] All clear"))
    assert "ack?token" not in bodies(clear)[0]  # nothing to acknowledge any more
    # held 10 min after the last check that saw it (T0 + 82 min, 10:22 in Berlin): confirmed at 10:32
    assert "reported earlier is over (confirmed Tue 03 Mar 2026, 10:32 CET)" in " ".join(bodies(clear)[0].split())
    assert clear["To"] == "anna@example.org, ben@example.org"


def test_same_notification_twice_is_one_email(tmp_path: Path) -> None:
    notifier, mailer = make(tmp_path)
    alert = notes()[0]
    assert notifier.handle(alert.to_event_data(), "invocation-1") == "sent"
    assert notifier.handle(alert.to_event_data(), "invocation-2") == "duplicate"
    assert notifier.handle(dict(alert.to_event_data()), "invocation-1") == "duplicate"
    assert len(mailer.messages()) == 1


def test_data_cannot_inject_headers_or_html(tmp_path: Path) -> None:
    notifier, mailer = make(tmp_path)
    data = notes(room="bath\r\nBcc: mallory@evil.example")[0].to_event_data()
    data["message"] = "<script>alert(1)</script>\r\nBcc: mallory@evil.example"
    assert notifier.handle(data, "x") == "sent"
    [msg] = parsed(mailer)
    assert msg["Bcc"] is None and "mallory" not in str(msg["To"])
    assert "\n" not in msg["Subject"]
    html = bodies(msg)[1]
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_recipients_are_limited_to_configured_caregivers(tmp_path: Path) -> None:
    notifier, mailer = make(tmp_path)
    data = notes()[0].to_event_data()
    data["recipients"] = ["mallory@evil.example", "BEN@example.org"]
    notifier.handle(data, "x")
    [msg] = parsed(mailer)
    assert msg["To"] == "ben@example.org"
    data = notes(room="kitchen")[0].to_event_data()
    data["recipients"] = ["mallory@evil.example"]
    notifier.handle(data, "y")  # nobody configured asked for: every caregiver, never the stranger
    assert sorted(str(m["To"]) for m in parsed(mailer))[0] == "anna@example.org, ben@example.org"


def test_no_caregivers_means_no_email_and_says_so(tmp_path: Path) -> None:
    notifier, mailer = make(tmp_path, caregivers=[])
    assert notifier.handle(notes()[0].to_event_data(), "x") == "no_recipients"
    assert mailer.messages() == []


def test_without_secret_or_dashboard_url_there_is_no_link(tmp_path: Path) -> None:
    notifier, mailer = make(tmp_path, ack_secret=None)
    notifier.handle(notes()[0].to_event_data(), "x")
    text = bodies(parsed(mailer)[0])[0]
    assert "ack?token" not in text and "https://care.example.org" in text
    with pytest.raises(ValueError, match="at least"):
        make(tmp_path, ack_secret="short")
    with pytest.raises(ValueError, match="https://"):
        make(tmp_path, public_dashboard_url="javascript:alert(1)")


@pytest.mark.parametrize(("field", "value"), [
    ("notification_id", "../../etc/passwd"), ("kind", "explode"), ("severity", "mild"),
    ("at", "2026-03-03T08:00:00"), ("recipients", "anna@example.org"),
])
def test_bad_event_data_names_the_field(tmp_path: Path, field: str, value: object) -> None:
    notifier, mailer = make(tmp_path)
    data = notes()[0].to_event_data()
    data[field] = value
    with pytest.raises(InvalidNotification, match=field):
        notifier.handle(data, "x")
    data = notes()[0].to_event_data()
    del data["evidence"]["started_at"]
    with pytest.raises(InvalidNotification, match="evidence"):
        notifier.handle(data, "x")
    assert mailer.messages() == []


def test_weekly_report_goes_to_every_caregiver_once(tmp_path: Path) -> None:
    notifier, mailer = make(tmp_path)
    report = {"title": "Weekly report: 23 Feb - 1 Mar",
              "lines": ["Night-time bathroom visits rose from 1.2 to 3.1."],
              "rooms": {"kitchen": {"lines": ["Breakfast starts 40 min later <than usual>."]}}}
    assert notifier.send_report(report, "report:2026-W09") == "sent"
    assert notifier.send_report(report, "report:2026-W09") == "duplicate"
    [msg] = parsed(mailer)
    assert msg["Subject"] == "[HomeTwin oma] Weekly report: 23 Feb - 1 Mar"
    assert msg["To"] == "anna@example.org, ben@example.org"
    text, html = bodies(msg)
    assert "Night-time bathroom visits rose from 1.2 to 3.1." in text and "Kitchen" in text
    assert "&lt;than usual&gt;" in html


def test_state_store_down_sends_anyway_counts_it_and_records_it_when_back(tmp_path: Path) -> None:
    # Issue 13 item 4 reverses what this test asserted before ("raises, sends nothing until the store
    # is back"): a safety system prefers a possible duplicate to a missing e-mail. Nothing is sent
    # only when the mail server is down too; then `handle` raises and the event comes again.
    s = settings(tmp_path)
    (tmp_path / "unwritable").write_text("a file where the mail folder should be")
    root = tmp_path / "state"
    root.write_text("not a folder: the state volume is gone")
    store = open_object_store(root.as_uri())
    both_down = Notifier(MaildirMailer(tmp_path / "unwritable", s.mail_from), store, s)
    with pytest.raises(PortError):
        both_down.handle(notes()[0].to_event_data(), "x")  # the scheduler will deliver it again
    mailer = MaildirMailer(tmp_path / "mail", s.mail_from)
    assert mailer.messages() == []

    notifier = Notifier(mailer, store, s)
    assert notifier.handle(notes()[0].to_event_data(), "x") == "sent"
    assert notifier.counts.unchecked == 1 and notifier.store_error is not None
    assert notifier.status()["sent_not_recorded"] == [notes()[0].id]
    assert notifier.handle(notes()[0].to_event_data(), "x-again") == "duplicate"  # remembered here
    assert len(mailer.messages()) == 1
    root.unlink()
    notifier.flush_outbox()  # the store is back: the marker is written
    assert notifier.store_error is None and notifier.counts.duplicates == 0
    assert Notifier(mailer, store, s).handle(notes()[0].to_event_data(), "after-restart") == "duplicate"
    assert len(mailer.messages()) == 1


def test_a_copy_sent_while_the_store_was_down_is_counted_as_a_duplicate(tmp_path: Path) -> None:
    s = settings(tmp_path)
    root = tmp_path / "state"
    store = open_object_store(root.as_uri())
    mailer = MaildirMailer(tmp_path / "mail", s.mail_from)
    alert = notes()[0]
    assert Notifier(mailer, store, s).handle(alert.to_event_data(), "before") == "sent"
    root.rename(tmp_path / "state-away")
    root.write_text("the state volume is gone")
    restarted = Notifier(mailer, store, s)  # a new process: it cannot know the e-mail went out
    assert restarted.handle(alert.to_event_data(), "again") == "sent"
    assert len(mailer.messages()) == 2 and restarted.counts.unchecked == 1
    root.unlink()
    (tmp_path / "state-away").rename(root)
    restarted.flush_outbox()
    assert restarted.counts.duplicates == 1 and restarted.status()["sent_not_recorded"] == []


def test_mail_settings_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pw").write_text("s3cret\n")
    monkeypatch.setenv("HOMETWIN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HOMETWIN_CAREGIVERS", "anna@example.org, ben@example.org;carla@example.org")
    monkeypatch.setenv("HOMETWIN_SMTP_PASSWORD_FILE", str(tmp_path / "pw"))
    monkeypatch.setenv("HOMETWIN_ALERT_REPEAT_MINUTES", "5")
    s = MailSettings()
    assert s.caregivers == ["anna@example.org", "ben@example.org", "carla@example.org"]
    assert s.smtp_url == f"maildir://{tmp_path.resolve().as_posix()}/mail"
    assert s.smtp_password_value() == "s3cret"
    assert "s3cret" not in repr(s)
    policy = AlertSettings().policy(s.caregivers)
    assert policy.repeat_every == timedelta(minutes=5) and policy.escalation[0] == "anna@example.org"
    monkeypatch.setenv("HOMETWIN_CAREGIVERS", "anna@example.org,\nBcc: mallory@evil.example")
    with pytest.raises(ValueError, match="caregivers"):
        MailSettings()


def test_addresses_and_urls_are_validated(tmp_path: Path) -> None:
    assert check_address(" anna@example.org ") == "anna@example.org"
    for bad in ["anna", "anna@", "a@b@c", "anna@example.org\r\nBcc: x@y.z", "Anna <anna@example.org>",
                "anna@example.org, ben@example.org"]:
        with pytest.raises(ValueError):
            check_address(bad)
    assert str(parse_sender("Home Twin <twin@example.org>")) == "Home Twin <twin@example.org>"
    with pytest.raises(ValueError):
        parse_sender("Twin <twin@example.org>\nBcc: x@y.z")
    s = settings(tmp_path)
    with pytest.raises(ValueError, match="HOMETWIN_SMTP_USER"):
        open_mailer("smtp://user:pass@mail.example.org", smtp_options(s))
    with pytest.raises(ValueError, match="unsupported"):
        open_mailer("http://mail.example.org", smtp_options(s))
    with pytest.raises(ValueError, match="absolute"):
        open_mailer("maildir://relative/path", smtp_options(s))
    assert "587" in repr(open_mailer("smtp://mail.example.org", smtp_options(s)))
    assert "smtps://mail.example.org:465" in repr(open_mailer("smtps://mail.example.org", smtp_options(s)))


def test_mime_is_multipart_alternative_with_stable_id() -> None:
    mime = build_mime(EmailMessage(("anna@example.org",), "Subject\nBcc: x@y.z", "plain", "<p>html</p>",
                                   "<n-1.oma@hometwin>"), "HomeTwin <twin@example.org>")
    assert mime.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in mime.iter_parts()] == ["text/plain", "text/html"]
    assert mime["Subject"] == "Subject Bcc: x@y.z" and mime["Bcc"] is None
    assert mime["Message-ID"] == "<n-1.oma@hometwin>" and mime["Auto-Submitted"] == "auto-generated"
    with pytest.raises(ValueError, match="message id"):
        build_mime(EmailMessage(("anna@example.org",), "s", "t", None, "<a>\r\nBcc: x@y.z"), "t@example.org")


def test_outbox_queued_by_another_process_is_flushed_within_a_minute(tmp_path: Path) -> None:
    s = settings(tmp_path)
    store = open_object_store((tmp_path / "state").as_uri())
    now = [datetime(2026, 3, 3, 9, 0, tzinfo=UTC)]
    (tmp_path / "unwritable").write_text("a file where the mail folder should be")
    modeling = Notifier(MaildirMailer(tmp_path / "unwritable", s.mail_from), store, s, clock=lambda: now[0])
    actuation_mail = MaildirMailer(tmp_path / "mail", s.mail_from)
    actuation = Notifier(actuation_mail, store, s, clock=lambda: now[0])

    assert actuation.flush_outbox() == FlushReport(0, 0)  # empty
    assert modeling.send_report({"lines": ["Breakfast is later."]}, "2026-W10") == "queued"
    assert actuation.flush_outbox() == FlushReport(0, 0)  # it looked a moment ago
    now[0] += timedelta(seconds=61)
    assert actuation.flush_outbox() == FlushReport(1, 0)
    assert len(actuation_mail.messages()) == 1
    assert modeling.send_report({"lines": ["Breakfast is later."]}, "2026-W10") == "duplicate"


def test_sent_marker_that_cannot_be_written_is_kept_until_the_store_is_back(tmp_path: Path) -> None:
    s = settings(tmp_path)
    root = tmp_path / "state"
    store = open_object_store(root.as_uri())
    mailer = MaildirMailer(tmp_path / "mail", s.mail_from)
    notifier = Notifier(mailer, store, s)
    blocker = root / "state" / "oma" / "mail" / "sent"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where the sent markers go: writing them fails")
    alert = notes()[0]
    assert notifier.handle(alert.to_event_data(), "inv-1") == "sent"
    assert notifier.handle(alert.to_event_data(), "inv-1-again") == "duplicate"  # remembered in memory
    assert len(mailer.messages()) == 1
    blocker.unlink()
    notifier.flush_outbox()  # writes the marker now
    assert Notifier(mailer, store, s).handle(alert.to_event_data(), "after-restart") == "duplicate"
    assert len(mailer.messages()) == 1


def test_maildir_reader_gives_decoded_mails_newest_first_and_names_a_broken_folder(tmp_path: Path) -> None:
    import mailbox

    folder = tmp_path / "mail"
    assert read_maildir(folder) == []  # nothing delivered yet
    box = mailbox.Maildir(str(folder), create=True)
    for day, subject in ((3, "Older – bathroom"), (4, "Newer – kitchen")):
        message = EmailMessage(("anna@example.org",), subject, f"{subject}, in plain text", "<p>html</p>")
        box.add(build_mime(message, "HomeTwin <twin@example.org>", now=datetime(2026, 3, day, 8, tzinfo=UTC)))
    newest, older = read_maildir(folder)
    assert (newest.subject, newest.to, newest.sender) == ("Newer – kitchen", "anna@example.org",
                                                          "HomeTwin <twin@example.org>")
    assert newest.text.strip() == "Newer – kitchen, in plain text" and "04 Mar 2026" in newest.date
    assert older.subject == "Older – bathroom"
    assert [m.subject for m in read_maildir(folder, limit=1)] == ["Newer – kitchen"]
    (folder / "cur").rmdir()
    (folder / "cur").write_text("a file where the read mails go")
    with pytest.raises(PortError, match=str(folder)):
        read_maildir(folder)
