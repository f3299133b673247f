"""The exactly-once e-mail outbox, the actuation core: each `EmergencyEvent` (and each weekly
report) becomes exactly one e-mail, even through outages. What the e-mails say is
`hometwin.services.messages`.

Delivery rules, stated up front:
- One e-mail per notification id. Before sending, the message is written write-once into the
  outbox (`state/<home>/mail/outbox/<id>.json`); after the mail server accepted it, a write-once
  marker `state/<home>/mail/sent/<id>.json` records that. A second delivery of the same event
  finds the marker (or loses the race for the outbox object) and sends nothing. The marker is
  what "sent" means for the rest of HomeTwin: the monitoring re-drives a notification until it
  exists (`delivered`).
- Each attempt to send is claimed first with a lease in the store (`hometwin.services.mail_lease`),
  so two actuation processes (a rolling update) never send the same id together.
- The mail server down means: the message stays in the outbox and `flush_outbox()` retries it
  with exponential backoff (`HOMETWIN_MAIL_RETRY_INITIAL` doubling up to `..._MAX`), oldest first,
  for as long as it takes. Nothing is dropped.
- The state store down means: the e-mail is sent anyway, without the exactly-once check, because a
  duplicate e-mail is better than a missing one. Such a send is counted (`counts.unchecked`) and
  logged; the process remembers it (a redelivery sends nothing) and writes its marker when the
  store is back; if a marker was there already, the copy is counted as a duplicate
  (`counts.duplicates`). Store and mail server both down: `handle` raises `Unavailable` and the
  event is delivered again later.
- The one window left with the store up: a crash after the server accepted a message and before
  the marker is written sends that message again once the lease expired, with the same
  Message-ID, which mail clients use to hide the copy.
- Only configured caregivers (HOMETWIN_CAREGIVERS) are ever mailed: the event's recipients
  choose among them, so the endpoint cannot be used to mail anyone else.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hometwin.backoff import Backoff
from hometwin.config import MailSettings
from hometwin.ports import (
    AlreadyExists,
    EmailMessage,
    InlineImage,
    Mailer,
    NotFound,
    ObjectStore,
    PortError,
    Unavailable,
)
from hometwin.services.mail_lease import SendLeases
from hometwin.services.messages import SAFE_ID, MailRenderer, parse_notification

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FlushReport:
    sent: int = 0
    waiting: int = 0  # still in the outbox (retry not due yet, or the server is down)


@dataclass(slots=True)
class SendCounts:
    """What this process did since it started (the actuation's /status shows it)."""

    sent: int = 0  # accepted by the mail server
    unchecked: int = 0  # sent while the state store was down: may duplicate an earlier send
    duplicates: int = 0  # sends found afterwards to have been a second copy (the marker existed)
    busy: int = 0  # attempts left to another process holding the lease

    def to_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "unchecked": self.unchecked, "duplicates": self.duplicates, "busy": self.busy}


