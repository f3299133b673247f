"""The scheduler state in this process's memory (`memory://`, `memory://name`): for tests.

It keeps the same four "tables" as the SQLite backend, in dicts, and stores event data as JSON
text as SQLite does, so both refuse the same data and reopening gives the same state. Nothing
survives the process. `memory://name` shares its tables with every state opened under that name in
this process (a restart in a test); plain `memory://` is private. Open one at a time per name,
as one would one SQLite file.

A transaction copies the table dicts (not their rows) and puts the copies back on rollback:
O(rows) per batch, which is why this backend is for tests, not production.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from hometwin.scheduler.core import Dropped, FunctionSpec, QueuedEvent
from hometwin.scheduler.ledger import Changes, JoinLedger
from hometwin.scheduler.state import DEAD, DELIVERED, PENDING, Invocation, ListInvocations, Outcome, Replay
from hometwin.scheduler.state_base import LedgerState


@dataclass
class _Tables:
    functions: dict[str, tuple[FunctionSpec, int | None]] = field(default_factory=dict)
    queued: dict[tuple[str, int], QueuedEvent] = field(default_factory=dict)  # data as JSON text
    invocations: dict[str, tuple[Invocation, float]] = field(default_factory=dict)  # (row, updated_at)
    dropped: list[tuple[Dropped, float]] = field(default_factory=list)

    def copy(self) -> _Tables:
        return _Tables(dict(self.functions), dict(self.queued), dict(self.invocations), list(self.dropped))


_named: dict[str, _Tables] = {}
_named_lock = threading.Lock()


def from_url(url: str, *, synchronous: str = "FULL") -> MemoryState:
    """`synchronous` means nothing here: memory is never durable."""
    parts = urlsplit(url)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"state URL {url!r}: write memory:// or memory://name")
    return MemoryState(parts.netloc or None)


class MemoryState(LedgerState):
    def __init__(self, name: str | None = None) -> None:
        super().__init__()
        self.name = name
        if name is None:
            self._tables = _Tables()
        else:
            with _named_lock:
                self._tables = _named.setdefault(name, _Tables())
        self._saved: _Tables | None = None
        self._open = False

    @property
    def location(self) -> str:
        return f"memory://{self.name or ''}"

    @property
    def tables(self) -> _Tables:
        if not self._open:
            raise RuntimeError("the scheduler state is not open")
        return self._tables

    # -- connection and transaction --------------------------------------------------------------
    def _connect(self) -> None:
        self._open = True

    def close(self) -> None:
        self._open = False

    def _begin(self, durable: bool) -> None:
        self._saved = self.tables.copy()

    def _commit(self) -> None:
        self._saved = None

    def _rollback(self) -> None:
        if self._saved is not None:
            self._restore(self._saved)
            self._saved = None

    def _restore(self, saved: _Tables) -> None:
        # In place: states sharing a name share this object.
        tables = self._tables
        tables.functions, tables.queued = saved.functions, saved.queued
        tables.invocations, tables.dropped = saved.invocations, saved.dropped

    def _load(self) -> JoinLedger:
        tables = self.tables
        queued = [(function, replace(event, data=json.loads(event.data)))
                  for (function, _), event in sorted(tables.queued.items(), key=lambda item: item[0][1])]
        return JoinLedger.restore(tables.functions.values(), queued)

    # -- writing what the ledger changed ---------------------------------------------------------
    def _write(self, changes: Changes) -> None:
        tables = self.tables
        if changes.deleted is not None:
            tables.functions.pop(changes.deleted, None)
        if changes.upserted is not None:
            spec = changes.upserted
            last_invoke = tables.functions[spec.name][1] if spec.name in tables.functions else None
            tables.functions[spec.name] = (spec, last_invoke)
        event = changes.event
        if event is not None and changes.queued_for:
            stored = replace(event, data=json.dumps(event.data))
            for function in changes.queued_for:
                tables.queued[(function, event.seq)] = stored
        for key in changes.consumed:
            tables.queued.pop(key, None)
        for dropped in changes.dropped:
            json.dumps(dropped.event.data)  # refuse what SQLite would refuse
            tables.dropped.append((dropped, changes.dropped_at))
            tables.queued.pop((dropped.function, dropped.event.seq), None)
        for inv in changes.invocations:
            tables.invocations[inv.id] = (inv, inv.created_at)
            if inv.function in tables.functions:
                tables.functions[inv.function] = (tables.functions[inv.function][0], changes.last_invoke)

    # -- the outbox ------------------------------------------------------------------------------
    def _record_outcome(self, outcome: Outcome) -> None:
        invocations = self.tables.invocations
        row = invocations.get(outcome.invocation_id)
        if row is not None:
            invocations[outcome.invocation_id] = (
                replace(row[0], status=outcome.status, attempts=outcome.attempts,
                        next_attempt_at=outcome.next_attempt_at, last_error=outcome.error,
                        exhausted=outcome.exhausted), outcome.at)

    def _replay(self, replay: Replay) -> list[Invocation]:
        invocations = self.tables.invocations
        replayed: list[Invocation] = []
        for inv, _ in list(invocations.values()):
            if inv.status != DEAD or (replay.ids and inv.id not in replay.ids) or (
                    replay.function and inv.function != replay.function) or (
                    replay.exhausted_only and not inv.exhausted):
                continue
            if replay.limit and len(replayed) >= replay.limit:
                break
            again = replace(inv, status=PENDING, attempts=0, next_attempt_at=replay.at, exhausted=False)
            invocations[inv.id] = (again, replay.at)  # same key: keeps its place, oldest first
            replayed.append(again)
        return replayed

    def _prune(self, delivered_before: float, dead_before: float) -> int:
        invocations = self.tables.invocations
        old = [id_ for id_, (inv, updated_at) in invocations.items()
               if (inv.status == DELIVERED and updated_at < delivered_before)
               or (inv.status == DEAD and updated_at < dead_before)]
        for id_ in old:
            del invocations[id_]
        return len(old)

    def _list(self, query: ListInvocations) -> list[Invocation]:
        found: list[Invocation] = []
        for inv, _ in reversed(self.tables.invocations.values()):
            if 0 <= query.limit <= len(found):  # as SQL's LIMIT: a negative one is no limit
                break
            if (query.status and inv.status != query.status) or (query.function and inv.function != query.function):
                continue
            found.append(inv)
        return found

    def outbox(self) -> list[Invocation]:
        return [inv for inv, _ in self.tables.invocations.values() if inv.status == PENDING]

    def counts(self) -> dict[str, int]:
        tables = self.tables
        counts = dict(Counter(inv.status for inv, _ in tables.invocations.values()))
        counts["queued"] = len(tables.queued)
        counts["dropped"] = len(tables.dropped)
        return counts
