"""The Mailer port: SMTP (STARTTLS or implicit TLS) for real caregivers, a Maildir folder for the demo.

`open_mailer(url, options)`:
    smtp://host[:port]     SMTP with STARTTLS (port 587 by default); `HOMETWIN_SMTP_STARTTLS`:
                           `auto` (default) requires it unless the server is on this machine,
                           `required`, or `off` (loopback and trusted test networks only)
    smtps://host[:port]    SMTP over TLS from the first byte (port 465 by default)
    maildir:///abs/path    writes each message into a local Maildir folder (no server; the demo)

TLS certificates are verified unless `HOMETWIN_SMTP_VERIFY_TLS=false`. A password is never sent
over an unencrypted connection to another machine. Every header is built with the standard
library's `email` package from validated parts: addresses must be plain `local@domain`, and a
subject is flattened to one line, so data (a room name, a message) can never add a header.
"""

from __future__ import annotations

import email.errors
import email.header
import email.policy
import email.utils
import ipaddress
import logging
import mailbox
import re
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage as MimeMessage
from email.message import Message
from email.utils import format_datetime, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlsplit

from hometwin.domain.addresses import check_address, parse_sender
from hometwin.ports import AccessDenied, EmailMessage, Mailer, PortError, Unavailable

log = logging.getLogger(__name__)

_MESSAGE_ID = re.compile(r"^<[A-Za-z0-9._+-]{1,200}@[A-Za-z0-9.-]{1,100}>$")
_CONTENT_ID = re.compile(r"^[A-Za-z0-9._+-]{1,100}@[A-Za-z0-9.-]{1,100}$")
_FILENAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
SUBJECT_LIMIT = 200


