"""The embedded event store (the default source): one SQLite file in WAL mode.

Events are keyed by (time in microseconds, sensor name, value), so appending the same events twice
stores them once (`append` returns how many were new); a re-import with another room mapping does not
duplicate them either (the first room stays). Sensor names, rooms and kinds live in a small side table
of channels; the event table is a `WITHOUT ROWID` table clustered by time, so a range query is one
index range scan. Millions of events fit comfortably (about 20 bytes each on disk).
"""

from __future__ import annotations

import sqlite3
import sys
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hometwin.domain.events import SensorEvent, SensorKind
from hometwin.ports import PortError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FLOAT_EXACT_MICROS = 4_102_444_800_000_000  # 2100-01-01 (see `_events`)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS channels (
    id INTEGER PRIMARY KEY,
    sensor TEXT NOT NULL,
    room TEXT NOT NULL,
    kind TEXT NOT NULL,
    nid INTEGER NOT NULL,        -- the same for every channel of one sensor name: the event key uses it
    UNIQUE (sensor, room, kind)
);
CREATE TABLE IF NOT EXISTS events (
    t INTEGER NOT NULL,          -- microseconds since 1970-01-01 UTC
    nid INTEGER NOT NULL,
    value REAL NOT NULL,
    cid INTEGER NOT NULL REFERENCES channels (id),
    PRIMARY KEY (t, nid, value)
) WITHOUT ROWID;
"""
_CHUNK = 20_000


def _micros(when: datetime) -> int:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"time {when.isoformat()} has no time zone")
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class SQLiteEventStore:
    """SensorSource and SensorSink on a local SQLite file. Safe to share between threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._by_id: dict[int, tuple[str, str, SensorKind]] = {}
        self._by_key: dict[tuple[str, str, str], tuple[int, int]] = {}  # -> (channel id, name id)
        self._nid: dict[str, int] = {}
        self._pending: list[tuple[str, str, str]] = []  # channels added by the open transaction

    def __repr__(self) -> str:
        return f"SQLiteEventStore({str(self.path)!r})"

    # -- connection ---------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        # Opened on first use, so building the store never touches the disk.
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across crashes of us
                conn.executescript(_SCHEMA)
            except (sqlite3.Error, OSError) as exc:
                raise PortError(f"cannot open event store {self.path}: {exc}") from exc
            self._conn = conn
            self._load_sensors()
        return self._conn

    def _load_sensors(self) -> None:
        # What reading needs, at every open. A fleet's monitoring opens each home's store at each check
        # and only reads: the names are interned (homes share room and sensor names, so a fleet holds
        # each once), and the writing side's maps are built at the first append (`_writing_maps`).
        assert self._conn is not None
        self._by_key.clear()
        self._nid.clear()
        self._by_id = {cid: (sys.intern(sensor), sys.intern(room), SensorKind(kind))
                       for cid, sensor, room, kind in self._conn.execute("SELECT id, sensor, room, kind FROM channels")}

    def _writing_maps(self, conn: sqlite3.Connection) -> None:
        if self._by_key or not self._by_id:
            return
        for cid, sensor, room, kind, nid in conn.execute("SELECT id, sensor, room, kind, nid FROM channels"):
            self._by_key[(sensor, room, kind)] = (cid, nid)
            self._nid[sensor] = nid

    def release(self) -> bool:
        """Close the connection if it is open and idle; the next use opens it again. For a fleet, which
        calls it after each home's check: an open connection costs some 145 KiB (SQLite's page cache
        and schema), a reopen well under a millisecond, so N homes keep no N connections between
        checks (docs/fleet.md "Measured"). Returns whether a connection was closed; one in use by
        another thread stays open (never waits, so a fleet never blocks behind a slow read)."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if self._conn is None:
                return False
            self._conn.close()
            self._conn = None
            return True
        finally:
            self._lock.release()

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> SQLiteEventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- SensorSink ---------------------------------------------------------------------------

    def append(self, events: Iterable[SensorEvent]) -> int:
        """Store events (any order, duplicates allowed); returns how many were new."""
        new = 0
        batch: list[tuple[int, int, float, int]] = []
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                self._writing_maps(conn)
                for event in events:
                    key = (event.sensor, event.room, event.kind.value)
                    ids = self._by_key.get(key) or self._new_channel(conn, key)
                    batch.append((_micros(event.time), ids[1], event.value, ids[0]))
                    if len(batch) >= _CHUNK:
                        new += self._insert(conn, batch)
                        batch.clear()
                new += self._insert(conn, batch)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                self._forget_uncommitted()
                raise
            finally:
                self._pending.clear()
        return new

    @staticmethod
    def _insert(conn: sqlite3.Connection, batch: list[tuple[int, int, float, int]]) -> int:
        before = conn.total_changes
        conn.executemany("INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?)", batch)
        return conn.total_changes - before

    def _new_channel(self, conn: sqlite3.Connection, key: tuple[str, str, str]) -> tuple[int, int]:
        cursor = conn.execute("INSERT INTO channels (sensor, room, kind, nid) VALUES (?, ?, ?, 0)", key)
        cid = int(cursor.lastrowid or 0)
        nid = self._nid.setdefault(key[0], cid)
        conn.execute("UPDATE channels SET nid = ? WHERE id = ?", (nid, cid))
        self._by_key[key] = (cid, nid)
        self._by_id[cid] = (key[0], key[1], SensorKind(key[2]))
        self._pending.append(key)
        return cid, nid

    def _forget_uncommitted(self) -> None:
        for key in self._pending:
            ids = self._by_key.pop(key, None)
            if ids is not None:
                self._by_id.pop(ids[0], None)
                if self._nid.get(key[0]) == ids[0]:
                    del self._nid[key[0]]

    # -- SensorSource -------------------------------------------------------------------------

    def _events(self, rows: Iterable[tuple[Any, ...]]) -> list[SensorEvent]:
        # Between 1970 and 2100, microseconds as float seconds are off by at most 0.25 us and
        # fromtimestamp rounds to the nearest microsecond: the exact time, in half the time of
        # `_EPOCH + timedelta(microseconds=t)` (reading a home-year: 285,000 events).
        by_id, at, trusted = self._by_id, datetime.fromtimestamp, SensorEvent.trusted
        out: list[SensorEvent] = []
        append = out.append
        for t, cid, value in rows:
            sensor, room, kind = by_id[cid]
            when = at(t / 1e6, UTC) if 0 <= t < _FLOAT_EXACT_MICROS else _EPOCH + timedelta(microseconds=t)
            append(trusted(when, sensor, room, kind, value))
        return out

    def read(self, start: datetime, end: datetime) -> list[SensorEvent]:
        """Events with start <= time < end, sorted by time."""
        with self._lock:
            rows = self._query("SELECT t, cid, value FROM events WHERE t >= ? AND t < ? "
                               "ORDER BY t, nid, value", (_micros(start), _micros(end)))
            return self._events(rows)

    def stream(self, start: datetime, end: datetime) -> Iterator[SensorEvent]:
        """Like `read`, fetched in chunks (keyset paging), so memory stays flat."""
        low, high = _micros(start), _micros(end)
        after: tuple[int, int, float] | None = None  # (t, nid, value) of the last row
        while True:
            with self._lock:
                if after is None:
                    rows = self._query("SELECT t, cid, value, nid FROM events WHERE t >= ? AND t < ? "
                                       "ORDER BY t, nid, value LIMIT ?", (low, high, _CHUNK))
                else:
                    rows = self._query("SELECT t, cid, value, nid FROM events "
                                       "WHERE (t, nid, value) > (?, ?, ?) AND t < ? "
                                       "ORDER BY t, nid, value LIMIT ?", (*after, high, _CHUNK))
                chunk = self._events(row[:3] for row in rows)
            yield from chunk
            if len(rows) < _CHUNK:
                return
            after = (rows[-1][0], rows[-1][3], rows[-1][2])

    def latest(self) -> SensorEvent | None:
        with self._lock:
            rows = self._query("SELECT t, cid, value FROM events ORDER BY t DESC, nid DESC, value DESC "
                               "LIMIT 1", ())
            return self._events(rows)[0] if rows else None

    def count(self) -> int:
        with self._lock:
            return int(self._query("SELECT count(*) FROM events", ())[0][0])

    def _query(self, sql: str, args: tuple[object, ...]) -> list[tuple[Any, ...]]:
        try:
            return self._connection().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise PortError(f"event store {self.path}: {exc}") from exc
