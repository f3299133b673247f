"""The ingest's durable local queue: events wait here (one SQLite file) until the store has them.

An MQTT message is acknowledged only after its event is committed here (synchronous=FULL: it survives
a power cut), and an event leaves only after the store accepted it, so neither a crash of the ingest
nor an outage of the store loses one. Bounded: `put` refuses a batch that would pass `limit`, and the
caller stops acknowledging (the broker keeps the rest in the session).

`receipts` remembers the time given to each recent message that carried none of its own, keyed by
topic and payload digest: a redelivered copy (MQTT's DUP flag) gets the same time, so its event is
identical and the store's idempotent write drops it.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hometwin.domain.events import SensorEvent, SensorKind
from hometwin.ports import PortError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    t INTEGER NOT NULL,            -- event time, microseconds since 1970 UTC
    sensor TEXT NOT NULL, room TEXT NOT NULL, kind TEXT NOT NULL, value REAL NOT NULL,
    time_source TEXT NOT NULL      -- payload or receive: where the time came from
);
CREATE TABLE IF NOT EXISTS receipts (
    topic TEXT NOT NULL, digest BLOB NOT NULL,
    t INTEGER NOT NULL,            -- the time given to the event, microseconds
    PRIMARY KEY (topic, digest)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS receipts_by_time ON receipts (t);
"""
RECEIPT_LIFETIME = timedelta(hours=24)


class BufferFull(PortError):
    """The buffer holds `limit` events: stop taking messages until the store drains it."""


def _micros(when: datetime) -> int:
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _time(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def digest(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=16).digest()


@dataclass(frozen=True, slots=True)
class Buffered:
    id: int
    event: SensorEvent
    time_source: str


@dataclass(frozen=True, slots=True)
class Receipt:
    """A message's topic and payload with the time its event was given (messages without a time)."""

    topic: str
    digest: bytes
    time: datetime


class IngestBuffer:
    """A FIFO of SensorEvents on disk. Safe to share between threads."""

    def __init__(self, path: str | Path, limit: int = 1_000_000) -> None:
        self.path = Path(path)
        self.limit = limit
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._depth = 0

    def __repr__(self) -> str:
        return f"IngestBuffer({str(self.path)!r}, limit={self.limit})"

    def open(self) -> IngestBuffer:
        with self._lock:
            self._connection()
        return self

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")  # an acknowledged message survives a power cut
                conn.executescript(_SCHEMA)
                self._depth = int(conn.execute("SELECT count(*) FROM queue").fetchone()[0])
            except (sqlite3.Error, OSError) as exc:
                raise PortError(f"cannot open the ingest buffer {self.path}: {exc}") from exc
            self._conn = conn
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @property
    def depth(self) -> int:
        """Events waiting for the store."""
        return self._depth

    def put(self, events: Sequence[tuple[SensorEvent, str]], receipts: Sequence[Receipt] = ()) -> None:
        """Commit events (with their time source) and receipts in one transaction; BufferFull when
        they would pass the limit (then nothing is written)."""
        if not events and not receipts:
            return
        with self._lock:
            if self._depth + len(events) > self.limit:
                raise BufferFull(f"the ingest buffer holds {self._depth} events (limit {self.limit})")
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(
                    "INSERT INTO queue (t, sensor, room, kind, value, time_source) VALUES (?, ?, ?, ?, ?, ?)",
                    [(_micros(e.time), e.sensor, e.room, e.kind.value, e.value, source) for e, source in events])
                conn.executemany("INSERT OR REPLACE INTO receipts VALUES (?, ?, ?)",
                                 [(r.topic, r.digest, _micros(r.time)) for r in receipts])
                conn.execute("COMMIT")
            except (sqlite3.Error, OSError) as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise PortError(f"cannot write the ingest buffer {self.path}: {exc}") from exc
            self._depth += len(events)

    def receipt(self, topic: str, payload_digest: bytes) -> datetime | None:
        """The time given to an earlier copy of this message, if it was seen in the last day."""
        with self._lock:
            row = self._connection().execute("SELECT t FROM receipts WHERE topic = ? AND digest = ?",
                                             (topic, payload_digest)).fetchone()
        return _time(int(row[0])) if row else None

    def peek(self, n: int) -> list[Buffered]:
        """The oldest `n` events, in arrival order."""
        with self._lock:
            rows = self._connection().execute(
                "SELECT id, t, sensor, room, kind, value, time_source FROM queue ORDER BY id LIMIT ?", (n,)).fetchall()
        return [Buffered(i, SensorEvent.trusted(_time(t), s, r, SensorKind(k), v), src)
                for i, t, s, r, k, v, src in rows]

    def remove(self, last_id: int, now: datetime | None = None) -> None:
        """Drop every event up to `last_id` (the store has them) and receipts older than a day."""
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                removed = conn.execute("DELETE FROM queue WHERE id <= ?", (last_id,)).rowcount
                if now is not None:
                    conn.execute("DELETE FROM receipts WHERE t < ?", (_micros(now - RECEIPT_LIFETIME),))
                conn.execute("COMMIT")
            except (sqlite3.Error, OSError) as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise PortError(f"cannot update the ingest buffer {self.path}: {exc}") from exc
            self._depth = max(0, self._depth - removed)
