"""What every state backend shares: running commands against the `JoinLedger` in one transaction.

A backend subclasses `LedgerState` and only stores: open/close its connection, begin/commit/roll
back a transaction, load the stored functions and queues, write a `Changes`, and the outbox
operations (record an outcome, replay, prune, list, count). The join rules live in ledger.py and
core.py, once for all backends; the contract suite (tests/unit/test_scheduler_state.py) checks
that every backend stores them faithfully.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from hometwin.scheduler.core import FunctionSpec, QueuedEvent
from hometwin.scheduler.errors import StoreUnavailable
from hometwin.scheduler.ledger import Changes, JoinLedger
from hometwin.scheduler.state import (
    RELAXED,
    AddEvent,
    Claim,
    Command,
    Delete,
    Expire,
    Invocation,
    ListInvocations,
    Outcome,
    Prune,
    Register,
    Replay,
    Status,
)


class LedgerState(ABC):
    """A `SchedulerState` whose join state is a `JoinLedger` in memory, mirrored by the backend."""

    # The backend's own errors (connection lost, disk full, locked ...): they become StoreUnavailable.
    backend_errors: ClassVar[tuple[type[Exception], ...]] = ()
    # Only this process uses the state (see SchedulerState.claim_interval); a shared backend overrides.
    claim_interval: float = 0.0

    def __init__(self) -> None:
        self.ledger = JoinLedger()
        self._stale = False

    # -- the port --------------------------------------------------------------------------------
    @property
    @abstractmethod
    def location(self) -> str: ...

    def open(self) -> list[Invocation]:
        unavailable: tuple[type[Exception], ...] = (OSError, *self.backend_errors)
        try:
            self._connect()
            self.ledger = self._load()
            self._stale = False
            return self._recover()
        except unavailable as exc:
            self.close()
            raise StoreUnavailable(f"{self.location}: {exc}") from exc

    def apply(self, commands: Sequence[Command]) -> list[Any]:
        if self._stale:
            self._reload()
        results: list[Any] = []
        try:
            self._begin(durable=not all(isinstance(c, RELAXED) for c in commands))
            self._sync(commands)
            for command in commands:
                try:
                    results.append(self._apply_one(command))
                except ValueError as exc:
                    results.append(exc)
            self._commit()
        except BaseException as exc:
            # The ledger may hold what is being rolled back: rebuild it from what is stored.
            cleanup_failures: tuple[type[Exception], ...] = (StoreUnavailable, *self.backend_errors)
            try:
                self._rollback()
                self._reload()
            except cleanup_failures as also:
                raise StoreUnavailable(f"{exc}; then {also}") from exc
            if isinstance(exc, self.backend_errors):
                raise StoreUnavailable(str(exc)) from exc
            raise
        return results

    def _reload(self) -> None:
        """Rebuild the ledger from the store; until that succeeds, no command runs on a stale one."""
        self._stale = True
        try:
            self.ledger = self._load()
        except self.backend_errors as exc:
            raise StoreUnavailable(str(exc)) from exc
        self._stale = False

    def spec(self, name: str) -> FunctionSpec | None:
        return self.ledger.book.spec(name)

    def queues(self, name: str) -> dict[str, list[QueuedEvent]]:
        return self.ledger.book.queues(name)

    def _apply_one(self, command: Command) -> Any:
        match command:
            case AddEvent():
                accepted, changes = self.ledger.add_event(command.name, command.data, command.received_at,
                                                          command.size, command.fanout_budget)
                self._write(changes)
                return accepted
            case Outcome():
                self._record_outcome(command)
                return None
            case Register():
                registration, changes = self.ledger.register(command.spec, time.time(), command.max_functions)
                self._write(changes)
                return registration
            case Delete():
                dropped, changes = self.ledger.delete(command.name, time.time())
                self._write(changes)
                return dropped
            case Replay():
                return self._replay(command)
            case Expire():
                expired, changes = self.ledger.expire(command.now)
                self._write(changes)
                return expired
            case Prune():
                return self._prune(command.delivered_before, command.dead_before)
            case Status():
                return self.ledger.status()
            case ListInvocations():
                return self._list(command)
            case Claim():
                return self._claim(command)
        raise TypeError(f"unknown command {command!r}")

    # -- what a shared backend overrides (several processes on one state) -------------------------
    def _recover(self) -> list[Invocation]:
        """At open: the pending rows this process delivers; alone, all of them."""
        return self.outbox()

    def _sync(self, commands: Sequence[Command]) -> None:
        """Inside the batch's transaction, before its commands: a shared backend serialises the
        join state against the other processes and reloads the ledger if one of them changed it."""
        return None  # alone: the ledger is always current

    def _claim(self, claim: Claim) -> list[Invocation]:
        """Alone, every pending row is already this process's."""
        return []

    # -- what a backend implements ---------------------------------------------------------------
    @abstractmethod
    def _connect(self) -> None:
        """Open the connection, creating the schema if missing."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection; harmless when not open."""

    @abstractmethod
    def _load(self) -> JoinLedger:
        """The ledger of what is stored (`JoinLedger.restore`)."""

    @abstractmethod
    def _begin(self, durable: bool) -> None:
        """Start a transaction; `durable` False: nothing in it acknowledges a client (RELAXED)."""

    @abstractmethod
    def _commit(self) -> None: ...

    @abstractmethod
    def _rollback(self) -> None:
        """Undo the open transaction, if any; called after any failure inside `apply`."""

    @abstractmethod
    def _write(self, changes: Changes) -> None:
        """Store one command's changes (every part of it that is set)."""

    @abstractmethod
    def _record_outcome(self, outcome: Outcome) -> None:
        """Set the invocation's status, attempts, next_attempt_at, last_error, exhausted; updated at
        `outcome.at`."""

    @abstractmethod
    def _replay(self, replay: Replay) -> list[Invocation]:
        """Dead invocations matching the ids and/or function (and exhausted ones only, with
        `exhausted_only`) back to pending (attempts 0, not exhausted, due at `replay.at`); the
        oldest `limit` of them when it is set; returns them, oldest first, as they now are."""

    @abstractmethod
    def _prune(self, delivered_before: float, dead_before: float) -> int:
        """Delete delivered invocations last updated before `delivered_before` and dead ones last
        updated before `dead_before`; how many."""

    @abstractmethod
    def _list(self, query: ListInvocations) -> list[Invocation]:
        """Invocations matching status and function, newest first, at most `limit`."""

    @abstractmethod
    def outbox(self) -> list[Invocation]: ...

    @abstractmethod
    def counts(self) -> dict[str, int]: ...