def one_line(text: str, limit: int = SUBJECT_LIMIT) -> str:
    """Flatten data for a header: control characters and line breaks become spaces."""
    flat = " ".join(_CONTROL.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def build_mime(message: EmailMessage, sender: str, now: datetime | None = None) -> MimeMessage:
    """The RFC 5322 message: multipart/alternative (plain text first, then HTML); with images, the HTML
    is a multipart/related holding them, each referenced by its Content-ID."""
    if not message.to:
        raise ValueError("an e-mail needs at least one recipient")
    # 7-bit transfer encoding for bodies: safe through any relay, whatever it supports.
    mime = MimeMessage(policy=email.policy.SMTP.clone(cte_type="7bit"))
    from_address = parse_sender(sender)
    mime["From"] = from_address
    mime["To"] = [Address(username=a.split("@")[0], domain=a.split("@")[1])
                  for a in (check_address(a) for a in message.to)]
    mime["Subject"] = one_line(message.subject)
    mime["Date"] = format_datetime(now or datetime.now(UTC))
    if message.message_id is not None:
        if not _MESSAGE_ID.match(message.message_id):
            raise ValueError(f"message id must look like <id@domain>: {message.message_id!r}")
        mime["Message-ID"] = message.message_id
    else:
        mime["Message-ID"] = make_msgid(domain=from_address.domain)
    mime["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies to the twin
    mime.set_content(message.text)
    if message.html:
        mime.add_alternative(message.html, subtype="html")
        html_part = mime.get_body(preferencelist=("html",))
        for image in message.images:
            assert html_part is not None  # just added
            if not (_CONTENT_ID.match(image.cid) and _FILENAME.match(image.filename)
                    and image.subtype in ("png", "jpeg", "gif")):
                raise ValueError(f"an inline image needs a cid like local@domain, a plain file name and "
                                 f"png, jpeg or gif: {image.cid!r}")
            html_part.add_related(image.data, maintype="image", subtype=image.subtype, cid=f"<{image.cid}>",
                                  disposition="inline", filename=image.filename)
    elif message.images:
        raise ValueError("inline images need an HTML body to show them")
    return mime


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class SMTPMailer:
    """Sends each message over a fresh connection (alerts are rare; no idle connection to lose)."""

    def __init__(self, host: str, port: int, *, implicit_tls: bool, sender: str, starttls: str = "auto",
                 user: str | None = None, password: str | None = None, timeout: float = 10.0,
                 verify_tls: bool = True, ca_file: Path | None = None) -> None:
        if starttls not in ("auto", "required", "off"):
            raise ValueError(f"starttls must be auto, required or off, not {starttls!r}")
        parse_sender(sender)
        self.host, self.port, self.implicit_tls = host, port, implicit_tls
        self.sender, self.user, self._password = sender, user, password
        self.timeout, self.loopback = timeout, _is_loopback(host)
        if starttls == "auto":  # a server on this machine may offer no TLS; any other must
            starttls = "opportunistic" if self.loopback else "required"
        self.starttls = starttls
        self._context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        if not verify_tls:
            self._context.check_hostname = False
            self._context.verify_mode = ssl.CERT_NONE

    def __repr__(self) -> str:  # never shows the password
        scheme = "smtps" if self.implicit_tls else "smtp"
        return f"SMTPMailer({scheme}://{self.host}:{self.port}, user={self.user!r})"

    def send(self, message: EmailMessage) -> None:
        mime = build_mime(message, self.sender)
        where = f"{self.host}:{self.port}"
        try:
            if self.implicit_tls:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                      context=self._context)
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                encrypted = self.implicit_tls or self._start_tls(smtp, where)
                if self.user:
                    if not encrypted and not self.loopback:
                        raise PortError(f"refusing to send the SMTP password to {where} without TLS")
                    smtp.login(self.user, self._password or "")
                refused = smtp.send_message(mime, from_addr=mime["From"].addresses[0].addr_spec,
                                            to_addrs=list(message.to))
        except smtplib.SMTPAuthenticationError as exc:
            raise AccessDenied(f"SMTP server {where} refused the login: {exc.smtp_code}") from exc
        except smtplib.SMTPResponseException as exc:
            reply = exc.smtp_error
            reply = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
            raise PortError(f"SMTP server {where} refused the message: {exc.smtp_code} {reply}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise PortError(f"SMTP server {where} refused every recipient: {sorted(exc.recipients)}") from exc
        except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timed out, TLS failure ...
            raise Unavailable(f"SMTP server {where} unreachable: {exc}") from exc
        if refused:
            log.warning("SMTP server %s refused some recipients of %s: %s", where, message.message_id,
                        sorted(refused))

    def _start_tls(self, smtp: smtplib.SMTP, where: str) -> bool:
        smtp.ehlo()
        if self.starttls == "off":
            return False
        if smtp.has_extn("starttls"):
            smtp.starttls(context=self._context)
            smtp.ehlo()
            return True
        if self.starttls == "required":
            raise PortError(f"SMTP server {where} does not offer STARTTLS (HOMETWIN_SMTP_STARTTLS=required)")
        return False


class MaildirMailer:
    """Delivers into a Maildir folder: readable with any mail client (`mutt -f DIR`), no server needed."""

    def __init__(self, path: Path, sender: str) -> None:
        parse_sender(sender)
        self.path, self.sender = Path(path), sender

    def __repr__(self) -> str:
        return f"MaildirMailer({self.path})"

    def send(self, message: EmailMessage) -> None:
        mime = build_mime(message, self.sender)
        try:
            mailbox.Maildir(str(self.path), create=True).add(mime)
        except OSError as exc:
            raise Unavailable(f"cannot write the mail folder {self.path}: {exc}") from exc

    def messages(self) -> list[mailbox.MaildirMessage]:
        if not self.path.exists():
            return []
        return list(mailbox.Maildir(str(self.path), create=False))


@dataclass(frozen=True, slots=True)
class StoredMail:
    """One e-mail of a Maildir folder as a reader sees it; headers decoded, the plain-text body."""

    key: str
    subject: str
    to: str
    sender: str
    date: str  # the Date header as written
    text: str


def read_maildir(path: Path, limit: int | None = None) -> list[StoredMail]:
    """The e-mails of the Maildir folder at `path` (what a `MaildirMailer` wrote), newest first.

    A folder that does not exist yet holds no mail. A folder or message that cannot be read raises
    PortError naming the folder: one bad file is reported, not skipped, so nobody misses a mail.
    """
    if not Path(path).exists():
        return []
    try:
        box = mailbox.Maildir(str(path), create=False)
        dated = [_stored_mail(key, message) for key, message in box.items()]
    except (OSError, ValueError, LookupError, email.errors.MessageError) as exc:
        raise PortError(f"cannot read the mail folder {path}: {exc}") from exc
    dated.sort(key=lambda pair: pair[0], reverse=True)
    return [mail for _, mail in dated[:limit]]


def _stored_mail(key: str, message: Message) -> tuple[float, StoredMail]:
    """The mail and its date as a number to sort by (0 when the Date header is unreadable)."""
    text = ""
    for part in message.walk() if message.is_multipart() else [message]:
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                text = payload.decode(part.get_content_charset() or "utf-8", "replace")
                break
    mail = StoredMail(key=key, subject=_decoded_header(message, "Subject"), to=_decoded_header(message, "To"),
                      sender=_decoded_header(message, "From"), date=_decoded_header(message, "Date"), text=text)
    try:
        when = email.utils.parsedate_to_datetime(mail.date).timestamp()
    except (TypeError, ValueError):
        when = 0.0
    return when, mail


def _decoded_header(message: Message, name: str) -> str:
    raw = message.get(name)
    return str(email.header.make_header(email.header.decode_header(raw))) if raw else ""


@dataclass(frozen=True, slots=True)
class SmtpOptions:
    """How to send: explicit values, so this adapter needs no settings class (components/wiring.py
    builds them from `MailSettings`)."""

    sender: str = "HomeTwin <hometwin@localhost>"
    starttls: str = "auto"  # auto | required | off
    user: str | None = None
    password: str | None = None
    timeout: float = 10.0
    verify_tls: bool = True
    ca_file: Path | None = None


def open_mailer(url: str, options: SmtpOptions) -> Mailer:
    """The mailer a URL names; nothing connects until the first `send`."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "maildir":
        path = Path(unquote(parts.path))
        if parts.netloc not in ("", "localhost") or not path.is_absolute():
            raise ValueError(f"maildir URL must be maildir:///absolute/path, got {url!r}")
        return MaildirMailer(path, options.sender)
    if scheme in ("smtp", "smtps"):
        if parts.username or parts.password:
            raise ValueError("put SMTP credentials in HOMETWIN_SMTP_USER / HOMETWIN_SMTP_PASSWORD(_FILE), "
                             "not in the URL")
        if not parts.hostname:
            raise ValueError(f"SMTP URL needs a host: {url!r}")
        implicit = scheme == "smtps"
        return SMTPMailer(parts.hostname, parts.port or (465 if implicit else 587), implicit_tls=implicit,
                          sender=options.sender, starttls=options.starttls, user=options.user or None,
                          password=options.password, timeout=options.timeout, verify_tls=options.verify_tls,
                          ca_file=options.ca_file)
    raise ValueError(f"unsupported mail URL {url!r}: use smtp://host:port, smtps://host:port or "
                     "maildir:///path")
