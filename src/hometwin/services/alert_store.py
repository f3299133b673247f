"""Alert state on the ObjectStore port, so alerts survive restarts and live next to the models.

Keys (in the state store):
    state/<home>/alerts.json                  the AlertBook; written only by the monitoring
    state/<home>/acks/<alert id>.json         the acknowledgement of an alert's first episode,
    state/<home>/acks/<alert id>.<n>.json     ... and of its n-th (n >= 2); each is one write-once
                                              object written by the dashboard or API, which the
                                              monitoring merges at each check

Two processes therefore never write the same object: the dashboard never touches alerts.json,
and an acknowledgement cannot be lost to a concurrent save of the book. Stores keep every version
of an overwritten object, so the book is written only when it changed.

An acknowledgement counts for the episode it names and no other: when an alert resolves and its
incident comes back, the record of the earlier episode stays in the store but silences nothing.
Records written before episodes existed name none; they count only for an episode that began
before they were given (`AlertBook.acknowledge`).

Books are upgraded on load: version 1 (before episodes) by `upgrade_document`.

When the store fails, every method raises `PortError` naming the key. The stored book is still
the last good one; the monitoring goes on with the copy it holds in memory and on its disk, and
saves it when the store is back (`hometwin.services.book_keeper`).
"""

from __future__ import annotations

import copy
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hometwin.domain.alerts import AlertBook
from hometwin.ports import AlreadyExists, NotFound, ObjectStore, PortError
from hometwin.services.errors import CorruptAlertState, EpisodeOver
from hometwin.services.local_copy import digest

log = logging.getLogger(__name__)
_ALERT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_HOME_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")






@dataclass(frozen=True, slots=True)
class Ack:
    alert_id: str
    by: str
    at: datetime
    episode: int | None = None  # None: recorded before alerts had episodes

    def to_dict(self) -> dict[str, Any]:
        return {"alert_id": self.alert_id, "episode": self.episode, "by": self.by, "at": self.at.isoformat()}


def _ack_key(prefix: str, alert_id: str, episode: int) -> str:
    # The first episode keeps the key acknowledgements had before episodes existed.
    return f"{prefix}{alert_id}.json" if episode == 1 else f"{prefix}{alert_id}.{episode}.json"


class AlertStore:
    """The book and the acknowledgements of one home.

    It remembers each alert's episode from the book it last loaded or saved: that is the episode
    an acknowledgement without one is recorded for, and what `pending_acks` filters by.
    """

    def __init__(self, store: ObjectStore, home_id: str) -> None:
        if not _HOME_ID.fullmatch(home_id):
            raise ValueError(f"home id {home_id!r} is not valid")
        self._store = store
        self.home_id = home_id
        self.book_key = f"state/{home_id}/alerts.json"
        self.acks_prefix = f"state/{home_id}/acks/"
        self._last_saved: bytes | None = None
        self._acks_read: dict[str, Ack] = {}
        self._known: dict[str, tuple[int, datetime]] = {}  # alert id -> (episode, its opened_at)

    def load(self) -> AlertBook:
        """The stored book (upgraded if older), or an empty one when none was ever saved."""
        try:
            data = self._store.get(self.book_key).data
        except NotFound:
            self._known = {}
            self._last_saved = None
            return AlertBook()
        except (PortError, OSError) as exc:
            raise PortError(f"cannot read the alert state {self.book_key}: {exc}") from exc
        try:
            book = AlertBook.from_dict(upgrade_document(json.loads(data)))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # Never replace unreadable state with an empty book: that would silently drop alerts.
            raise CorruptAlertState(f"the alert state {self.book_key} is unreadable: {exc}") from exc
        self._last_saved = data
        self._remember(book)
        return book

    @property
    def stored_digest(self) -> str | None:
        """SHA-256 of the book as last loaded or saved (None: the store holds none), so a local copy
        can tell whether the stored book changed since it was taken (`services.local_copy`)."""
        return digest(self._last_saved)

    @property
    def store(self) -> ObjectStore:
        """The state store (the e-mail outbox's `sent` markers live there too)."""
        return self._store

    def save(self, book: AlertBook) -> bool:
        """Store the book; False when it was unchanged since the last load or save."""
        data = encode_book(book)
        if data == self._last_saved:
            return False
        try:
            self._store.put(self.book_key, data, {"content-type": "application/json"})
        except (PortError, OSError) as exc:
            raise PortError(f"cannot save the alert state {self.book_key}: {exc}") from exc
        self._last_saved = data
        self._remember(book)
        return True

    def record_ack(self, alert_id: str, by: str, at: datetime, episode: int | None = None) -> bool:
        """Record an acknowledgement of one episode (dashboard, API, e-mail link).

        Without `episode` it is for the alert's current episode in the book (an alert the book does
        not know, or an unreadable book, counts as episode 1: at worst the record is then ignored,
        it never silences a later episode). Raises EpisodeOver when `episode` is not the current
        one. False when that episode has an acknowledgement already.
        """
        if not _ALERT_ID.fullmatch(alert_id):
            raise ValueError(f"alert id {alert_id!r} is not valid")
        if at.tzinfo is None:
            raise ValueError("the acknowledgement time must be timezone-aware")
        if episode is not None and (isinstance(episode, bool) or not isinstance(episode, int) or episode < 1):
            raise ValueError(f"episode {episode!r} is not a whole number from 1")
        current = self._current_episode(alert_id)
        if episode is None:
            episode = current or 1
        elif current is not None and episode != current:
            raise EpisodeOver(alert_id, episode, current)
        ack = Ack(alert_id, str(by)[:200], at, episode)
        key = _ack_key(self.acks_prefix, alert_id, episode)
        try:
            self._store.put(key, json.dumps(ack.to_dict()).encode("utf-8"), overwrite=False)
        except AlreadyExists:
            return False
        except (PortError, OSError) as exc:
            raise PortError(f"cannot record the acknowledgement {key}: {exc}") from exc
        return True

    def pending_acks(self, book: AlertBook | None = None) -> list[Ack]:
        """The recorded acknowledgements that still count, oldest first.

        Left out: those for an episode that is over in `book` (default: the book this store last
        loaded or saved). `AlertBook.acknowledge` ignores repeats.
        """
        known = self._known if book is None else _episodes(book)
        acks: list[Ack] = []
        try:
            for key in self._store.list(self.acks_prefix):
                ack = self._acks_read.get(key)
                if ack is None:  # write-once objects: each is fetched once per process
                    ack = self._read_ack(key)
                if ack is not None and _still_counts(ack, known.get(ack.alert_id)):
                    acks.append(ack)
        except (PortError, OSError) as exc:
            raise PortError(f"cannot read acknowledgements under {self.acks_prefix}: {exc}") from exc
        return sorted(acks, key=lambda a: a.at)

    def _read_ack(self, key: str) -> Ack | None:
        data = self._store.get(key).data
        try:
            d = json.loads(data)
            episode = d.get("episode")
            if episode is not None and (isinstance(episode, bool) or not isinstance(episode, int) or episode < 1):
                raise ValueError(f"bad episode {episode!r}")
            ack = Ack(str(d["alert_id"]), str(d["by"]), datetime.fromisoformat(d["at"]), episode)
            if ack.at.tzinfo is None:
                raise ValueError("naive time")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # One bad object must not stop every later check; it stays in the store for inspection.
            log.error("ignoring unreadable acknowledgement %s: %s", key, exc)
            return None
        self._acks_read[key] = ack
        return ack

    def merge_acks(self, book: AlertBook) -> list[str]:
        """Apply the recorded acknowledgements to `book`; the ids of alerts that changed."""
        return [ack.alert_id for ack in self.pending_acks(book)
                if book.acknowledge(ack.alert_id, ack.by, ack.at, episode=ack.episode)]

    def _remember(self, book: AlertBook) -> None:
        self._known = _episodes(book)

    def _current_episode(self, alert_id: str) -> int | None:
        if alert_id not in self._known:
            try:
                self.load()
            except CorruptAlertState as exc:
                log.warning("cannot tell the episode of alert %s: %s", alert_id, exc)
        known = self._known.get(alert_id)
        return known[0] if known is not None else None


