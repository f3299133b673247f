"""The mailer and the notifier against a real SMTP server (aiosmtpd), as a caregiver's mail would go.

Covers: delivery and envelope, header injection, exactly one e-mail when the same notification is
delivered twice (one after the other and at the same moment), the server down and then up (the
outbox keeps the message, a restarted notifier sends it), STARTTLS with certificate verification,
implicit TLS against a plain server, and authentication.
"""

from __future__ import annotations

import itertools
import mailbox
import shutil
import ssl
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hometwin.adapters.mail import SMTPMailer
from hometwin.adapters.stores import open_object_store
from hometwin.components.wiring import open_mail
from hometwin.config import MailSettings
from hometwin.domain.alerts import AlertBook, AlertPolicy, Notification
from hometwin.domain.findings import Finding, FindingKind, Severity
from hometwin.ports import AccessDenied, EmailMessage, PortError, Unavailable
from hometwin.services.outbox import Notifier
from tests import servers

CAREGIVERS = ["anna@example.org", "ben@example.org"]
_homes = itertools.count()


def mail_settings(tmp_path: Path, port: int, **overrides) -> MailSettings:
    values = {"data_dir": tmp_path, "caregivers": CAREGIVERS, "smtp_url": f"smtp://127.0.0.1:{port}",
              "home_id": f"home{next(_homes)}", "mail_from": "HomeTwin <twin@example.org>",
              "ack_secret": "a-secret-of-enough-length", "public_dashboard_url": "https://care.example.org",
              "smtp_timeout": 5.0}
    values.update(overrides)
    return MailSettings(**values)


def first_alert(room: str = "bathroom") -> Notification:
    finding = Finding(FindingKind.PROLONGED_STAY, Severity.EMERGENCY, room,
                      datetime(2026, 3, 3, 8, 0, tzinfo=UTC), observed=3120, expected=360, threshold=1140,
                      percentile=99.7, message="In the bathroom for 52 min")
    [note] = AlertBook().advance([finding], datetime(2026, 3, 3, 8, 52, tzinfo=UTC),
                                 AlertPolicy(escalation=tuple(CAREGIVERS)))
    return note


def received(server: servers.SMTPServer, message_id: str) -> list:
    return [m for m in server.messages() if m["Message-ID"] == message_id]


