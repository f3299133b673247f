"""The durable scheduler state in SQLite (WAL): functions, join queues, the outbox, dropped events.

Used by exactly one thread (the writer, see writer.py). Many concurrent events share one
transaction and so one fsync (group commit). The join rules are not here: the `JoinLedger`
(state_base.py, ledger.py) decides, and this module writes what it changed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from hometwin.scheduler.core import FunctionSpec, QueuedEvent
from hometwin.scheduler.ledger import Changes, JoinLedger
from hometwin.scheduler.state import DEAD, DELIVERED, PENDING, Invocation, ListInvocations, Outcome, Replay
from hometwin.scheduler.state_base import LedgerState
from hometwin.sqlite_url import sqlite_path

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
    created_at REAL NOT NULL, updated_at REAL NOT NULL, last_error TEXT,
    exhausted INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS invocations_by_status ON invocations (status, seq);
CREATE TABLE IF NOT EXISTS dropped (
    event_id TEXT NOT NULL, function TEXT NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL,
    timestamp TEXT NOT NULL, received_at REAL NOT NULL, reason TEXT NOT NULL, dropped_at REAL NOT NULL);
"""


def from_url(url: str, *, synchronous: str = "FULL") -> SQLiteState:
    return SQLiteState(sqlite_path(url, "state"), synchronous)


class SQLiteState(LedgerState):
    """The SQLite state. Not thread-safe: one writer thread owns it."""

    backend_errors: ClassVar[tuple[type[Exception], ...]] = (sqlite3.Error,)

    def __init__(self, path: Path, synchronous: str = "FULL") -> None:
        super().__init__()
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
        self.path = path
        self.synchronous = synchronous
        self._relaxed = False
        self._db: sqlite3.Connection | None = None

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the scheduler state is not open")
        return self._db

    # -- connection and transaction --------------------------------------------------------------
    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db = db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self.synchronous}")
        self._relaxed = False
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(SCHEMA)
        _add_exhausted_column(db)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _begin(self, durable: bool) -> None:
        # Batches that acknowledge nobody need no fsync of their own (see state.RELAXED); with
        # FULL they are committed at NORMAL, fsynced by the next durable commit or checkpoint.
        relaxed = self.synchronous == "FULL" and not durable
        if relaxed != self._relaxed:
            self.db.execute(f"PRAGMA synchronous={'NORMAL' if relaxed else self.synchronous}")
            self._relaxed = relaxed
        self.db.execute("BEGIN IMMEDIATE")

    def _commit(self) -> None:
        self.db.execute("COMMIT")

    def _rollback(self) -> None:
        if self._db is not None and self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def _load(self) -> JoinLedger:
        functions = [(FunctionSpec.from_dict(json.loads(spec)), last_invoke) for spec, last_invoke
                     in self.db.execute("SELECT spec, last_invoke FROM functions")]
        rows = self.db.execute("SELECT function, seq, event_id, name, data, timestamp, received_at "
                               "FROM queued ORDER BY seq")
        queued = [(function, QueuedEvent(seq, event_id, name, json.loads(data), ts, received_at))
                  for function, seq, event_id, name, data, ts, received_at in rows]
        return JoinLedger.restore(functions, queued)

    # -- writing what the ledger changed ---------------------------------------------------------
    def _write(self, changes: Changes) -> None:
        db = self.db
        if changes.deleted is not None:
            db.execute("DELETE FROM functions WHERE name = ?", (changes.deleted,))
        if changes.upserted is not None:
            spec = changes.upserted
            db.execute("INSERT INTO functions (name, spec) VALUES (?, ?) "
                       "ON CONFLICT (name) DO UPDATE SET spec = excluded.spec",
                       (spec.name, json.dumps(spec.to_dict())))
        event = changes.event
        if event is not None and changes.queued_for:
            data = json.dumps(event.data)
            db.executemany(
                "INSERT INTO queued (function, seq, event_id, name, data, timestamp, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(f, event.seq, event.event_id, event.name, data, event.timestamp, event.received_at)
                 for f in changes.queued_for])
        if changes.consumed:
            db.executemany("DELETE FROM queued WHERE function = ? AND seq = ?", changes.consumed)
        if changes.dropped:
            db.executemany(
                "INSERT INTO dropped (event_id, function, name, data, timestamp, received_at, reason, "
                "dropped_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(d.event.event_id, d.function, d.event.name, json.dumps(d.event.data), d.event.timestamp,
                  d.event.received_at, d.reason, changes.dropped_at) for d in changes.dropped])
            db.executemany("DELETE FROM queued WHERE function = ? AND seq = ?",
                           [(d.function, d.event.seq) for d in changes.dropped])
        if changes.invocations:
            db.executemany(
                "INSERT INTO invocations (id, function, url, method, mock, body, event_ids, status, "
                "attempts, next_attempt_at, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
                [(inv.id, inv.function, inv.url, inv.method, int(inv.mock), inv.body,
                  json.dumps(inv.event_ids), inv.status, inv.next_attempt_at, inv.created_at, inv.created_at)
                 for inv in changes.invocations])
            db.executemany("UPDATE functions SET last_invoke = ? WHERE name = ?",
                           [(changes.last_invoke, inv.function) for inv in changes.invocations])

    # -- the outbox ------------------------------------------------------------------------------
    def _record_outcome(self, outcome: Outcome) -> None:
        self.db.execute(
            "UPDATE invocations SET status = ?, attempts = ?, next_attempt_at = ?, updated_at = ?, "
            "last_error = ?, exhausted = ? WHERE id = ?",
            (outcome.status, outcome.attempts, outcome.next_attempt_at, outcome.at, outcome.error,
             int(outcome.exhausted), outcome.invocation_id))

    def _replay(self, replay: Replay) -> list[Invocation]:
        where = "status = ?"
        params: list[Any] = [DEAD]
        if replay.ids:
            where += f" AND id IN ({', '.join('?' * len(replay.ids))})"
            params += list(replay.ids)
        if replay.function:
            where += " AND function = ?"
            params.append(replay.function)
        if replay.exhausted_only:
            where += " AND exhausted = 1"
        limit = " LIMIT ?" if replay.limit else ""
        if replay.limit:
            params.append(replay.limit)
        rows = self.db.execute(f"SELECT {_INVOCATION_COLUMNS} FROM invocations WHERE {where} ORDER BY seq{limit}",
                               params).fetchall()
        replayed = [_invocation(r) for r in rows]
        self.db.executemany(
            "UPDATE invocations SET status = ?, attempts = 0, next_attempt_at = ?, updated_at = ?, "
            "exhausted = 0 WHERE id = ?",
            [(PENDING, replay.at, replay.at, inv.id) for inv in replayed])
        return [replace(inv, status=PENDING, attempts=0, next_attempt_at=replay.at, exhausted=False)
                for inv in replayed]

    def _prune(self, delivered_before: float, dead_before: float) -> int:
        cur = self.db.execute("DELETE FROM invocations WHERE (status = ? AND updated_at < ?) "
                              "OR (status = ? AND updated_at < ?)",
                              (DELIVERED, delivered_before, DEAD, dead_before))
        return cur.rowcount

    def _list(self, query: ListInvocations) -> list[Invocation]:
        where, params = [], []
        if query.status:
            where.append("status = ?")
            params.append(query.status)
        if query.function:
            where.append("function = ?")
            params.append(query.function)
        sql = f"SELECT {_INVOCATION_COLUMNS} FROM invocations"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC LIMIT ?"
        return [_invocation(r) for r in self.db.execute(sql, [*params, query.limit])]

    def outbox(self) -> list[Invocation]:
        rows = self.db.execute(f"SELECT {_INVOCATION_COLUMNS} FROM invocations WHERE status = ? ORDER BY seq",
                               (PENDING,))
        return [_invocation(r) for r in rows]

    def counts(self) -> dict[str, int]:
        counts = dict(self.db.execute("SELECT status, count(*) FROM invocations GROUP BY status").fetchall())
        counts["queued"] = self.db.execute("SELECT count(*) FROM queued").fetchone()[0]
        counts["dropped"] = self.db.execute("SELECT count(*) FROM dropped").fetchone()[0]
        return counts


