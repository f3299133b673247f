"""The actuation core: turn an `EmergencyEvent` into exactly one e-mail, even through outages.

Delivery rules, stated up front:
- One e-mail per notification id. Before sending, the message is written write-once into the
  outbox (`state/<home>/mail/outbox/<id>.json`); after the mail server accepted it, a write-once
  marker `state/<home>/mail/sent/<id>.json` records that. A second delivery of the same event
  finds the marker (or loses the race for the outbox object) and sends nothing.
- The mail server down means: the message stays in the outbox and `flush_outbox()` retries it
  with exponential backoff (`HOMETWIN_MAIL_RETRY_INITIAL` doubling up to `..._MAX`), oldest first,
  for as long as it takes. Nothing is dropped.
- The state store down means: `handle` raises PortError before anything is sent, and the
  scheduler delivers the event again later.
- The one window left: a crash after the server accepted a message and before the marker is
  written sends that message again on restart, with the same Message-ID, which mail clients use
  to hide the copy.
- Only configured caregivers (HOMETWIN_CAREGIVERS) are ever mailed: the event's recipients
  choose among them, so the endpoint cannot be used to mail anyone else.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from hometwin.adapters.mail import one_line
from hometwin.config import MailSettings
from hometwin.domain.ack_links import ack_url, sign
from hometwin.domain.alerts import NotificationKind
from hometwin.domain.findings import Finding, FindingKind, Severity
from hometwin.domain.wording import duration_text
from hometwin.ports import AlreadyExists, EmailMessage, Mailer, NotFound, ObjectStore, PortError, Unavailable

log = logging.getLogger(__name__)

_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_TYPE_LABELS = {
    FindingKind.PROLONGED_STAY: "prolonged stay",
    FindingKind.UNUSUAL_SILENCE: "unusual silence",
    FindingKind.MISSING_ROUTINE: "missing routine",
    FindingKind.NOT_BACK_HOME: "not back home",
    FindingKind.UNUSUAL_FREQUENCY: "unusual frequency",
    FindingKind.SENSOR_DATA_MISSING: "sensor data missing",
}
_SEVERITY_LABELS = {Severity.EMERGENCY: "EMERGENCY", Severity.WARNING: "Warning", Severity.INFO: "Note"}
_COLOURS = {Severity.EMERGENCY: "#b00020", Severity.WARNING: "#a15c00", Severity.INFO: "#2b5797"}


class InvalidNotification(ValueError):
    """The event data is not a notification; the message names the field (HTTP 422 upstream)."""


class _Event(BaseModel):
    """The EmergencyEvent payload of `Notification.to_event_data()`, validated."""

    model_config = ConfigDict(extra="ignore")

    notification_id: str = Field(pattern=_SAFE_ID.pattern)
    alert_id: str = Field(pattern=_SAFE_ID.pattern)
    kind: NotificationKind
    type: FindingKind
    room: str | None = Field(None, max_length=100)
    severity: Severity
    evidence: dict[str, Any]
    message: str = Field(max_length=2000)
    recipients: list[str] = Field(default_factory=list, max_length=50)
    at: AwareDatetime


@dataclass(frozen=True, slots=True)
class FlushReport:
    sent: int = 0
    waiting: int = 0  # still in the outbox (retry not due yet, or the server is down)


def _safe_id(key: str) -> str:
    return key if _SAFE_ID.match(key) else "k" + hashlib.sha256(key.encode()).hexdigest()[:24]


class Notifier:
    def __init__(self, mailer: Mailer, store: ObjectStore, settings: MailSettings, *,
                 ack_link_lifetime: timedelta = timedelta(hours=48),
                 clock: Callable[[], datetime] | None = None) -> None:
        self.mailer, self.store, self.settings = mailer, store, settings
        self.ack_link_lifetime = ack_link_lifetime
        self._clock = clock or (lambda: datetime.now(UTC))
        self._zone = ZoneInfo(settings.tz)
        self._ack_key = settings.ack_key()
        self._dashboard = (settings.public_dashboard_url or "").rstrip("/") or None
        if self._dashboard and not self._dashboard.startswith(("https://", "http://")):
            raise ValueError("HOMETWIN_PUBLIC_DASHBOARD_URL must start with https:// or http://")
        if self._ack_key is not None:
            sign("a0", datetime.now(UTC), self._ack_key)  # fails now, not in an emergency, if too short
        self._prefix = f"state/{settings.home_id}/mail/"
        self._lock = threading.Lock()  # one send at a time: no two threads race on one message
        self._retry: dict[str, tuple[int, datetime]] = {}  # id -> (failed attempts, next try)
        self._outbox_may_hold_mail = True  # unknown after a start: the first flush looks
        self._unrecorded: dict[str, str] = {}  # sent, marker not yet written (store down): id -> time
        self._next_scan = datetime.min.replace(tzinfo=UTC)
        self._templates = jinja2.Environment(
            loader=jinja2.PackageLoader("hometwin", "templates/mail"),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
            keep_trailing_newline=True)

    # -- public ----------------------------------------------------------------------------------

    def handle(self, event_data: Mapping[str, Any], idempotency_key: str) -> str:
        """Send the e-mail of one notification: "sent", "duplicate", "queued" or "no_recipients"."""
        event = self._parse(event_data)
        recipients = self._recipients(event.recipients)
        if not recipients:
            log.error("notification %s not sent: no caregiver configured (HOMETWIN_CAREGIVERS)",
                      event.notification_id)
            return "no_recipients"
        subject, text, html = self._render_notification(event, recipients)
        return self._deliver(event.notification_id, recipients, subject, text, html, idempotency_key)

    def send_report(self, report: Mapping[str, Any], idempotency_key: str) -> str:
        """E-mail a behaviour-change report to every caregiver, once per idempotency key.

        `report`: `lines` (plain-language sentences), optional `title`, `period` (text) and
        `rooms` ({room: {"lines": [...]}}), as the modeling component summarises `compare_models`.
        """
        recipients = tuple(self.settings.caregivers)
        if not recipients:
            log.error("report %s not sent: no caregiver configured (HOMETWIN_CAREGIVERS)", idempotency_key)
            return "no_recipients"
        title = str(report.get("title") or "Weekly HomeTwin report: changes in the routine")
        rooms = report.get("rooms") or {}
        context = {
            "title": title, "subject": title, "period": str(report.get("period") or ""),
            "lines": [str(line) for line in report.get("lines") or []],
            "rooms": [(str(room), [str(line) for line in (data or {}).get("lines", [])])
                      for room, data in sorted(rooms.items()) if isinstance(data, Mapping)],
            "dashboard_url": self._dashboard, "home_id": self.settings.home_id, "recipients": recipients,
        }
        text = self._templates.get_template("report.txt").render(context)
        html = self._templates.get_template("report.html").render(context)
        subject = f"[HomeTwin {self.settings.home_id}] {title}"
        return self._deliver("report-" + _safe_id(idempotency_key), recipients, subject, text, html,
                             idempotency_key)

    def pending(self) -> list[str]:
        """Ids in the outbox not yet accepted by the mail server, oldest first."""
        def ids(folder: str) -> set[str]:
            return {k.rsplit("/", 1)[1].removesuffix(".json") for k in self.store.list(self._prefix + folder)}

        outbox, sent = ids("outbox/"), ids("sent/")
        entries = [self._entry(i) for i in sorted(outbox - sent)]
        return [e["id"] for e in sorted(entries, key=lambda e: e["queued_at"])]

    def flush_outbox(self) -> FlushReport:
        """Retry what is due in the outbox; call it periodically (the actuation does, every few seconds)."""
        with self._lock:
            self._record_sent()
        if not self._outbox_may_hold_mail and self._clock() < self._next_scan:
            return FlushReport()  # nothing queued here since the outbox was last found empty
        # Another process (say the modeling's report) may also queue: look at least once a minute.
        self._next_scan = self._clock() + timedelta(minutes=1)
        sent = waiting = 0
        server_down = False
        for message_id in self.pending():
            with self._lock:
                if self._was_sent(message_id):
                    continue  # sent by `handle` meanwhile
                if server_down or not self._due(message_id):
                    waiting += 1
                    continue
                outcome = self._try_send(self._entry(message_id))
            if outcome == "sent":
                sent += 1
            else:
                waiting += 1
                server_down = outcome == "unavailable"  # the rest waits for the next round
        if waiting == 0:
            self._outbox_may_hold_mail = False
        return FlushReport(sent, waiting)

    # -- delivery --------------------------------------------------------------------------------

    def _deliver(self, message_id: str, recipients: Sequence[str], subject: str, text: str, html: str,
                 idempotency_key: str) -> str:
        with self._lock:
            if self._was_sent(message_id):
                return "duplicate"
            entry = {"id": message_id, "to": list(recipients), "subject": subject, "text": text,
                     "html": html, "message_id": f"<{message_id}.{self.settings.home_id}@hometwin>",
                     "queued_at": self._clock().isoformat(), "idempotency_key": str(idempotency_key)[:200]}
            try:
                self._put(f"outbox/{message_id}.json", entry)
            except AlreadyExists:
                # Delivered twice while the first is still queued: retry it if due, never send a copy.
                if not self._due(message_id):
                    self._outbox_may_hold_mail = True
                    return "queued"
                entry = self._entry(message_id)
            if self._try_send(entry) == "sent":
                return "sent"
            self._outbox_may_hold_mail = True
            return "queued"

    def _try_send(self, entry: Mapping[str, Any]) -> str:
        message = EmailMessage(to=tuple(entry["to"]), subject=entry["subject"], text=entry["text"],
                               html=entry.get("html"), message_id=entry.get("message_id"))
        try:
            self.mailer.send(message)
        except PortError as exc:
            attempts = self._retry.get(entry["id"], (0, self._clock()))[0] + 1
            delay = min(self.settings.mail_retry_initial * 2 ** (attempts - 1), self.settings.mail_retry_max)
            self._retry[entry["id"]] = (attempts, self._clock() + timedelta(seconds=delay))
            log.warning("e-mail %s not sent (attempt %d, next in %.0f s): %s",
                        entry["id"], attempts, delay, exc)
            return "unavailable" if isinstance(exc, Unavailable) else "refused"
        self._retry.pop(entry["id"], None)
        self._unrecorded[entry["id"]] = self._clock().isoformat()
        self._record_sent()
        return "sent"

    def _record_sent(self) -> None:
        """Write the `sent` markers; while the store is down they wait here (and still count as sent)."""
        for message_id, sent_at in list(self._unrecorded.items()):
            try:
                self._put(f"sent/{message_id}.json", {"id": message_id, "sent_at": sent_at})
            except AlreadyExists:
                pass
            except (PortError, OSError) as exc:
                log.error("e-mail %s was sent but cannot be recorded yet: %s", message_id, exc)
                return
            del self._unrecorded[message_id]

    def _was_sent(self, message_id: str) -> bool:
        return message_id in self._unrecorded or self._exists(self._prefix + f"sent/{message_id}.json")

    def _due(self, message_id: str) -> bool:
        retry = self._retry.get(message_id)
        return retry is None or retry[1] <= self._clock()

    def _put(self, name: str, document: Mapping[str, Any]) -> None:
        data = json.dumps(document, sort_keys=True).encode("utf-8")
        self.store.put(self._prefix + name, data, {"content-type": "application/json"}, overwrite=False)

    def _entry(self, message_id: str) -> dict[str, Any]:
        return dict(json.loads(self.store.get(self._prefix + f"outbox/{message_id}.json").data))

    def _exists(self, key: str) -> bool:
        try:
            self.store.get(key)
        except NotFound:
            return False
        return True

    # -- content ---------------------------------------------------------------------------------

    def _parse(self, event_data: Mapping[str, Any]) -> _Event:
        try:
            event = _Event.model_validate(dict(event_data))
            Finding.from_dict(event.evidence)
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in err["loc"]) for err in exc.errors())
            raise InvalidNotification(f"invalid notification field(s): {fields}") from exc
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidNotification(f"invalid notification field: evidence ({exc})") from exc
        return event

    def _recipients(self, requested: Sequence[str]) -> tuple[str, ...]:
        configured = {a.lower(): a for a in self.settings.caregivers}
        chosen = tuple(dict.fromkeys(configured[r.lower()] for r in requested if r.lower() in configured))
        unknown = [r for r in requested if r.lower() not in configured]
        if unknown:
            log.warning("ignoring recipients not in HOMETWIN_CAREGIVERS: %d address(es)", len(unknown))
        return chosen or tuple(self.settings.caregivers)

    def _render_notification(self, event: _Event, recipients: Sequence[str]) -> tuple[str, str, str]:
        finding = Finding.from_dict(event.evidence)
        room = one_line(event.room, 60) if event.room else None
        type_label = _TYPE_LABELS.get(event.type, event.type.value.replace("_", " "))
        where = f"in the {room}" if room else "at home"
        headline = f"{_SEVERITY_LABELS[event.severity]} {where}: {type_label}"
        prefix = {NotificationKind.ALERT: "", NotificationKind.REMINDER: "Reminder - ",
                  NotificationKind.ESCALATION: "Escalated - "}.get(event.kind, "")
        if event.kind is NotificationKind.ALL_CLEAR:
            subject = f"All clear {where}: {type_label} is over"
        else:
            subject = prefix + headline
        ack, ack_expires = None, None
        if self._ack_key and self._dashboard and event.kind is not NotificationKind.ALL_CLEAR:
            expires = event.at + self.ack_link_lifetime
            ack, ack_expires = ack_url(self._dashboard, sign(event.alert_id, expires, self._ack_key)), expires
        context = {
            "subject": subject, "headline": headline, "kind": event.kind.value, "room": room,
            "room_label": room or "the whole home", "type_label": type_label.capitalize(),
            "message": event.message, "colour": _COLOURS[event.severity],
            "started_local": self._local(finding.started_at), "at_local": self._local(event.at),
            "observed": self._value(finding.kind, finding.observed),
            "expected": self._value(finding.kind, finding.expected),
            "threshold": self._value(finding.kind, finding.threshold),
            "percentile": f"{finding.percentile:.1f}".rstrip("0").rstrip(".") + "th",
            "ack_url": ack, "ack_expires_local": self._local(ack_expires) if ack_expires else None,
            "dashboard_url": self._dashboard, "home_id": self.settings.home_id,
            "recipients": recipients, "notification_id": event.notification_id,
        }
        text = self._templates.get_template("alert.txt").render(context)
        html = self._templates.get_template("alert.html").render(context)
        return f"[HomeTwin {self.settings.home_id}] {subject}", text, html

    def _local(self, when: datetime) -> str:
        return when.astimezone(self._zone).strftime("%a %d %b %Y, %H:%M %Z")

    @staticmethod
    def _value(kind: FindingKind, value: float) -> str:
        if kind is FindingKind.UNUSUAL_FREQUENCY:
            return f"{value:.1f}".rstrip("0").rstrip(".") + " times"
        if kind is FindingKind.MISSING_ROUTINE:  # minutes after local midnight
            minutes = int(round(value)) % (24 * 60)
            return f"{minutes // 60:02d}:{minutes % 60:02d}"
        return duration_text(value)