class Clock:
    """The notifier's retry timing, moved by the test instead of sleeping through backoffs."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_smtp_delivers_a_multipart_message_to_the_envelope_recipients(
        tmp_path: Path, smtp_server: servers.SMTPServer) -> None:
    settings = mail_settings(tmp_path, smtp_server.port)
    mailer = open_mail(settings)
    mailer.send(EmailMessage(tuple(CAREGIVERS), "Test – ünïcode subject", "plain text ✓", "<p>html ✓</p>",
                             "<contract-1.test@hometwin>"))
    [msg] = received(smtp_server, "<contract-1.test@hometwin>")
    assert msg["X-RcptTo"] == ", ".join(CAREGIVERS)
    assert msg["X-MailFrom"] == "twin@example.org"
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = msg.get_payload()
    assert plain.get_payload(decode=True).decode().strip() == "plain text ✓"
    assert html.get_payload(decode=True).decode().strip() == "<p>html ✓</p>"


def test_data_cannot_add_recipients_or_headers(tmp_path: Path, smtp_server: servers.SMTPServer) -> None:
    settings = mail_settings(tmp_path, smtp_server.port)
    notifier = Notifier(open_mail(settings), open_object_store("memory://"), settings)
    note = first_alert(room="bath\r\nBcc: mallory@evil.example\r\nX-Evil: 1")
    assert notifier.handle(note.to_event_data(), "inv-1") == "sent"
    [msg] = received(smtp_server, f"<{note.id}.{settings.home_id}@hometwin>")
    assert msg["X-RcptTo"] == "anna@example.org"
    assert msg["Bcc"] is None and msg["X-Evil"] is None


def test_the_same_notification_delivered_twice_gives_one_email(
        tmp_path: Path, smtp_server: servers.SMTPServer) -> None:
    settings = mail_settings(tmp_path, smtp_server.port)
    store = open_object_store((tmp_path / "state").as_uri())
    notifier = Notifier(open_mail(settings), store, settings)
    note = first_alert()
    message_id = f"<{note.id}.{settings.home_id}@hometwin>"

    assert notifier.handle(note.to_event_data(), "invocation-1") == "sent"
    assert notifier.handle(note.to_event_data(), "invocation-1-redelivered") == "duplicate"
    # a restarted actuation remembers too: the memory is in the object store
    again = Notifier(open_mail(settings), store, settings)
    assert again.handle(note.to_event_data(), "invocation-1-third") == "duplicate"
    assert len(received(smtp_server, message_id)) == 1

    # the scheduler delivering the next notification to four workers at the same moment
    other = first_alert(room="kitchen")
    results: list[str] = []
    barrier = threading.Barrier(4)

    def deliver(i: int) -> None:
        barrier.wait()
        results.append(notifier.handle(other.to_event_data(), f"invocation-2-{i}"))

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["duplicate", "duplicate", "duplicate", "sent"]
    assert len(received(smtp_server, f"<{other.id}.{settings.home_id}@hometwin>")) == 1


def test_server_down_then_up_sends_later_exactly_once(tmp_path: Path) -> None:
    port = servers.free_port()  # nothing listens here yet: the caregiver's mail server is down
    settings = mail_settings(tmp_path, port, mail_retry_initial=15.0, mail_retry_max=60.0)
    store = open_object_store((tmp_path / "state").as_uri())
    clock = Clock()
    notifier = Notifier(open_mail(settings), store, settings, clock=clock)
    note = first_alert()

    assert notifier.handle(note.to_event_data(), "inv-1") == "queued"
    assert notifier.pending() == [note.id]
    assert notifier.flush_outbox().waiting == 1  # backoff: not due yet, no connection attempted
    clock.now += timedelta(seconds=16)
    report = notifier.flush_outbox()  # due, tried, still down
    assert (report.sent, report.waiting) == (0, 1)
    assert notifier.handle(note.to_event_data(), "inv-1-redelivered") == "queued"  # not due: no copy

    server = servers.start_smtp(tmp_path / "smtp", port=port)  # the server comes back
    try:
        # the actuation restarted meanwhile: a new notifier finds the message in the durable outbox
        restarted = Notifier(open_mail(settings), store, settings, clock=clock)
        report = restarted.flush_outbox()
        assert (report.sent, report.waiting) == (1, 0)
        clock.now += timedelta(minutes=5)
        assert notifier.flush_outbox().sent == 0  # the old instance's retry finds it sent
        assert restarted.pending() == []
        assert notifier.handle(note.to_event_data(), "inv-1-late") == "duplicate"
        [msg] = received(server, f"<{note.id}.{settings.home_id}@hometwin>")
        assert msg["X-RcptTo"] == "anna@example.org"
    finally:
        server.process.stop()


# -- TLS and authentication ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command-line tool."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed: cannot make a test certificate for TLS")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="module")
def tls_smtp(certificate: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory):
    """A real aiosmtpd offering STARTTLS (and requiring it before any mail)."""
    cert, key = certificate
    server = servers.start_smtp(tmp_path_factory.mktemp("smtp-tls"),
                                args=["--tlscert", str(cert), "--tlskey", str(key)])
    yield server
    server.process.stop()


def test_starttls_is_verified_by_default(tmp_path: Path, tls_smtp: servers.SMTPServer,
                                         certificate: tuple[Path, Path]) -> None:
    message = EmailMessage(("anna@example.org",), "tls", "over TLS", None, "<tls-1.test@hometwin>")
    unverified = mail_settings(tmp_path, tls_smtp.port, smtp_starttls="required")
    with pytest.raises(Unavailable, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        open_mail(unverified).send(message)
    assert received(tls_smtp, "<tls-1.test@hometwin>") == []

    trusted = mail_settings(tmp_path, tls_smtp.port, smtp_starttls="required", smtp_ca_file=certificate[0])
    open_mail(trusted).send(message)
    assert len(received(tls_smtp, "<tls-1.test@hometwin>")) == 1


def test_required_starttls_and_implicit_tls_fail_cleanly_on_a_plain_server(
        tmp_path: Path, smtp_server: servers.SMTPServer) -> None:
    message = EmailMessage(("anna@example.org",), "s", "t", None, "<plain-tls.test@hometwin>")
    required = mail_settings(tmp_path, smtp_server.port, smtp_starttls="required")
    with pytest.raises(PortError, match="does not offer STARTTLS"):
        open_mail(required).send(message)
    implicit = mail_settings(tmp_path, smtp_server.port, smtp_url=f"smtps://127.0.0.1:{smtp_server.port}")
    with pytest.raises(Unavailable):
        open_mail(implicit).send(message)
    assert received(smtp_server, "<plain-tls.test@hometwin>") == []


def test_authentication_over_starttls(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    # aiosmtpd's command line has no option for logins, so this one real server runs in-process
    # through aiosmtpd's own Controller (same server code, in a thread).
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Mailbox
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            b"twin", b"correct horse")
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(certificate[0]), str(certificate[1]))
    maildir = tmp_path / "auth-maildir"
    port = servers.free_port()
    controller = Controller(Mailbox(str(maildir)), hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True, authenticator=authenticator, auth_required=True,
                            auth_require_tls=True)
    controller.start()
    try:
        message = EmailMessage(("anna@example.org",), "auth", "t", None, "<auth-1.test@hometwin>")
        common = {"host": "127.0.0.1", "port": port, "implicit_tls": False, "sender": "twin@example.org",
                  "starttls": "required", "ca_file": certificate[0], "timeout": 5.0}
        with pytest.raises(AccessDenied, match="refused the login"):
            SMTPMailer(user="twin", password="wrong", **common).send(message)
        SMTPMailer(user="twin", password="correct horse", **common).send(message)
        assert len(mailbox.Maildir(str(maildir), create=False)) == 1
        assert "correct horse" not in repr(SMTPMailer(user="twin", password="correct horse", **common))
    finally:
        controller.stop()


# -- two actuation processes (a rolling update) --------------------------------------------------

def shared_state(kind: str, tmp_path: Path, request: pytest.FixtureRequest):
    if kind == "filesystem":
        return open_object_store((tmp_path / "state").as_uri())
    from hometwin.components.wiring import s3_options
    from hometwin.config import StoreSettings

    server = request.getfixturevalue("s3_server")  # write-once through If-None-Match
    settings = StoreSettings(s3_endpoint=server.url, s3_access_key=server.access_key,
                             s3_secret_key=server.secret_key, s3_timeout_seconds=5.0)
    return open_object_store(f"s3://hometwin-lease-{next(_homes)}-{servers.free_port()}/p", s3_options(settings))


@pytest.mark.parametrize("kind", ["filesystem", "s3"])
def test_two_actuation_processes_never_send_the_same_notification_twice(
        kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    port = servers.free_port()  # the mail server is down while the alerts come in
    settings = mail_settings(tmp_path, port, mail_retry_initial=15.0, mail_retry_max=60.0)
    store = shared_state(kind, tmp_path, request)
    clock = Clock()
    old = Notifier(open_mail(settings), store, settings, clock=clock, owner="old-pod")
    new = Notifier(open_mail(settings), store, settings, clock=clock, owner="new-pod")
    notes = [first_alert(room=f"room{i}") for i in range(6)]
    for note in notes:  # the scheduler hands each to one pod, then (a retry) to the other
        assert old.handle(note.to_event_data(), "inv") == "queued"
        assert new.handle(note.to_event_data(), "inv-retry") == "queued"  # attempt 1 was released

    server = servers.start_smtp(tmp_path / "smtp", port=port)
    try:
        clock.now += timedelta(minutes=5)  # every retry is due, in both processes
        barrier = threading.Barrier(2)
        reports = []

        def flush(notifier: Notifier) -> None:
            barrier.wait()
            reports.append(notifier.flush_outbox())

        threads = [threading.Thread(target=flush, args=(n,)) for n in (old, new)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        # And both receive one more redelivery of each at the same moment.
        for note in notes:
            barrier = threading.Barrier(2)
            results: list[str] = []

            def deliver(notifier: Notifier, note: Notification = note, barrier: threading.Barrier = barrier,
                        results: list[str] = results) -> None:
                barrier.wait()
                results.append(notifier.handle(note.to_event_data(), "inv-late"))

            pair = [threading.Thread(target=deliver, args=(n,)) for n in (old, new)]
            for t in pair:
                t.start()
            for t in pair:
                t.join(30)
            assert sorted(results) == ["duplicate", "duplicate"]
        for note in notes:
            assert len(received(server, f"<{note.id}.{settings.home_id}@hometwin>")) == 1, note.id
        assert sum(r.sent for r in reports) == len(notes)
        assert old.counts.duplicates == new.counts.duplicates == 0
        assert old.pending() == [] and new.pending() == []
    finally:
        server.process.stop()


def test_two_processes_delivering_one_new_notification_at_once_send_it_once(
        tmp_path: Path, smtp_server: servers.SMTPServer) -> None:
    settings = mail_settings(tmp_path, smtp_server.port)
    store = open_object_store((tmp_path / "state").as_uri())
    pods = [Notifier(open_mail(settings), store, settings, owner=f"pod-{i}") for i in range(2)]
    for i in range(5):
        note = first_alert(room=f"hall{i}")
        barrier = threading.Barrier(2)
        results: list[str] = []

        def deliver(notifier: Notifier, note: Notification = note, barrier: threading.Barrier = barrier,
                    results: list[str] = results) -> None:
            barrier.wait()
            results.append(notifier.handle(note.to_event_data(), "inv"))

        threads = [threading.Thread(target=deliver, args=(p,)) for p in pods]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert "sent" in results and len(results) == 2
        assert len(received(smtp_server, f"<{note.id}.{settings.home_id}@hometwin>")) == 1
        for pod in pods:  # the one that stood back finds it sent at its next retry
            pod.flush_outbox()
        assert len(received(smtp_server, f"<{note.id}.{settings.home_id}@hometwin>")) == 1
        assert pods[0].pending() == []