_INVOCATION_COLUMNS = ("id, function, url, method, mock, body, event_ids, created_at, attempts, "
                       "next_attempt_at, status, last_error, exhausted")


def _invocation(row: Sequence[Any]) -> Invocation:
    (id_, function, url, method, mock, body, event_ids, created_at, attempts, next_at, status, error,
     exhausted) = row
    return Invocation(id_, function, url, method, bool(mock), body, tuple(json.loads(event_ids)),
                      created_at, attempts, next_at, status, error, bool(exhausted))


def _add_exhausted_column(db: sqlite3.Connection) -> None:
    """Databases from before the column: add it, and mark the dead rows whose last error was
    retryable (no HTTP answer, 408, 425, 429, 5xx: the dispatcher's error texts) as exhausted."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(invocations)")}
    if "exhausted" in columns:
        return
    db.execute("BEGIN IMMEDIATE")
    db.execute("ALTER TABLE invocations ADD COLUMN exhausted INTEGER NOT NULL DEFAULT 0")
    db.execute("UPDATE invocations SET exhausted = 1 WHERE status = ? AND (last_error NOT LIKE 'HTTP %' "
               "OR CAST(substr(last_error, 6) AS INTEGER) >= 500 "
               "OR CAST(substr(last_error, 6) AS INTEGER) IN (408, 425, 429))", (DEAD,))
    db.execute("COMMIT")
