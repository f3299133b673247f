"""The scheduler state port: what the scheduler stores, the commands that change it, and the
`SchedulerState` interface every backend implements (as apscheduler 4's `abc.DataStore`).

A backend keeps four things durably: registered functions, their join queues, the outbox of
invocations (with its history and dead letters) and the dropped events. The writer thread
(writer.py) hands it batches of commands; `apply` runs a batch in ONE transaction, so an event, the
join state it changes and the outbox rows it creates are committed together.

Backends, chosen by the URL's scheme in `open_state`:
- `sqlite:///abs/path.sqlite` (or a plain path): sqlite_state.py, the durable default;
- `postgresql://user@host:port/db`: postgresql_state.py, for a fleet: several scheduler replicas
  share one database (`shared`: invocations are claimed with leases, see `Claim`);
- `memory://` (private) or `memory://name` (shared by name in this process): memory_state.py,
  nothing survives the process; for tests.
Adding one: a module with `from_url(url, *, synchronous) -> SchedulerState` (state_base.py does
the join bookkeeping; the module only stores), one line in `BACKENDS`, and its URL in the contract
suite (tests/unit/test_scheduler_state.py).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hometwin.scheduler.core import FunctionSpec, QueuedEvent

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"

# scheme -> module with `from_url`; imported on use, so a backend's driver is needed only when used.
BACKENDS = {
    "sqlite": "hometwin.scheduler.sqlite_state",
    "memory": "hometwin.scheduler.memory_state",
    "postgresql": "hometwin.scheduler.postgresql_state",
}


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
    # Dead after exhausting its attempts on retryable failures (not refused by a permanent
    # answer): replayed automatically once its function delivers again (dispatch.py).
    exhausted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "function": self.function, "url": self.url, "method": self.method,
                "mock": self.mock, "body": json.loads(self.body), "event_ids": list(self.event_ids),
                "created_at": self.created_at, "attempts": self.attempts,
                "next_attempt_at": self.next_attempt_at, "status": self.status, "last_error": self.last_error,
                "exhausted": self.exhausted}


# -- commands (applied by the writer thread, in order, one transaction per batch) ------------------
@dataclass(frozen=True, slots=True)
class AddEvent:
    name: str
    data: Any
    received_at: float
    # The request's bytes count once per subscribed function against `fanout_budget` (0: none);
    # over it, LimitExceeded (413) and nothing is stored.
    size: int = 0
    fanout_budget: int = 0


@dataclass(frozen=True, slots=True)
class EventAccepted:
    """The result of AddEvent."""

    event_id: str
    subscribers: int
    invocations: tuple[Invocation, ...]


@dataclass(frozen=True, slots=True)
class Register:
    spec: FunctionSpec
    max_functions: int = 0  # a new name beyond this many functions: LimitExceeded (409); 0: no cap


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
    exhausted: bool = False  # dead of retryable failures (see Invocation.exhausted)


@dataclass(frozen=True, slots=True)
class Replay:
    """Put dead invocations back into the outbox: by id, or all of one function, or all;
    `exhausted_only`: only those dead of retryable failures; `limit`: the oldest so many (0: all)."""

    ids: tuple[str, ...] = ()
    function: str | None = None
    at: float = 0.0
    exhausted_only: bool = False
    limit: int = 0


@dataclass(frozen=True, slots=True)
class Expire:
    now: float


@dataclass(frozen=True, slots=True)
class Prune:
    delivered_before: float
    dead_before: float = 0.0  # dead invocations that died before this are deleted too (0: none)


@dataclass(frozen=True, slots=True)
class Status:
    pass


@dataclass(frozen=True, slots=True)
class Claim:
    """For a state shared by several scheduler processes: extend this process's leases on the
    pending invocations it delivers, and take over (claim) pending ones whose lease ran out (their
    replica died or stopped); returns those, oldest first, at most `limit`. A single-process
    backend returns [] (every pending row is already this process's, from `open` or its commits)."""

    limit: int = 1000


@dataclass(frozen=True, slots=True)
class ListInvocations:
    status: str | None = None
    function: str | None = None
    limit: int = 100


Command = AddEvent | Register | Delete | Outcome | Replay | Expire | Prune | Status | ListInvocations | Claim
# Batches of only these acknowledge no client: a backend may commit them without waiting for the
# disk (losing one to a power cut means one more delivery, which at-least-once allows).
RELAXED = (Outcome, Expire, Prune, Status, ListInvocations, Claim)


class SchedulerState(Protocol):
    """The scheduler's durable state. One thread (the writer) calls open, apply and close;
    `spec` may be read from the event loop meanwhile (the dispatcher's per-function limits).

    `claim_interval`: 0 for a state only this process uses; for a shared one (several replicas on
    one database), how often, in seconds, the app must send `Claim` to keep its leases."""

    claim_interval: float

    @property
    def location(self) -> str:
        """Where the state lives, for log lines (a path, a URL without credentials)."""
        ...

    def open(self) -> list[Invocation]:
        """Connect (creating what is missing), rebuild the join state; return the undelivered
        outbox this process must deliver (a shared state: the rows it claimed, see `Claim`).
        Raises StoreUnavailable when the backend cannot be opened."""
        ...

    def apply(self, commands: Sequence[Command]) -> list[Any]:
        """Apply commands in order in one transaction; one result per command. A command's
        ValueError is its result, not raised; a backend error rolls everything back, rebuilds the
        join state from what is stored and raises StoreUnavailable."""
        ...

    def close(self) -> None: ...

    def outbox(self) -> list[Invocation]:
        """The pending invocations, oldest first."""
        ...

    def spec(self, name: str) -> FunctionSpec | None: ...

    def queues(self, name: str) -> dict[str, list[QueuedEvent]]:
        """A copy of a function's join queues, in subscription order (KeyError if unknown)."""
        ...

    def counts(self) -> dict[str, int]:
        """Invocations per status present, plus `queued` and `dropped` events."""
        ...


def scheme_of(url: str) -> str:
    """The backend scheme of a state URL; a plain path is SQLite."""
    scheme, sep, _ = url.partition("://")
    if sep:
        return scheme.lower()
    return "sqlite"


def open_state(url: str, *, synchronous: str = "FULL") -> SchedulerState:
    """The backend named by `url`'s scheme, not yet opened (nothing connects here).

    `synchronous` is the durability of acknowledging commits: FULL survives power loss, NORMAL
    process crashes only; each backend maps it to its own setting. ValueError for a bad URL.
    """
    scheme = scheme_of(url)
    module = BACKENDS.get(scheme)
    if module is None:
        raise ValueError(f"state URL {url!r}: unknown scheme {scheme!r}; only sqlite:/// is supported "
                         "for durable state on one machine, postgresql://user@host:port/db for several "
                         "replicas (memory:// keeps it in this process, for tests)")
    state: SchedulerState = importlib.import_module(module).from_url(url, synchronous=synchronous)
    return state
