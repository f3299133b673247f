"""Alert state on the ObjectStore port, so alerts survive restarts and live next to the models.

Keys (in the state store):
    state/<home>/alerts.json              the AlertBook; written only by the monitoring
    state/<home>/acks/<alert id>.json     one write-once object per acknowledgement, written by the
                                          dashboard or API; the monitoring merges them on each check

Two processes therefore never write the same object: the dashboard never touches alerts.json,
and an acknowledgement cannot be lost to a concurrent save of the book. Stores keep every version
of an overwritten object, so the book is written only when it changed.

When the store fails, every method raises `PortError` naming the key: the caller retries the
whole check later (the book in the store is still the last good one, so no alert is lost).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hometwin.domain.alerts import AlertBook
from hometwin.ports import AlreadyExists, NotFound, ObjectStore, PortError

log = logging.getLogger(__name__)
_ALERT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_HOME_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class CorruptAlertState(PortError):
    """The stored alert book cannot be read as an AlertBook; it is left as is for a human to inspect."""


@dataclass(frozen=True, slots=True)
class Ack:
    alert_id: str
    by: str
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"alert_id": self.alert_id, "by": self.by, "at": self.at.isoformat()}


class AlertStore:
    def __init__(self, store: ObjectStore, home_id: str) -> None:
        if not _HOME_ID.match(home_id):
            raise ValueError(f"home id {home_id!r} is not valid")
        self._store = store
        self.home_id = home_id
        self.book_key = f"state/{home_id}/alerts.json"
        self.acks_prefix = f"state/{home_id}/acks/"
        self._last_saved: bytes | None = None
        self._acks_read: dict[str, Ack] = {}

    def load(self) -> AlertBook:
        """The stored book, or an empty one when none was ever saved."""
        try:
            data = self._store.get(self.book_key).data
        except NotFound:
            return AlertBook()
        except (PortError, OSError) as exc:
            raise PortError(f"cannot read the alert state {self.book_key}: {exc}") from exc
        try:
            book = AlertBook.from_dict(json.loads(data))
        except (ValueError, KeyError, TypeError) as exc:
            # Never replace unreadable state with an empty book: that would silently drop alerts.
            raise CorruptAlertState(f"the alert state {self.book_key} is unreadable: {exc}") from exc
        self._last_saved = data
        return book

    def save(self, book: AlertBook) -> bool:
        """Store the book; False when it was unchanged since the last load or save."""
        data = json.dumps(book.to_dict(), sort_keys=True, separators=(",", ":")).encode("utf-8")
        if data == self._last_saved:
            return False
        try:
            self._store.put(self.book_key, data, {"content-type": "application/json"})
        except (PortError, OSError) as exc:
            raise PortError(f"cannot save the alert state {self.book_key}: {exc}") from exc
        self._last_saved = data
        return True

    def record_ack(self, alert_id: str, by: str, at: datetime) -> bool:
        """Record an acknowledgement (dashboard, API, e-mail link). False when one exists already."""
        if not _ALERT_ID.match(alert_id):
            raise ValueError(f"alert id {alert_id!r} is not valid")
        if at.tzinfo is None:
            raise ValueError("the acknowledgement time must be timezone-aware")
        ack = Ack(alert_id, str(by)[:200], at)
        key = f"{self.acks_prefix}{alert_id}.json"
        try:
            self._store.put(key, json.dumps(ack.to_dict()).encode("utf-8"), overwrite=False)
        except AlreadyExists:
            return False
        except (PortError, OSError) as exc:
            raise PortError(f"cannot record the acknowledgement {key}: {exc}") from exc
        return True

    def pending_acks(self) -> list[Ack]:
        """Every recorded acknowledgement, oldest first; `AlertBook.acknowledge` ignores repeats."""
        acks: list[Ack] = []
        try:
            for key in self._store.list(self.acks_prefix):
                ack = self._acks_read.get(key)
                if ack is None:  # write-once objects: each is fetched once per process
                    ack = self._read_ack(key)
                if ack is not None:
                    acks.append(ack)
        except (PortError, OSError) as exc:
            raise PortError(f"cannot read acknowledgements under {self.acks_prefix}: {exc}") from exc
        return sorted(acks, key=lambda a: a.at)

    def _read_ack(self, key: str) -> Ack | None:
        data = self._store.get(key).data
        try:
            d = json.loads(data)
            ack = Ack(str(d["alert_id"]), str(d["by"]), datetime.fromisoformat(d["at"]))
            if ack.at.tzinfo is None:
                raise ValueError("naive time")
        except (ValueError, KeyError, TypeError) as exc:
            # One bad object must not stop every later check; it stays in the store for inspection.
            log.error("ignoring unreadable acknowledgement %s: %s", key, exc)
            return None
        self._acks_read[key] = ack
        return ack

    def merge_acks(self, book: AlertBook) -> list[str]:
        """Apply the recorded acknowledgements to `book`; the ids of alerts that changed."""
        return [ack.alert_id for ack in self.pending_acks() if book.acknowledge(ack.alert_id, ack.by, ack.at)]
