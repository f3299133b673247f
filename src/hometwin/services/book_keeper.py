"""The monitoring's alert book, kept in memory so that alerting goes on while the state store is down.

At each check `open()` gives the book to advance: the stored one (loaded again, so a restart or
an edit is seen), or, while the store fails or the book holds changes the store has not got yet,
the one in memory (the last loaded or saved book, advanced at every check since). `save()` writes
it, or keeps it in memory when the store fails; the first check after the store is back merges the
acknowledgements recorded meanwhile and saves. Only the monitoring writes the book, so the copy in
memory is never older than the stored one.

`confirm()` asks the e-mail outbox's `sent` markers which undelivered notifications the mail
server accepted (`hometwin.services.outbox.delivered`) and marks them delivered in the book.

A monitoring that starts while the store is down has no book to keep (and, with the models in
the same store, no model either): its checks answer `retry` until the store is back. An unreadable
stored book (CorruptAlertState) is never replaced.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from hometwin.domain.alerts import AlertBook
from hometwin.ports import PortError
from hometwin.services.alert_store import AlertStore
from hometwin.services.errors import CorruptAlertState
from hometwin.services.outbox import delivered

log = logging.getLogger(__name__)

Delivered = Callable[[Iterable[str]], set[str]]


class BookKeeper:
    def __init__(self, alerts: AlertStore, *, sent: Delivered | None = None) -> None:
        self.alerts = alerts
        self.sent: Delivered = sent or (lambda ids: delivered(alerts.store, alerts.home_id, ids))
        self.book: AlertBook | None = None
        self.unsaved = False  # the book in memory has changes only it holds
        self.store_error: str | None = None
        self.store_down_since: datetime | None = None
        self._failed = False  # the store failed during the current check

    @property
    def store_ok(self) -> bool:
        return self.store_error is None

    def open(self, now: datetime) -> AlertBook:
        """The book to advance now; raises PortError when there is none (never loaded, or corrupt).

        The store is asked once per check here; when it fails, `confirm` and `save` of the same
        check do not wait for it again (an unreachable S3 may take its full timeout per call).
        """
        self._failed = False
        if not self.unsaved or self.book is None:
            try:
                self.book = self.alerts.load()
            except CorruptAlertState:
                raise
            except PortError as exc:
                self._down(exc, now)
                if self.book is None:
                    raise
                return self.book
        try:
            self.alerts.merge_acks(self.book)  # also what finds the store back while the book waits
        except PortError as exc:
            self._down(exc, now)
        else:
            self._up()
        return self.book

    def confirm(self, book: AlertBook, now: datetime) -> list[str]:
        """Mark delivered what the mail server accepted; nothing while the store is down."""
        waiting = [d.notification.id for d in book.undelivered()]
        if not waiting or self._failed:
            return []
        try:
            sent = self.sent(waiting)
        except PortError as exc:
            self._down(exc, now)
            return []
        return book.delivered([i for i in waiting if i in sent], now)

    def save(self, book: AlertBook, now: datetime) -> bool:
        """Store the book; False when it stays in memory only (store down), to be saved later."""
        self.book = book
        if not self._failed:
            try:
                self.alerts.save(book)
            except PortError as exc:
                self._down(exc, now)
            else:
                if self.unsaved:
                    log.info("alert book saved again after the state store outage")
                self.unsaved = False
                return True
        self.unsaved = True
        return False

    def _down(self, exc: BaseException, now: datetime) -> None:
        self._failed = True
        if self.store_error is None:
            log.error("alert state store unavailable: the alert book is kept in memory and saved when it "
                      "is back: %s", exc)
            self.store_down_since = now
        self.store_error = str(exc)[:300]

    def _up(self) -> None:
        if self.store_error is not None:
            log.info("alert state store answers again (down since %s)",
                     self.store_down_since.isoformat() if self.store_down_since else "?")
        self.store_error = None
        self.store_down_since = None
