"""Durable scheduler state in SQLite (WAL): functions, join queues, the outbox, dropped events.

One `SchedulerStore` is used by exactly one thread (the writer, see writer.py). `apply` runs a
batch of commands in ONE transaction, so an event, the join state it changes and the outbox rows
it creates are committed together, and many concurrent events share one fsync (group commit).
The `JoinBook` in memory mirrors the tables; if a commit fails it is rebuilt from the database.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hometwin.scheduler.core import Dropped, FunctionSpec, JoinBook, QueuedEvent, Registration

log = logging.getLogger("hometwin.scheduler.store")

SCHEMA = """
CREATE TABLE IF NOT EXISTS functions (
    name TEXT PRIMARY KEY, spec TEXT NOT NULL, last_invoke INTEGER);
CREATE TABLE IF NOT EXISTS queued (
    function TEXT NOT NULL, seq INTEGER NOT NULL, event_id TEXT NOT NULL, name TEXT NOT NULL,
    data TEXT NOT NULL, timestamp TEXT NOT NULL, received_at REAL NOT NULL,
    PRIMARY KEY (function, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS invocations (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, function TEXT NOT NULL, url TEXT NOT NULL,
    method TEXT NOT NULL, mock INTEGER NOT NULL, body TEXT NOT NULL, event_ids TEXT NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, last_error TEXT);
CREATE INDEX IF NOT EXISTS invocations_by_status ON invocations (status, seq);
CREATE TABLE IF NOT EXISTS dropped (
    event_id TEXT NOT NULL, function TEXT NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL,
    timestamp TEXT NOT NULL, received_at REAL NOT NULL, reason TEXT NOT NULL, dropped_at REAL NOT NULL);
"""

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


def course_timestamp(epoch: float) -> str:
    """The course scheduler's event timestamp format, in UTC: `2024-05-01T12:00:00+0000`."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S%z")


def sqlite_path(url: str) -> Path:
    """`sqlite:///abs/path.sqlite` (or a plain path) -> Path."""
    if url.startswith("sqlite:///"):
        return Path("/" + url.removeprefix("sqlite://").lstrip("/"))
    if url.startswith("sqlite://"):
        raise ValueError(f"state URL {url!r}: use sqlite:///absolute/path.sqlite (three slashes)")
    if "://" in url:
        raise ValueError(f"state URL {url!r}: only sqlite:/// is supported")
    return Path(url)


@dataclass(frozen=True, slots=True)
class Invocation:
    """One outbox row: everything needed to deliver it, even after its function is deleted."""

    id: str
    function: str
    url: str
    method: str
    mock: bool
    body: str  # the JSON text sent, encoded once at the join
    event_ids: tuple[str, ...]
    created_at: float
    attempts: int = 0
    next_attempt_at: float = 0.0
    status: str = PENDING
    last_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "function": self.function, "url": self.url, "method": self.method,
                "mock": self.mock, "body": json.loads(self.body), "event_ids": list(self.event_ids),
                "created_at": self.created_at, "attempts": self.attempts,
                "next_attempt_at": self.next_attempt_at, "status": self.status, "last_error": self.last_error}


# -- commands (applied by the writer thread, in order, one transaction per batch) ------------------
@dataclass(frozen=True, slots=True)
class AddEvent:
    name: str
    data: Any
    received_at: float


@dataclass(frozen=True, slots=True)
class EventAccepted:
    event_id: str
    subscribers: int
    invocations: tuple[Invocation, ...]


@dataclass(frozen=True, slots=True)
class Register:
    spec: FunctionSpec


@dataclass(frozen=True, slots=True)
class Delete:
    name: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """A delivery attempt finished: `status` is pending (retry at `next_attempt_at`), delivered or dead."""

    invocation_id: str
    status: str
    attempts: int
    at: float
    next_attempt_at: float = 0.0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Replay:
    """Put dead invocations back into the outbox: by id, or all of one function, or all."""

    ids: tuple[str, ...] = ()
    function: str | None = None
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class Expire:
    now: float


@dataclass(frozen=True, slots=True)
class Prune:
    delivered_before: float


@dataclass(frozen=True, slots=True)
class Status:
    pass


@dataclass(frozen=True, slots=True)
class ListInvocations:
    status: str | None = None
    function: str | None = None
    limit: int = 100


Command = AddEvent | Register | Delete | Outcome | Replay | Expire | Prune | Status | ListInvocations
RELAXED = (Outcome, Expire, Prune, Status, ListInvocations)


class SchedulerStore:
    """The SQLite state. Not thread-safe: one writer thread owns it."""

    def __init__(self, path: Path, synchronous: str = "FULL") -> None:
        self.path = path
        self.synchronous = synchronous
        self.book = JoinBook()
        self.last_invoke: dict[str, int | None] = {}
        self._seq = 0
        self._relaxed = False
        self._db: sqlite3.Connection | None = None

    # -- opening and recovery --------------------------------------------------------------------
    def open(self) -> list[Invocation]:
        """Open (creating) the database, rebuild the join state; return the undelivered outbox."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self.synchronous}")
        self._relaxed = False
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(SCHEMA)
        self._db = db
        self._load()
        return self.outbox()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the scheduler store is not open")
        return self._db

    def _load(self) -> None:
        book = JoinBook()
        last: dict[str, int | None] = {}
        for name, spec, last_invoke in self.db.execute("SELECT name, spec, last_invoke FROM functions"):
            book.register(FunctionSpec.from_dict(json.loads(spec)))
            last[name] = last_invoke
        seq = 0
        rows = self.db.execute("SELECT function, seq, event_id, name, data, timestamp, received_at "
                               "FROM queued ORDER BY seq")
        for function, s, event_id, name, data, ts, received_at in rows:
            book.restore(function, QueuedEvent(s, event_id, name, json.loads(data), ts, received_at))
            seq = max(seq, s)
        self.book, self.last_invoke, self._seq = book, last, seq

    def outbox(self) -> list[Invocation]:
        rows = self.db.execute(f"SELECT {_INVOCATION_COLUMNS} FROM invocations WHERE status = ? ORDER BY seq",
                               (PENDING,))
        return [_invocation(r) for r in rows]

    # -- the batch transaction -------------------------------------------------------------------
    def apply(self, commands: Sequence[Command]) -> list[Any]:
        """Apply commands in one transaction. Per-command errors (ValueError) are returned, not raised;
        a database error rolls everything back, rebuilds memory from disk and is raised."""
        db = self.db
        results: list[Any] = []
        # Outcomes (and housekeeping) alone need no fsync of their own: if power fails before the
        # next full sync, the worst case is one more delivery, which at-least-once allows. Anything
        # that acknowledges a client (events, registrations, replays) commits at the configured level.
        relaxed = self.synchronous == "FULL" and all(isinstance(c, RELAXED) for c in commands)
        if relaxed != self._relaxed:
            db.execute(f"PRAGMA synchronous={'NORMAL' if relaxed else self.synchronous}")
            self._relaxed = relaxed
        db.execute("BEGIN IMMEDIATE")
        try:
            for command in commands:
                try:
                    results.append(self._apply_one(command))
                except ValueError as exc:
                    results.append(exc)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            self._load()
            raise
        return results

    def _apply_one(self, command: Command) -> Any:
        match command:
            case AddEvent():
                return self._add_event(command)
            case Outcome():
                self.db.execute(
                    "UPDATE invocations SET status = ?, attempts = ?, next_attempt_at = ?, updated_at = ?, "
                    "last_error = ? WHERE id = ?",
                    (command.status, command.attempts, command.next_attempt_at, command.at,
                     command.error, command.invocation_id))
                return None
            case Register():
                return self._register(command.spec)
            case Delete():
                return self._delete(command.name)
            case Replay():
                return self._replay(command)
            case Expire():
                dropped = self.book.expire(command.now)
                self._record_dropped(dropped, command.now)
                return dropped
            case Prune():
                cur = self.db.execute("DELETE FROM invocations WHERE status = ? AND updated_at < ?",
                                      (DELIVERED, command.delivered_before))
                return cur.rowcount
            case Status():
                return self._status()
            case ListInvocations():
                return self._list(command)
        raise TypeError(f"unknown command {command!r}")

    def _add_event(self, command: AddEvent) -> EventAccepted:
        self._seq += 1
        event = QueuedEvent(self._seq, str(uuid.uuid4()), command.name, command.data,
                            course_timestamp(command.received_at), command.received_at)
        subscribers = self.book.subscribers(command.name)
        joins = self.book.offer(event)
        joined = {j.function for j in joins}
        waiting = [f for f in subscribers if f not in joined]
        db = self.db
        if waiting:
            data = json.dumps(event.data)
            db.executemany(
                "INSERT INTO queued (function, seq, event_id, name, data, timestamp, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(f, event.seq, event.event_id, event.name, data, event.timestamp, event.received_at)
                 for f in waiting])
        invocations = []
        last_invoke = int(command.received_at * 1000)
        for join in joins:
            spec = self.book.spec(join.function)
            assert spec is not None
            consumed = [(join.function, e.seq) for e in join.events if e.seq != event.seq]
            if consumed:
                db.executemany("DELETE FROM queued WHERE function = ? AND seq = ?", consumed)
            inv = Invocation(str(uuid.uuid4()), spec.name, spec.url, spec.method, spec.mock,
                             json.dumps(join.body()), tuple(e.event_id for e in join.events), command.received_at,
                             next_attempt_at=command.received_at,
                             status=DELIVERED if spec.mock else PENDING)
            db.execute(
                "INSERT INTO invocations (id, function, url, method, mock, body, event_ids, status, "
                "attempts, next_attempt_at, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
                (inv.id, inv.function, inv.url, inv.method, int(inv.mock), inv.body,
                 json.dumps(inv.event_ids), inv.status, inv.next_attempt_at, inv.created_at, inv.created_at))
            self.last_invoke[spec.name] = last_invoke
            invocations.append(inv)
        if joins:
            db.executemany("UPDATE functions SET last_invoke = ? WHERE name = ?",
                           [(last_invoke, j.function) for j in joins])
        return EventAccepted(event.event_id, len(subscribers), tuple(invocations))

    def _register(self, spec: FunctionSpec) -> Registration:
        registration = self.book.register(spec)
        if registration.changed:
            self.db.execute(
                "INSERT INTO functions (name, spec) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET spec = excluded.spec",
                (spec.name, json.dumps(spec.to_dict())))
            self.last_invoke.setdefault(spec.name, None)
            self._record_dropped(registration.dropped, time.time())
        return registration

    def _delete(self, name: str) -> tuple[Dropped, ...] | None:
        dropped = self.book.remove(name)
        if dropped is None:
            return None
        self.db.execute("DELETE FROM functions WHERE name = ?", (name,))
        self._record_dropped(dropped, time.time())
        self.last_invoke.pop(name, None)
        return dropped

    def _record_dropped(self, dropped: Sequence[Dropped], at: float) -> None:
        if not dropped:
            return
        self.db.executemany(
            "INSERT INTO dropped (event_id, function, name, data, timestamp, received_at, reason, "
            "dropped_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(d.event.event_id, d.function, d.event.name, json.dumps(d.event.data), d.event.timestamp,
              d.event.received_at, d.reason, at) for d in dropped])
        self.db.executemany("DELETE FROM queued WHERE function = ? AND seq = ?",
                            [(d.function, d.event.seq) for d in dropped])

    def _replay(self, command: Replay) -> list[Invocation]:
        where, params = "status = ?", [DEAD]
        if command.ids:
            where += f" AND id IN ({', '.join('?' * len(command.ids))})"
            params += list(command.ids)
        if command.function:
            where += " AND function = ?"
            params.append(command.function)
        rows = self.db.execute(f"SELECT {_INVOCATION_COLUMNS} FROM invocations WHERE {where} ORDER BY seq",
                               params).fetchall()
        replayed = [_invocation(r) for r in rows]
        self.db.executemany(
            "UPDATE invocations SET status = ?, attempts = 0, next_attempt_at = ?, updated_at = ? "
            "WHERE id = ?",
            [(PENDING, command.at, command.at, inv.id) for inv in replayed])
        return [replace(inv, status=PENDING, attempts=0, next_attempt_at=command.at) for inv in replayed]

    def _status(self) -> list[dict[str, Any]]:
        return [{"name": spec.name, "subs": list(spec.subs), "last_invoke": self.last_invoke.get(spec.name),
                 "events": self.book.status_rows(spec.name), "url": spec.url, "method": spec.method,
                 "mock": spec.mock}
                for spec in self.book.specs()]

    def _list(self, command: ListInvocations) -> list[Invocation]:
        where, params = [], []
        if command.status:
            where.append("status = ?")
            params.append(command.status)
        if command.function:
            where.append("function = ?")
            params.append(command.function)
        sql = f"SELECT {_INVOCATION_COLUMNS} FROM invocations"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC LIMIT ?"
        return [_invocation(r) for r in self.db.execute(sql, [*params, command.limit])]

    def counts(self) -> dict[str, int]:
        """Invocations per status and events waiting in join queues (for tests and /readyz)."""
        counts = dict(self.db.execute("SELECT status, count(*) FROM invocations GROUP BY status").fetchall())
        counts["queued"] = self.db.execute("SELECT count(*) FROM queued").fetchone()[0]
        counts["dropped"] = self.db.execute("SELECT count(*) FROM dropped").fetchone()[0]
        return counts


_INVOCATION_COLUMNS = ("id, function, url, method, mock, body, event_ids, created_at, attempts, "
                       "next_attempt_at, status, last_error")


def _invocation(row: Sequence[Any]) -> Invocation:
    (id_, function, url, method, mock, body, event_ids, created_at, attempts, next_at, status, error) = row
    return Invocation(id_, function, url, method, bool(mock), body, tuple(json.loads(event_ids)),
                      created_at, attempts, next_at, status, error)