def encode_book(book: AlertBook) -> bytes:
    """The stored form of a book (its digest is what a local copy compares, `services.local_copy`)."""
    return json.dumps(book.to_dict(), sort_keys=True, separators=(",", ":")).encode("utf-8")


def _episodes(book: AlertBook) -> dict[str, tuple[int, datetime]]:
    return {alert.id: (alert.episode, alert.opened_at) for alert in book.history()}


def _still_counts(ack: Ack, known: tuple[int, datetime] | None) -> bool:
    if known is None:
        return True  # the book does not know the alert (yet, or no more): nothing to compare with
    episode, opened_at = known
    if ack.episode is None:
        return ack.at >= opened_at  # a record from before episodes, given during this episode
    return ack.episode == episode


# -- older books -------------------------------------------------------------------------------

def upgrade_document(document: dict[str, Any]) -> dict[str, Any]:
    """A stored book in the current format; older versions are converted, the input is left as is."""
    if not isinstance(document, dict):
        raise TypeError("an alert book is a JSON object")
    if document.get("schema_version") == 1:
        return _from_version_1(document)
    return document  # current, or unknown: AlertBook.from_dict names an unsupported version


def _from_version_1(document: dict[str, Any]) -> dict[str, Any]:
    """Version 1 had no episodes: number them from the log, and take back acknowledgements that
    an earlier episode's record gave to a later one (the bug episodes fix)."""
    upgraded = copy.deepcopy(document)
    for alert in upgraded.get("alerts", []):
        episode = 0
        for entry in alert.setdefault("log", []):
            if entry.get("event") in ("opened", "reopened"):
                episode += 1
            entry["episode"] = max(episode, 1)
        alert["episode"] = max(episode, 1)
        acknowledged_at = alert.get("acknowledged_at")
        if (alert.get("state") == "acknowledged" and acknowledged_at
                and datetime.fromisoformat(acknowledged_at) < datetime.fromisoformat(alert["opened_at"])):
            # Given before this episode began, so it was for an earlier one: this episode is
            # unacknowledged, and the next check reminds (and escalates) as it should have.
            alert["state"] = "notified" if alert.get("notified_at") else "open"
            alert["log"].append({"event": "ack_withdrawn", "at": alert["last_seen"], "episode": alert["episode"],
                                 "by": alert.get("acknowledged_by"), "given_at": acknowledged_at,
                                 "reason": "given for an earlier episode"})
            alert["acknowledged_at"] = alert["acknowledged_by"] = None
    upgraded["schema_version"] = 2  # a later version adds its own step after this one
    return upgraded
