"""The scheduler state contract, run against every backend (as apscheduler's data-store tests):
what is committed survives reopening, batches are atomic, the outbox rules hold.

A backend joins the suite with one entry in `BACKEND_URLS`; `test_every_backend_runs_the_contract`
fails while one in `state.BACKENDS` is missing.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from hometwin.scheduler.core import FunctionSpec
from hometwin.scheduler.errors import LimitExceeded, StoreUnavailable
from hometwin.scheduler.state import (
    BACKENDS,
    AddEvent,
    Delete,
    Expire,
    Invocation,
    ListInvocations,
    Outcome,
    Prune,
    Register,
    Replay,
    SchedulerState,
    Status,
    open_state,
)

# backend name -> a fresh state URL (in the test's temporary directory, or a new database on the
# session's PostgreSQL server); reopening the URL must see what was committed before
# (memory://name shares its tables by name within the process).
BACKEND_URLS: dict[str, Callable[[pytest.FixtureRequest, Path], str]] = {
    "memory": lambda request, tmp: f"memory://contract-{uuid.uuid4().hex}",
    "sqlite": lambda request, tmp: f"sqlite:///{tmp / 's.sqlite'}",
    "postgresql": lambda request, tmp: request.getfixturevalue("postgres_server").new_database("contract"),
}


class Backend:
    """One backend under test: `open()` opens a new state object on the same stored state."""

    def __init__(self, url: str) -> None:
        self.url = url

    def open(self) -> tuple[SchedulerState, list[Invocation]]:
        state = open_state(self.url)
        return state, state.open()


@pytest.fixture(params=sorted(BACKEND_URLS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return Backend(BACKEND_URLS[request.param](request, tmp_path))


def test_every_backend_runs_the_contract():
    assert set(BACKEND_URLS) == set(BACKENDS)


def test_partial_joins_and_outbox_survive_reopening(backend: Backend):
    store, outbox = backend.open()
    assert outbox == []
    store.apply([Register(FunctionSpec("f", ("A", "B", "C"), "http://x/f", "POST"))])
    a1, b1, a2 = store.apply([AddEvent("A", {"n": 1}, 1000.0), AddEvent("B", [1, 2], 1001.0),
                              AddEvent("A", {"n": 2}, 1002.0)])
    assert a1.invocations == () and a1.subscribers == 1
    store.close()

    store, outbox = backend.open()
    assert outbox == []
    queues = store.queues("f")
    assert [e.event_id for e in queues["A"]] == [a1.event_id, a2.event_id]
    assert [e.data for e in queues["B"]] == [[1, 2]]
    (c1,) = store.apply([AddEvent("C", None, 1003.0)])
    (inv,) = c1.invocations
    assert inv.event_ids == (a1.event_id, b1.event_id, c1.event_id)
    assert json.loads(inv.body) == {"A": {"data": {"n": 1}, "timestamp": "1970-01-01T00:16:40+0000"},
                        "B": {"data": [1, 2], "timestamp": "1970-01-01T00:16:41+0000"},
                        "C": {"data": None, "timestamp": "1970-01-01T00:16:43+0000"}}
    store.close()

    store, outbox = backend.open()
    assert [o.id for o in outbox] == [inv.id]  # undelivered: delivered again after a restart
    assert [e.event_id for e in store.queues("f")["A"]] == [a2.event_id]  # consumed ones gone
    assert store.counts()["queued"] == 1
    store.apply([Outcome(inv.id, "delivered", 1, 1004.0)])
    store.close()

    store, outbox = backend.open()
    assert outbox == []  # delivered: never again
    assert store.apply([Status()])[0][0]["last_invoke"] == 1003000


def test_a_failing_batch_commits_nothing_and_memory_follows_the_database(backend: Backend):
    store, _ = backend.open()
    store.apply([Register(FunctionSpec("f", ("A", "B"), "http://x/f"))])
    with pytest.raises(TypeError):
        store.apply([AddEvent("A", {"ok": 1}, 1.0), AddEvent("A", object(), 2.0)])
    assert store.queues("f")["A"] == []
    assert store.counts()["queued"] == 0
    store.close()


def test_reregistration_rules_are_persisted(backend: Backend):
    store, _ = backend.open()
    store.apply([Register(FunctionSpec("f", ("A", "B"), "http://x/f"))])
    store.apply([AddEvent("A", 1, 1.0), AddEvent("B", 2, 2.0), AddEvent("B", 3, 3.0)])  # one join, B waits
    (same,) = store.apply([Register(FunctionSpec("f", ("A", "B"), "http://x/f"))])
    assert not same.changed
    (changed,) = store.apply([Register(FunctionSpec("f", ("A", "C"), "http://x/g"))])
    assert changed.subs_changed and [d.reason for d in changed.dropped] == ["unsubscribed"]
    store.close()
    store, _ = backend.open()
    spec = store.spec("f")
    assert spec is not None and spec.subs == ("A", "C") and spec.url == "http://x/g"
    assert store.counts()["queued"] == 0 and store.counts()["dropped"] == 1
    store.close()


def test_delete_drops_and_records_pending_events(backend: Backend):
    store, _ = backend.open()
    store.apply([Register(FunctionSpec("f", ("A", "B"), "http://x/f")), AddEvent("A", 1, 1.0)])
    (dropped,) = store.apply([Delete("f")])
    assert dropped is not None and len(dropped) == 1
    assert store.apply([Delete("f")]) == [None]
    assert store.counts()["dropped"] == 1 and store.counts()["queued"] == 0
    store.close()


def test_dead_letters_replay_and_prune(backend: Backend):
    store, _ = backend.open()
    store.apply([Register(FunctionSpec("f", ("A",), "http://x/f"))])
    first, second = store.apply([AddEvent("A", 1, 1.0), AddEvent("A", 2, 2.0)])
    dead_id, ok_id = first.invocations[0].id, second.invocations[0].id
    store.apply([Outcome(dead_id, "dead", 1, 3.0, error="HTTP 400"), Outcome(ok_id, "delivered", 1, 3.0)])
    (dead,) = store.apply([ListInvocations("dead")])[0]
    assert dead.id == dead_id and dead.last_error == "HTTP 400"
    (replayed,) = store.apply([Replay(("nope",), None, 4.0)])
    assert replayed == []
    (replayed,) = store.apply([Replay((), "f", 4.0)])
    assert [r.id for r in replayed] == [dead_id] and replayed[0].attempts == 0
    assert [o.id for o in store.outbox()] == [dead_id]
    assert store.apply([Prune(delivered_before=10.0)]) == [1]  # the delivered one
    assert {inv.id for inv in store.apply([ListInvocations()])[0]} == {dead_id}
    store.close()


def test_expired_events_are_recorded(backend: Backend):
    store, _ = backend.open()
    store.apply([Register(FunctionSpec("w", ("A", "B"), "http://x/w", join_window=5.0)),
                 AddEvent("A", 1, 100.0)])
    assert store.apply([Expire(104.0)]) == [[]]
    (expired,) = store.apply([Expire(106.0)])
    assert [d.reason for d in expired] == ["expired"]
    store.close()
    store, _ = backend.open()
    assert store.counts()["queued"] == 0 and store.counts()["dropped"] == 1
    store.close()


# -- beyond the original SQLite tests: rules every backend must also keep ---------------------------
def test_status_and_last_invoke_across_reopening(backend: Backend):
    store, _ = backend.open()
    store.apply([Register(FunctionSpec("f", ("A", "B"), "http://x/f", "POST")),
                 Register(FunctionSpec("m", ("A",), "http://x/m", mock=True))])
    (a1, b1, a2) = store.apply([AddEvent("A", 1, 10.0), AddEvent("B", 2, 11.0), AddEvent("A", 3, 12.0)])
    assert [inv.status for inv in a1.invocations] == ["delivered"]  # the mock: consumed, never called
    (status,) = store.apply([Status()])
    expected = [
        {"name": "f", "subs": ["A", "B"], "last_invoke": 11000,
         "events": [{"ready": ["A"], "waiting": ["B"]}], "url": "http://x/f", "method": "POST", "mock": False},
        {"name": "m", "subs": ["A"], "last_invoke": 12000, "events": [], "url": "http://x/m",
         "method": "GET", "mock": True},
    ]
    assert status == expected
    store.close()
    store, outbox = backend.open()
    assert store.apply([Status()]) == [expected]
    assert [inv.id for inv in outbox] == [b1.invocations[0].id]  # mock rows are never pending
    assert store.counts() == {"pending": 1, "delivered": 2, "queued": 1, "dropped": 0}
    assert a2.subscribers == 2
    store.close()


def test_a_deleted_and_reregistered_function_starts_afresh(backend: Backend):
    store, _ = backend.open()
    store.apply([Register(FunctionSpec("f", ("A",), "http://x/f")), AddEvent("A", 1, 5.0)])
    store.apply([Delete("f"), Register(FunctionSpec("f", ("A", "B"), "http://x/f")), AddEvent("A", 2, 6.0)])
    store.close()
    store, _ = backend.open()
    assert store.apply([Status()])[0][0]["last_invoke"] is None
    assert [e.data for e in store.queues("f")["A"]] == [2]
    store.close()


def test_list_filters_and_orders_newest_first(backend: Backend):
    store, _ = backend.open()
    store.apply([Register(FunctionSpec("f", ("A",), "http://x/f")), Register(FunctionSpec("g", ("A",), "http://x/g"))])
    first, second = store.apply([AddEvent("A", 1, 1.0), AddEvent("A", 2, 2.0)])
    newest_f = second.invocations[0]
    store.apply([Outcome(newest_f.id, "pending", 1, 3.0, 9.0, "HTTP 503")])
    (rows,) = store.apply([ListInvocations(function="f")])
    assert [r.id for r in rows] == [newest_f.id, first.invocations[0].id]
    assert (rows[0].attempts, rows[0].next_attempt_at, rows[0].last_error) == (1, 9.0, "HTTP 503")
    assert len(store.apply([ListInvocations(limit=3)])[0]) == 3
    assert store.apply([ListInvocations(status="dead")]) == [[]]
    store.close()


def test_a_bad_registration_is_its_result_and_the_batch_commits(backend: Backend):
    store, _ = backend.open()
    bad, good = store.apply([Register(FunctionSpec("f", ("A", "A"), "http://x/f")),
                             Register(FunctionSpec("g", ("A",), "http://x/g"))])
    assert isinstance(bad, ValueError) and not isinstance(good, Exception)
    store.close()
    store, _ = backend.open()
    assert store.spec("f") is None and store.spec("g") is not None
    store.close()


# -- caps, dead-letter retention and automatic replay (docs/scheduler.md, Limits and Delivery) ------
def test_the_function_cap_refuses_new_names_only(backend: Backend):
    store, _ = backend.open()
    first = store.apply([Register(FunctionSpec(f"f{i}", ("A",), "http://x/f"), max_functions=3) for i in range(4)])
    assert [isinstance(r, LimitExceeded) for r in first] == [False, False, False, True]
    assert first[3].http_status == 409 and "3 functions are registered" in str(first[3])
    (again,) = store.apply([Register(FunctionSpec("f0", ("A", "B"), "http://x/g"), max_functions=3)])
    assert again.changed  # a registered name may still change
    store.apply([Delete("f1")])
    (fits,) = store.apply([Register(FunctionSpec("f3", ("A",), "http://x/f"), max_functions=3)])
    assert fits.created
    store.close()


def test_an_event_over_the_fan_out_budget_is_refused_and_nothing_is_stored(backend: Backend):
    store, _ = backend.open()
    store.apply([Register(FunctionSpec(f"f{i}", ("A", "B"), "http://x/f")) for i in range(4)])
    over, fits, unsubscribed = store.apply([
        AddEvent("A", "x" * 300, 1.0, size=300, fanout_budget=1000),  # 300 bytes x 4 functions
        AddEvent("A", "x" * 200, 2.0, size=250, fanout_budget=1000),  # 250 x 4: just fits
        AddEvent("Z", "x" * 900, 3.0, size=1000, fanout_budget=1000),  # nobody: counts once
    ])
    assert isinstance(over, LimitExceeded) and over.http_status == 413
    assert "1000 bytes" in str(over) and "4 subscribed functions" in str(over)
    assert fits.subscribers == 4 and unsubscribed.subscribers == 0
    assert [e.data for e in store.queues("f0")["A"]] == ["x" * 200]
    assert store.counts()["queued"] == 4
    store.close()


def test_dead_rows_are_pruned_after_their_own_retention(backend: Backend):
    store, _ = backend.open()
    store.apply([Register(FunctionSpec("f", ("A",), "http://x/f"))])
    results = store.apply([AddEvent("A", n, float(n)) for n in range(4)])
    old_dead, new_dead, delivered, pending = (r.invocations[0].id for r in results)
    store.apply([Outcome(old_dead, "dead", 1, 10.0, error="HTTP 400"),
                 Outcome(new_dead, "dead", 1, 50.0, error="HTTP 400"),
                 Outcome(delivered, "delivered", 1, 10.0)])
    assert store.apply([Prune(delivered_before=20.0)]) == [1]  # no dead_before: dead rows stay
    assert store.apply([Prune(delivered_before=20.0, dead_before=20.0)]) == [1]
    assert {inv.id for inv in store.apply([ListInvocations()])[0]} == {new_dead, pending}
    store.close()


def test_exhausted_dead_letters_are_replayed_alone_oldest_first_in_batches(backend: Backend):
    store, _ = backend.open()
    store.apply([Register(FunctionSpec("f", ("A",), "http://x/f")), Register(FunctionSpec("g", ("A",), "http://x/g"))])
    results = store.apply([AddEvent("A", n, float(n)) for n in range(4)])
    f_ids = [r.invocations[0].id for r in results]  # f's invocation comes first in each event
    g_id = results[0].invocations[1].id
    store.apply([Outcome(f_ids[0], "dead", 1, 9.0, error="HTTP 404"),  # refused: never replayed by itself
                 *[Outcome(i, "dead", 500, 9.0, error="HTTP 503", exhausted=True) for i in f_ids[1:]],
                 Outcome(g_id, "dead", 500, 9.0, error="timeout after 10s", exhausted=True)])
    store.close()
    store, _ = backend.open()
    (dead,) = store.apply([ListInvocations("dead", "f")])
    assert [inv.exhausted for inv in dead] == [True, True, True, False]  # newest first; survives reopening
    (first,) = store.apply([Replay((), "f", 20.0, exhausted_only=True, limit=2)])
    assert [inv.id for inv in first] == f_ids[1:3]
    assert all(inv.status == "pending" and inv.attempts == 0 and not inv.exhausted for inv in first)
    (rest,) = store.apply([Replay((), "f", 21.0, exhausted_only=True, limit=2)])
    assert [inv.id for inv in rest] == f_ids[3:]
    assert store.apply([Replay((), "f", 22.0, exhausted_only=True, limit=2)]) == [[]]
    assert [inv.id for inv in store.apply([ListInvocations("dead")])[0]] == [g_id, f_ids[0]]
    store.close()


def test_sqlite_from_before_the_exhausted_column_is_migrated(tmp_path: Path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as old:  # the outbox as it was created before
        old.execute("CREATE TABLE invocations (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, "
                    "function TEXT NOT NULL, url TEXT NOT NULL, method TEXT NOT NULL, mock INTEGER NOT NULL, "
                    "body TEXT NOT NULL, event_ids TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT "
                    "NULL DEFAULT 0, next_attempt_at REAL NOT NULL, created_at REAL NOT NULL, updated_at REAL "
                    "NOT NULL, last_error TEXT)")
        old.executemany("INSERT INTO invocations (id, function, url, method, mock, body, event_ids, status, "
                        "next_attempt_at, created_at, updated_at, last_error) "
                        "VALUES (?, 'f', 'http://x/f', 'POST', 0, '{}', '[]', ?, 0, 1, 1, ?)",
                        [("503", "dead", "HTTP 503"), ("429", "dead", "HTTP 429"), ("404", "dead", "HTTP 404"),
                         ("refused", "dead", "ClientConnectorError: refused"), ("301", "dead", "HTTP 301"),
                         ("ok", "delivered", None)])
    store = open_state(f"sqlite:///{path}")
    store.open()
    (rows,) = store.apply([ListInvocations()])
    assert {inv.id for inv in rows if inv.exhausted} == {"503", "429", "refused"}
    store.close()


# -- choosing a backend ---------------------------------------------------------------------------
def test_unknown_scheme_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown scheme 'postgres'; only sqlite:/// is supported"):
        open_state("postgres://db/x")


def test_plain_paths_are_sqlite(tmp_path: Path):
    store = open_state(str(tmp_path / "plain.sqlite"))
    assert store.location == str(tmp_path / "plain.sqlite")


@pytest.mark.parametrize("url", ["memory://a/b", "memory://a?x=1"])
def test_memory_urls_name_a_store_or_nothing(url: str):
    with pytest.raises(ValueError, match="memory://name"):
        open_state(url)


def test_private_memory_states_share_nothing():
    one, two = open_state("memory://"), open_state("memory://")
    one.open(), two.open()
    one.apply([Register(FunctionSpec("f", ("A",), "http://x/f"))])
    assert two.spec("f") is None


# -- SQLite: its own errors become the port's StoreUnavailable -------------------------------------
def test_sqlite_that_cannot_be_opened_is_unavailable(tmp_path: Path):
    store = open_state(f"sqlite:///{tmp_path}")  # a directory, not a database file
    with pytest.raises(StoreUnavailable, match=str(tmp_path)):
        store.open()


def test_sqlite_errors_in_a_batch_are_unavailable_and_roll_back(tmp_path: Path):
    path = tmp_path / "s.sqlite"
    store = open_state(f"sqlite:///{path}")
    store.open()
    store.apply([Register(FunctionSpec("f", ("A",), "http://x/f")),
                 Register(FunctionSpec("g", ("A", "B"), "http://x/g"))])
    with sqlite3.connect(path) as other:  # the outbox table vanishes under the scheduler
        other.execute("DROP TABLE invocations")
    with pytest.raises(StoreUnavailable, match="no such table"):
        store.apply([AddEvent("A", 1, 1.0)])
    assert store.queues("g")["A"] == []  # the join state follows what is stored
    store.close()