class _StoreDown(Exception):
    """The state store failed during a delivery; carries the store's error."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def marker_key(home_id: str, message_id: str) -> str:
    """Where the `sent` marker of one e-mail lives in the state store."""
    return f"state/{home_id}/mail/sent/{message_id}.json"


def delivered(store: ObjectStore, home_id: str, ids: Iterable[str]) -> set[str]:
    """Which of these notification ids the mail server accepted (their `sent` marker exists).

    The read API for the monitoring, which re-drives a notification until it is delivered.
    Raises PortError when the store cannot say.
    """
    found = set()
    for message_id in ids:
        if not SAFE_ID.match(message_id):
            continue  # never a key of ours
        try:
            store.get(marker_key(home_id, message_id))
        except NotFound:
            continue
        except OSError as exc:
            raise PortError(f"cannot read the sent marker of {message_id}: {exc}") from exc
        found.add(message_id)
    return found


def _message(entry: Mapping[str, Any]) -> EmailMessage:
    images = tuple(InlineImage(i["cid"], base64.b64decode(i["data"]), i["filename"], i.get("subtype", "png"))
                   for i in entry.get("images", ()))
    return EmailMessage(to=tuple(entry["to"]), subject=entry["subject"], text=entry["text"],
                        html=entry.get("html"), message_id=entry.get("message_id"), images=images)


def _safe_id(key: str) -> str:
    return key if SAFE_ID.match(key) else "k" + hashlib.sha256(key.encode()).hexdigest()[:24]


class Notifier:
    """Mails caregivers through the durable outbox in `store` (delivery rules: this module's docstring).

    `handle` raises `messages.InvalidNotification` for event data that is not a notification.
    """

    def __init__(self, mailer: Mailer, store: ObjectStore, settings: MailSettings, *,
                 ack_link_lifetime: timedelta = timedelta(hours=48),
                 clock: Callable[[], datetime] | None = None, owner: str | None = None) -> None:
        self.mailer, self.store, self.settings = mailer, store, settings
        self._clock = clock or (lambda: datetime.now(UTC))
        self.messages = MailRenderer(home_id=settings.home_id, tz=settings.tz,
                                     dashboard_url=settings.public_dashboard_url, ack_key=settings.ack_key(),
                                     ack_link_lifetime=ack_link_lifetime)
        self._prefix = f"state/{settings.home_id}/mail/"
        self.leases = SendLeases(store, self._prefix, ttl=timedelta(seconds=settings.mail_lease_seconds),
                                 clock=self._clock, owner=owner)
        self.counts = SendCounts()
        self.store_error: str | None = None  # the state store's last failure, while it lasts
        self._lock = threading.Lock()  # one send at a time: no two threads race on one message
        self._retry: dict[str, tuple[int, datetime]] = {}  # id -> (failed attempts, next try)
        self._outbox_may_hold_mail = True  # unknown after a start: the first flush looks
        self._queued = 0  # messages queued by deliveries so far: a flush that saw fewer must look again
        # Sent, marker not yet written (store down): id -> (time, sent without the store's check)
        self._unrecorded: dict[str, tuple[str, bool]] = {}
        self._next_scan = datetime.min.replace(tzinfo=UTC)

    # -- public ----------------------------------------------------------------------------------

    def handle(self, event_data: Mapping[str, Any], idempotency_key: str) -> str:
        """Send the e-mail of one notification: "sent", "duplicate", "queued" or "no_recipients"."""
        event = parse_notification(event_data)
        recipients = self._recipients(event.recipients)
        if not recipients:
            log.error("notification %s not sent: no caregiver configured (HOMETWIN_CAREGIVERS)",
                      event.notification_id)
            return "no_recipients"
        mail = self.messages.notification(event, recipients)
        return self._deliver(event.notification_id, recipients, mail.subject, mail.text, mail.html,
                             idempotency_key)

    def send_report(self, report: Mapping[str, Any], idempotency_key: str) -> str:
        """E-mail a behaviour-change report to every caregiver, once per idempotency key.

        `report`: `lines` (plain-language sentences), optional `title`, `period` (text),
        `rooms` ({room: {"lines": [...]}}), as the modeling component summarises `compare_models`,
        and `trends` (a `services.trend_digest` digest: the change sentences and a chart per indicator).
        """
        recipients = tuple(self.settings.caregivers)
        if not recipients:
            log.error("report %s not sent: no caregiver configured (HOMETWIN_CAREGIVERS)", idempotency_key)
            return "no_recipients"
        message_id = "report-" + _safe_id(idempotency_key)
        # Drawing the trend charts takes seconds on a Raspberry Pi: a redelivery of a report already
        # sent (say after a scheduler timeout) answers before drawing. `_deliver` checks again anyway.
        with contextlib.suppress(PortError, OSError):
            if self._was_sent(message_id):
                return "duplicate"
        mail = self.messages.report(report, recipients)
        return self._deliver(message_id, recipients, mail.subject, mail.text, mail.html, idempotency_key,
                             mail.images)

    def pending(self) -> list[str]:
        """Ids in the outbox not yet accepted by the mail server, oldest first."""
        def ids(folder: str) -> set[str]:
            return {k.rsplit("/", 1)[1].removesuffix(".json") for k in self.store.list(self._prefix + folder)}

        outbox, sent = ids("outbox/"), ids("sent/")
        entries = [self._entry(i) for i in sorted(outbox - sent)]
        return [e["id"] for e in sorted(entries, key=lambda e: e["queued_at"])]

    def status(self) -> dict[str, Any]:
        """What the actuation's /status shows: counts, the store's state, markers still to write."""
        return {"counts": self.counts.to_dict(), "state_store_error": self.store_error,
                "sent_not_recorded": sorted(self._unrecorded)}

    def flush_outbox(self) -> FlushReport:
        """Retry what is due in the outbox; call it periodically (the actuation does, every few seconds)."""
        with self._lock:
            self._record_sent()
            queued_before = self._queued
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
                outcome = self._send_claimed(self._entry(message_id))
            if outcome in ("sent", "duplicate"):
                sent += outcome == "sent"
            else:
                waiting += 1
                server_down = outcome == "unavailable"  # the rest waits for the next round
        with self._lock:
            # Only what was queued before the outbox was listed is known to be out: a delivery queued
            # meanwhile keeps the outbox marked, so the next flush retries it when due.
            if waiting == 0 and self._queued == queued_before:
                self._outbox_may_hold_mail = False
        return FlushReport(sent, waiting)

    # -- delivery --------------------------------------------------------------------------------

    def _deliver(self, message_id: str, recipients: Sequence[str], subject: str, text: str, html: str,
                 idempotency_key: str, images: Sequence[InlineImage] = ()) -> str:
        entry: dict[str, Any] = {
            "id": message_id, "to": list(recipients), "subject": subject, "text": text,
            "html": html, "message_id": f"<{message_id}.{self.settings.home_id}@hometwin>",
            "queued_at": self._clock().isoformat(), "idempotency_key": str(idempotency_key)[:200]}
        if images:  # the outbox entry is the whole e-mail: a retry after a restart sends the same pictures
            entry["images"] = [{"cid": i.cid, "filename": i.filename, "subtype": i.subtype,
                                "data": base64.b64encode(i.data).decode("ascii")} for i in images]
        with self._lock:
            try:
                outcome = self._deliver_durably(entry)
            except _StoreDown as down:
                return self._deliver_unchecked(entry, down.error)
            self._store_is_back()
            return outcome

    def _deliver_durably(self, entry: dict[str, Any]) -> str:
        message_id = entry["id"]
        try:
            if self._was_sent(message_id):
                return "duplicate"
            try:
                self._put(f"outbox/{message_id}.json", entry)
            except AlreadyExists:
                # Delivered twice while the first is still queued: retry it if due, never send a copy.
                if not self._due(message_id):
                    self._mark_queued()
                    return "queued"
                entry = self._entry(message_id)
            outcome = self._send_claimed(entry)
        except (PortError, OSError) as exc:
            raise _StoreDown(exc) from exc
        if outcome in ("sent", "duplicate"):
            return outcome
        self._mark_queued()
        return "queued"

    def _mark_queued(self) -> None:
        self._outbox_may_hold_mail = True
        self._queued += 1

    def _deliver_unchecked(self, entry: Mapping[str, Any], store_error: BaseException) -> str:
        """The state store is down: send without the exactly-once check (a copy beats a silence)."""
        message_id = entry["id"]
        self._store_is_down(store_error)
        if message_id in self._unrecorded:
            return "duplicate"  # this process sent it already
        try:
            self.mailer.send(_message(entry))
        except PortError as exc:
            raise Unavailable(f"state store unavailable ({store_error}) and the e-mail could not be sent "
                              f"either: {exc}") from exc
        self.counts.sent += 1
        self.counts.unchecked += 1
        log.warning("state store unavailable: e-mail %s sent without the exactly-once check; it may "
                    "duplicate one sent before (unchecked sends so far: %d)", message_id, self.counts.unchecked)
        self._unrecorded[message_id] = (self._clock().isoformat(), True)
        return "sent"

    def _send_claimed(self, entry: Mapping[str, Any]) -> str:
        """Claim the next attempt, then send: "sent", "duplicate", "busy", "unavailable" or "refused".

        Store failures propagate (the caller decides); mail-server failures are outcomes.
        """
        message_id = entry["id"]
        lease = self.leases.claim(message_id)
        if lease is None:
            self.counts.busy += 1
            return "busy"  # another process is sending it right now
        if self._was_sent(message_id):
            return "duplicate"  # the previous holder sent it before its lease ran out
        try:
            self.mailer.send(_message(entry))
        except PortError as exc:
            attempts = self._retry.get(message_id, (0, self._clock()))[0] + 1
            delay = Backoff(self.settings.mail_retry_initial, self.settings.mail_retry_max).delay(attempts)
            self._retry[message_id] = (attempts, self._clock() + timedelta(seconds=delay))
            log.warning("e-mail %s not sent (attempt %d, next in %.0f s): %s", message_id, attempts, delay, exc)
            with contextlib.suppress(PortError, OSError):  # unreleased, it simply expires
                self.leases.release(lease)
            return "unavailable" if isinstance(exc, Unavailable) else "refused"
        self._retry.pop(message_id, None)
        self.counts.sent += 1
        self._unrecorded[message_id] = (self._clock().isoformat(), False)
        self._record_sent()
        return "sent"

    def _record_sent(self) -> None:
        """Write the `sent` markers; while the store is down they wait here (and still count as sent)."""
        for message_id, (sent_at, unchecked) in list(self._unrecorded.items()):
            try:
                self._put(f"sent/{message_id}.json", {"id": message_id, "sent_at": sent_at})
            except AlreadyExists:
                # Someone recorded it first: the e-mail went out twice (same Message-ID).
                self.counts.duplicates += 1
                log.warning("e-mail %s was sent twice (%s); duplicates so far: %d", message_id,
                            "while the state store was down" if unchecked else "a lease ran out mid-send",
                            self.counts.duplicates)
            except (PortError, OSError) as exc:
                self._store_is_down(exc)
                log.error("e-mail %s was sent but cannot be recorded yet: %s", message_id, exc)
                return
            del self._unrecorded[message_id]
        self._store_is_back()

    def _store_is_down(self, exc: BaseException) -> None:
        if self.store_error is None:
            log.error("state store unavailable: e-mails go out without the exactly-once check until it "
                      "is back: %s", exc)
        self.store_error = str(exc)[:300]

    def _store_is_back(self) -> None:
        if self.store_error is not None and not self._unrecorded:
            log.info("state store is back: exactly-once e-mail again")
            self.store_error = None

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

    # -- who is mailed ---------------------------------------------------------------------------

    def _recipients(self, requested: Sequence[str]) -> tuple[str, ...]:
        configured = {a.lower(): a for a in self.settings.caregivers}
        chosen = tuple(dict.fromkeys(configured[r.lower()] for r in requested if r.lower() in configured))
        unknown = [r for r in requested if r.lower() not in configured]
        if unknown:
            log.warning("ignoring recipients not in HOMETWIN_CAREGIVERS: %d address(es)", len(unknown))
        return chosen or tuple(self.settings.caregivers)
