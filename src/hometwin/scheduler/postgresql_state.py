"""The scheduler state in PostgreSQL (`postgresql://user@host:port/db`), shared by several replicas.

The same four tables as SQLite (prefixed `scheduler_`, so the database may hold other things) and
the same join rules (the `JoinLedger`, state_base.py). What differs is that other scheduler
processes use the database at the same time:

- Joins: every batch that reads or changes join state first locks the `generation` row of
  `scheduler_meta` (`SELECT ... FOR UPDATE`), inside the batch's transaction. Join batches of all
  replicas therefore run one after another; when the generation is not the one this process
  wrote last, another replica changed something and the ledger is reloaded from the tables
  before the batch. An event's 202 comes after COMMIT, so it is acknowledged only once its join
  work is stored, whichever replica completes the join later.
- The WAL flush of a join batch happens after its lock is gone: the batch commits with
  `synchronous_commit` off (the row lock is released without waiting for the disk), and a small
  write of this replica's own `wal_flush:` row in `scheduler_meta`, committed synchronously right
  after in the same pipeline, waits for the flush of the WAL up to it, which holds the batch. The
  202s are released only after that. So the other replicas' join batches do not wait for this
  one's fsync, and the flushes of several replicas can share one fsync.
- Delivery: each outbox row carries `claimed_by` and `claimed_until` (a lease, in the database
  server's clock so replicas' clocks do not matter). A replica delivers the rows it created or
  replayed (claimed in the same transaction), renews its leases with `Claim` every third of the
  lease, and takes over rows whose lease ran out with `FOR UPDATE SKIP LOCKED`, so two replicas
  never claim the same row and a dead replica's rows come back after one lease. A graceful stop
  hands its rows back at once. Outcomes of a replica that lost its lease are ignored (except
  "delivered"); the row is then delivered again by its new owner, which at-least-once allows.

`?claim_lease=SECONDS` in the URL sets the lease (default 30); every other parameter goes to libpq
(`sslmode`, `connect_timeout` ...). The password may come in the URL, or from PGPASSWORD /
~/.pgpass as libpq reads them.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import pq

from hometwin.scheduler.core import FunctionSpec, QueuedEvent
from hometwin.scheduler.errors import LimitExceeded, StoreUnavailable
from hometwin.scheduler.ledger import Changes, JoinLedger
from hometwin.scheduler.postgresql_rows import (
    INVOCATION_COLUMNS,
    NOW,
    SCHEMA,
    SCHEMA_VERSION,
    PendingRows,
    invocation,
    one,
)
from hometwin.scheduler.state import (
    DEAD,
    DELIVERED,
    PENDING,
    AddEvent,
    Claim,
    Command,
    Delete,
    Expire,
    Invocation,
    ListInvocations,
    Outcome,
    Register,
    Replay,
    Status,
)
from hometwin.scheduler.state_base import LedgerState

DEFAULT_LEASE = 30.0
_FLUSH_ROWS_KEPT = 86_400  # seconds: the `wal_flush:` row of a replica that died is pruned after a day
# Commands that read or change the join state: their batch takes the generation lock.
_JOIN_COMMANDS = (AddEvent, Register, Delete, Expire, Status)
_PIPELINE = psycopg.Pipeline.is_supported()  # libpq 14+ (the binary wheel's is)


def from_url(url: str, *, synchronous: str = "FULL") -> PostgreSQLState:
    parts = urlsplit(url)
    if not parts.path.strip("/"):
        raise ValueError(f"state URL {_redacted(url)!r}: name the database, postgresql://user@host:port/db")
    query, lease = [], DEFAULT_LEASE
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key != "claim_lease":
            query.append((key, value))
            continue
        try:
            lease = float(value)
        except ValueError:
            lease = 0.0
        if not 1.0 <= lease <= 3600.0:
            raise ValueError(f"state URL {_redacted(url)!r}: claim_lease must be 1 to 3600 seconds, not {value!r}")
    conninfo = urlunsplit(parts._replace(query=urlencode(query)))
    return PostgreSQLState(conninfo, synchronous, lease)


def _redacted(url: str) -> str:
    """The URL without password and parameters, for messages and log lines."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class PostgreSQLState(LedgerState):
    """The PostgreSQL state of one replica. Not thread-safe: one writer thread owns it."""

    backend_errors: ClassVar[tuple[type[Exception], ...]] = (psycopg.Error,)

    def __init__(self, conninfo: str, synchronous: str = "FULL", lease: float = DEFAULT_LEASE) -> None:
        super().__init__()
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
        self.conninfo = conninfo
        self.synchronous = synchronous
        self.lease = lease
        self.claim_interval = lease / 3
        # Unique per process and per open: a restarted replica does not inherit its old claims
        # (they come back after their lease, or at once after a graceful stop).
        self.replica = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._conn: psycopg.Connection[Any] | None = None
        self._generation = -1
        self._reloaded = False  # whether the last join batch found the join state changed by another
        self._durable = False  # the open batch acknowledges a client and the operator chose FULL
        self._flush_after_commit = False  # it is a durable join batch: made durable after its COMMIT
        self._pending = PendingRows()

    @property
    def location(self) -> str:
        return _redacted(self.conninfo)

    @property
    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            raise RuntimeError("the scheduler state is not open")
        return self._conn

    # -- connection and transaction --------------------------------------------------------------
    def _connect(self) -> None:
        self.close()
        # autocommit: transactions are the explicit BEGIN/COMMIT of `apply` (and of the reads below).
        conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10,
                               application_name="hometwin-scheduler")
        self._conn = conn
        with conn.transaction():
            # Replicas starting together must not race on CREATE TABLE IF NOT EXISTS.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('hometwin.scheduler.schema'))")
            conn.execute(SCHEMA)
            version = one(conn.execute("SELECT value FROM scheduler_meta WHERE key = 'schema_version'"))
        if version > SCHEMA_VERSION:
            self.close()
            raise StoreUnavailable(f"{self.location}: the scheduler tables have schema version {version}, "
                                   f"newer than this HomeTwin's {SCHEMA_VERSION}; upgrade HomeTwin")

    def _reconnect_if_lost(self) -> None:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._connect()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None or conn.closed:
            return
        try:
            if not conn.broken and conn.info.transaction_status == pq.TransactionStatus.IDLE:
                # Hand this replica's undelivered rows back now rather than after the lease.
                conn.execute("UPDATE scheduler_invocations SET claimed_until = 0 "
                             "WHERE claimed_by = %s AND status = %s", (self.replica, PENDING))
                conn.execute("DELETE FROM scheduler_meta WHERE key = %s", (self.flush_key,))
        except psycopg.Error:
            pass  # they come back after the lease
        finally:
            conn.close()

    # Round trips, not statements, are what a batch waits for (each is a wake-up of the server's
    # backend process on a busy machine): a join batch takes three (BEGIN, the generation lock,
    # then its writes and COMMIT in one pipeline), an outcome batch two.
    def _begin(self, durable: bool) -> None:
        self._reconnect_if_lost()
        if self.synchronous == "NORMAL" or not durable:
            # Nothing in it acknowledges a client (state.RELAXED), or the operator chose NORMAL:
            # a server crash may lose the last commits, a scheduler crash never does.
            self.conn.execute("BEGIN; SET LOCAL synchronous_commit = off")
        else:
            self.conn.execute("BEGIN")
        self._pending = PendingRows()
        self._durable = self.synchronous == "FULL" and durable
        self._flush_after_commit = False

    def _sync(self, commands: Sequence[Command]) -> None:
        if not any(isinstance(c, _JOIN_COMMANDS) for c in commands):
            return
        # Locks the row until COMMIT (the other replicas' join batches wait here) and moves the
        # generation on, so they know to reload; a batch that changes nothing moves it on too,
        # which costs them one reload. When the last batch had to reload (replicas taking turns),
        # the join state is read in the same round trip, in case.
        conn = self.conn
        # A durable batch commits without waiting for the disk (`set_config(..., true)` is SET
        # LOCAL, in the same statement: no round trip more); `_commit` then waits for the flush
        # after the lock is released.
        self._flush_after_commit = self._durable
        relax = ", set_config('synchronous_commit', 'off', true)" if self._durable else ""
        with conn.pipeline() if _PIPELINE and self._reloaded else contextlib.nullcontext():
            lock = conn.execute("UPDATE scheduler_meta SET value = value + 1 WHERE key = 'generation' "
                                f"RETURNING value{relax}")
            state = self._read_join_state() if self._reloaded else None
        generation = one(lock)
        self._reloaded = generation - 1 != self._generation  # another replica changed the join state
        if self._reloaded:
            self.ledger = _ledger(*(state or self._read_join_state()))
        self._generation = generation

    @property
    def flush_key(self) -> str:
        """This replica's row in scheduler_meta, written to make its join batches durable."""
        return f"wal_flush:{self.replica}"

    def _commit(self) -> None:
        conn = self.conn
        with conn.pipeline() if _PIPELINE else contextlib.nullcontext():
            self._flush()
            conn.execute("COMMIT")
            if self._flush_after_commit:
                # Its own transaction (autocommit), committed with synchronous_commit on: its
                # COMMIT waits until the WAL is flushed up to it, so up to the batch before it.
                # A row of this replica's own: no other replica waits for it.
                conn.execute(f"INSERT INTO scheduler_meta (key, value) VALUES (%s, {NOW}) "
                             "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (self.flush_key,))

    def _rollback(self) -> None:
        conn = self._conn
        if conn is None or conn.closed:
            return
        if conn.broken:
            self.close()
            return
        self._pending = PendingRows()
        if conn.info.transaction_status != pq.TransactionStatus.IDLE:
            conn.execute("ROLLBACK")
        self._generation = -1  # whatever this batch wrote is gone: reload next time

    def _load(self) -> JoinLedger:
        self._reconnect_if_lost()
        conn = self.conn
        outside = conn.info.transaction_status == pq.TransactionStatus.IDLE
        if outside:  # one snapshot for the reads
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            generation = one(conn.execute("SELECT value FROM scheduler_meta WHERE key = 'generation'"))
            ledger = _ledger(*self._read_join_state())
        finally:
            if outside and not conn.broken:
                conn.execute("ROLLBACK")
        self._generation = generation
        return ledger

    def _read_join_state(self) -> tuple[psycopg.Cursor[Any], psycopg.Cursor[Any]]:
        """The functions and the queued events (cursors: in a pipeline, read once it is sent)."""
        conn = self.conn
        return (conn.execute("SELECT spec, last_invoke FROM scheduler_functions ORDER BY name"),
                conn.execute("SELECT function, seq, event_id, name, data, timestamp, received_at "
                             "FROM scheduler_queued ORDER BY seq, function"))

    def _apply_one(self, command: Command) -> Any:
        """PostgreSQL's text cannot hold NUL (SQLite's can): a name with one is refused here, before
        the ledger changes, as that command's result alone. Left to the driver, it would fail the
        whole group commit, every other client's command with it."""
        match command:
            case AddEvent() if "\0" in command.name:
                raise LimitExceeded("event names cannot contain NUL (\\u0000) characters", 422)
            case Register() if any("\0" in text for text in (command.spec.name, command.spec.url,
                                                               *command.spec.subs)):
                raise LimitExceeded("function names, subscriptions and URLs cannot contain NUL (\\u0000) "
                                    "characters", 422)
            case Delete() if "\0" in command.name:
                return None  # such a name is never registered
            case ListInvocations() if "\0" in (command.function or "") + (command.status or ""):
                return []
            case Replay() if "\0" in (command.function or "") + "".join(command.ids):
                return []
        return super()._apply_one(command)

    def _recover(self) -> list[Invocation]:
        return self._claim(Claim(limit=0))

    # -- writing what the ledger changed ---------------------------------------------------------
    # Row changes are gathered over the batch (postgresql_rows.PendingRows) and written with one
    # statement per table at COMMIT.
    def _write(self, changes: Changes) -> None:
        if changes.deleted is not None or changes.upserted is not None:
            self._flush()  # registrations are rare: write them in their place, after what came before
            if changes.deleted is not None:
                self.conn.execute("DELETE FROM scheduler_functions WHERE name = %s", (changes.deleted,))
            if changes.upserted is not None:
                spec = changes.upserted
                self.conn.execute("INSERT INTO scheduler_functions (name, spec) VALUES (%s, %s) "
                                  "ON CONFLICT (name) DO UPDATE SET spec = excluded.spec",
                                  (spec.name, json.dumps(spec.to_dict())))
        self._pending.gather(changes)  # after any flush above

    def _flush_outcomes(self) -> None:
        """Before reading invocations inside a batch: the outcomes gathered so far are written
        (with the rest of what was gathered; order between tables does not matter)."""
        if self._pending.outcomes and self._conn is not None \
                and self._conn.info.transaction_status != pq.TransactionStatus.IDLE:
            self._flush()

    def _flush(self) -> None:
        """Write what the batch gathered so far, one statement per table."""
        pending, self._pending = self._pending, PendingRows()
        pending.write(self.conn, self.replica, self.lease)

    # -- the outbox ------------------------------------------------------------------------------
    def _record_outcome(self, outcome: Outcome) -> None:
        # Gathered like the join's rows (one UPDATE per batch, not per delivery); a later outcome
        # of the same invocation in the batch wins, as it would row by row.
        if outcome.error and "\0" in outcome.error:  # an error text is ours, but quotes what it met
            outcome = replace(outcome, error=outcome.error.replace("\0", "\ufffd"))
        self._pending.outcomes[outcome.invocation_id] = outcome

    def _replay(self, replay: Replay) -> list[Invocation]:
        self._flush_outcomes()
        where = "status = %s"
        params: list[Any] = [DEAD]
        if replay.ids:
            where += " AND id = ANY(%s)"
            params.append(list(replay.ids))
        if replay.function:
            where += " AND function = %s"
            params.append(replay.function)
        if replay.exhausted_only:
            where += " AND exhausted"
        limit = " LIMIT %s" if replay.limit else ""
        if replay.limit:
            params.append(replay.limit)
        # SKIP LOCKED: two replicas replaying at once each take other rows, never the same one twice.
        rows = self.conn.execute(
            f"UPDATE scheduler_invocations SET status = %s, attempts = 0, next_attempt_at = %s, updated_at = %s, "
            f"exhausted = false, claimed_by = %s, claimed_until = {NOW} + %s WHERE seq IN "
            f"(SELECT seq FROM scheduler_invocations WHERE {where} ORDER BY seq{limit} FOR UPDATE SKIP LOCKED) "
            f"RETURNING seq, {INVOCATION_COLUMNS}",
            [PENDING, replay.at, replay.at, self.replica, self.lease, *params]).fetchall()
        return [invocation(r[1:]) for r in sorted(rows, key=lambda r: r[0])]

    def _claim(self, claim: Claim) -> list[Invocation]:
        self._flush_outcomes()
        conn = self.conn
        conn.execute(f"UPDATE scheduler_invocations SET claimed_until = {NOW} + %s "
                     "WHERE claimed_by = %s AND status = %s", (self.lease, self.replica, PENDING))
        limit = " LIMIT %s" if claim.limit else ""
        rows = conn.execute(
            f"UPDATE scheduler_invocations SET claimed_by = %s, claimed_until = {NOW} + %s WHERE seq IN "
            f"(SELECT seq FROM scheduler_invocations WHERE status = %s AND claimed_until < {NOW} "
            f"ORDER BY seq{limit} FOR UPDATE SKIP LOCKED) RETURNING seq, {INVOCATION_COLUMNS}",
            [self.replica, self.lease, PENDING, *([claim.limit] if claim.limit else [])]).fetchall()
        return [invocation(r[1:]) for r in sorted(rows, key=lambda r: r[0])]

    def _prune(self, delivered_before: float, dead_before: float) -> int:
        self._flush_outcomes()
        cur = self.conn.execute("DELETE FROM scheduler_invocations WHERE (status = %s AND updated_at < %s) "
                                "OR (status = %s AND updated_at < %s)",
                                (DELIVERED, delivered_before, DEAD, dead_before))
        # A replica that died without closing left its row; a live one writes it again at its next batch.
        self.conn.execute(f"DELETE FROM scheduler_meta WHERE key LIKE 'wal_flush:%%' AND value < {NOW} - %s",
                          (_FLUSH_ROWS_KEPT,))
        return cur.rowcount

    def _list(self, query: ListInvocations) -> list[Invocation]:
        self._flush_outcomes()
        where: list[str] = []
        params: list[Any] = []
        if query.status:
            where.append("status = %s")
            params.append(query.status)
        if query.function:
            where.append("function = %s")
            params.append(query.function)
        sql = f"SELECT {INVOCATION_COLUMNS} FROM scheduler_invocations"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC LIMIT %s"
        limit = query.limit if query.limit >= 0 else None  # as SQLite: a negative limit is none
        return [invocation(r) for r in self.conn.execute(sql, [*params, limit])]

    def outbox(self) -> list[Invocation]:
        self._flush_outcomes()
        rows = self.conn.execute(
            f"SELECT {INVOCATION_COLUMNS} FROM scheduler_invocations WHERE status = %s ORDER BY seq", (PENDING,))
        return [invocation(r) for r in rows]

    def counts(self) -> dict[str, int]:
        self._flush_outcomes()
        conn = self.conn
        counts = dict(conn.execute("SELECT status, count(*) FROM scheduler_invocations GROUP BY status").fetchall())
        counts["queued"] = one(conn.execute("SELECT count(*) FROM scheduler_queued"))
        counts["dropped"] = one(conn.execute("SELECT count(*) FROM scheduler_dropped"))
        return counts


def _ledger(functions: psycopg.Cursor[Any], queued: psycopg.Cursor[Any]) -> JoinLedger:
    """The ledger of the rows `PostgreSQLState._read_join_state` read."""
    specs = [(FunctionSpec.from_dict(json.loads(spec)), last_invoke) for spec, last_invoke in functions.fetchall()]
    events = [(function, QueuedEvent(seq, event_id, name, json.loads(data), ts, received_at))
              for function, seq, event_id, name, data, ts, received_at in queued.fetchall()]
    return JoinLedger.restore(specs, events)
