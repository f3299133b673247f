"""The monitoring's alert book, kept in memory and on its own disk, so that alerting goes on while
the state store is down, and through a restart during such an outage.

At each check `open()` gives the book to advance: the stored one (loaded again, so a restart or
an edit is seen), or, while the store fails or the book holds changes the store has not got yet,
the one in memory (the last loaded or saved book, advanced at every check since). `save()` writes
it, or keeps it in memory when the store fails; the first check after the store is back merges the
acknowledgements recorded meanwhile and saves. Only the monitoring writes the book, so the copy in
memory is never older than the stored one.

With a local copy (`services.local_copy`, the monitoring's data dir) every saved book is also
written to disk, after the check published its notifications, as the store is (ids are stable, so a
crash in between makes the next check publish the same ids again, which the outbox drops). A
monitoring that starts without a book in memory takes the local one: while the store is down it
alerts from it (`on_local`); once the store answers, the local book wins only if it holds unsaved
changes and the store still holds the book it descends from (`base`); otherwise the stored one
wins. Without a local copy a monitoring that starts while the store is down has no book, and its
checks answer `retry` until the store is back. An unreadable stored book (CorruptAlertState) is
never replaced.

`confirm()` asks the e-mail outbox's `sent` markers which undelivered notifications the mail
server accepted (`hometwin.services.outbox.delivered`) and marks them delivered in the book.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from hometwin.domain.alerts import AlertBook
from hometwin.ports import PortError
from hometwin.services.alert_store import AlertStore, encode_book, upgrade_document
from hometwin.services.errors import CorruptAlertState
from hometwin.services.local_copy import LocalCopy, digest
from hometwin.services.outbox import delivered

log = logging.getLogger(__name__)

Delivered = Callable[[Iterable[str]], set[str]]


class BookKeeper:
    def __init__(self, alerts: AlertStore, *, sent: Delivered | None = None, local: LocalCopy | None = None) -> None:
        self.alerts = alerts
        self.sent: Delivered = sent or (lambda ids: delivered(alerts.store, alerts.home_id, ids))
        self.local = local
        self.book: AlertBook | None = None
        self.unsaved = False  # the book in memory has changes only it holds
        self.base: str | None = None  # digest of the stored book `book` descends from
        self.on_local = False  # `book` came from the local copy; the store has not been compared yet
        self.tried: tuple[str, ...] = ()  # digests of books whose store write failed since `base` (may have landed)
        self._restored = False
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
        if self.book is None and self.local is not None and not self._restored:
            self._restored = True
            self._restore_local()
        if not self.unsaved or self.book is None or self.on_local:
            try:
                stored = self.alerts.load()
            except CorruptAlertState:
                raise
            except PortError as exc:
                self._down(exc, now)
                if self.book is None:
                    raise
                return self.book
            self.book = self._reconcile(stored) if self.on_local else stored
            if not self.unsaved:
                self.base = self.alerts.stored_digest
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
        """Store the book; False when it stays in memory (and the local copy) only, to be saved later."""
        self.book = book
        if not self._failed:
            try:
                self.alerts.save(book)
            except PortError as exc:
                self._down(exc, now)
                # A write that timed out may still land: a later comparison must know it as ours.
                self.tried = (*self.tried, digest(encode_book(book)) or "")[-8:]
            else:
                if self.unsaved:
                    log.info("alert book saved again after the state store outage")
                self.unsaved = False
                self.base, self.tried = self.alerts.stored_digest, ()
                self._keep_local(book, now)
                return True
        self.unsaved = True
        self._keep_local(book, now)
        return False

    def _keep_local(self, book: AlertBook, now: datetime) -> None:
        if self.local is not None:
            self.local.save_book(book.to_dict(), base=self.base, unsaved=self.unsaved, now=now, tried=self.tried)

    def _restore_local(self) -> None:
        """Take the local book as the one held (before the store was asked: it may be down)."""
        assert self.local is not None
        copy = self.local.load_book()
        if copy is None:
            return
        try:
            book = AlertBook.from_dict(upgrade_document(copy.book))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.error("ignoring the local alert book %s: unreadable: %s", self.local.book_path, exc)
            return
        self.book, self.base, self.unsaved, self.on_local = book, copy.base, copy.unsaved, True
        self.tried = copy.tried
        log.warning("alert book taken from the local copy %s (written %s%s)", self.local.book_path,
                    copy.written_at.isoformat() if copy.written_at else "?",
                    ", with changes the state store has not got" if copy.unsaved else "")

    def _reconcile(self, stored: AlertBook) -> AlertBook:
        """The store answers again after the book came from the local copy: which one goes on."""
        assert self.book is not None
        self.on_local = False
        stored_digest = self.alerts.stored_digest
        if self.unsaved and (stored_digest == self.base or stored_digest in self.tried):
            log.info("alert book: the local copy's changes made while the state store was away are kept and saved")
            return self.book
        if self.unsaved:
            log.warning("the stored alert book changed since the local copy was written (another monitoring "
                        "wrote it): the stored one goes on, the local changes are dropped")
        self.unsaved, self.tried = False, ()
        return stored

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
