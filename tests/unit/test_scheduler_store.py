"""The SQLite scheduler state: what is committed survives reopening, batches are atomic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hometwin.scheduler.core import FunctionSpec
from hometwin.scheduler.store import (
    AddEvent,
    Delete,
    Expire,
    ListInvocations,
    Outcome,
    Prune,
    Register,
    Replay,
    SchedulerStore,
    Status,
    sqlite_path,
)


def open_store(path: Path) -> tuple[SchedulerStore, list]:
    store = SchedulerStore(path)
    return store, store.open()


def test_partial_joins_and_outbox_survive_reopening(tmp_path: Path):
    store, outbox = open_store(tmp_path / "s.sqlite")
    assert outbox == []
    store.apply([Register(FunctionSpec("f", ("A", "B", "C"), "http://x/f", "POST"))])
    a1, b1, a2 = store.apply([AddEvent("A", {"n": 1}, 1000.0), AddEvent("B", [1, 2], 1001.0),
                              AddEvent("A", {"n": 2}, 1002.0)])
    assert a1.invocations == () and a1.subscribers == 1
    store.close()

    store, outbox = open_store(tmp_path / "s.sqlite")
    assert outbox == []
    queues = store.book.queues("f")
    assert [e.event_id for e in queues["A"]] == [a1.event_id, a2.event_id]
    assert [e.data for e in queues["B"]] == [[1, 2]]
    (c1,) = store.apply([AddEvent("C", None, 1003.0)])
    (inv,) = c1.invocations
    assert inv.event_ids == (a1.event_id, b1.event_id, c1.event_id)
    assert json.loads(inv.body) == {"A": {"data": {"n": 1}, "timestamp": "1970-01-01T00:16:40+0000"},
                        "B": {"data": [1, 2], "timestamp": "1970-01-01T00:16:41+0000"},
                        "C": {"data": None, "timestamp": "1970-01-01T00:16:43+0000"}}
    store.close()

    store, outbox = open_store(tmp_path / "s.sqlite")
    assert [o.id for o in outbox] == [inv.id]  # undelivered: delivered again after a restart
    assert [e.event_id for e in store.book.queues("f")["A"]] == [a2.event_id]  # consumed ones gone
    assert store.counts()["queued"] == 1
    store.apply([Outcome(inv.id, "delivered", 1, 1004.0)])
    store.close()

    store, outbox = open_store(tmp_path / "s.sqlite")
    assert outbox == []  # delivered: never again
    assert store.apply([Status()])[0][0]["last_invoke"] == 1003000


def test_a_failing_batch_commits_nothing_and_memory_follows_the_database(tmp_path: Path):
    store, _ = open_store(tmp_path / "s.sqlite")
    store.apply([Register(FunctionSpec("f", ("A", "B"), "http://x/f"))])
    with pytest.raises(TypeError):
        store.apply([AddEvent("A", {"ok": 1}, 1.0), AddEvent("A", object(), 2.0)])
    assert store.book.queues("f")["A"] == []
    assert store.counts()["queued"] == 0
    store.close()


def test_reregistration_rules_are_persisted(tmp_path: Path):
    store, _ = open_store(tmp_path / "s.sqlite")
    store.apply([Register(FunctionSpec("f", ("A", "B"), "http://x/f"))])
    store.apply([AddEvent("A", 1, 1.0), AddEvent("B", 2, 2.0), AddEvent("B", 3, 3.0)])  # one join, B waits
    (same,) = store.apply([Register(FunctionSpec("f", ("A", "B"), "http://x/f"))])
    assert not same.changed
    (changed,) = store.apply([Register(FunctionSpec("f", ("A", "C"), "http://x/g"))])
    assert changed.subs_changed and [d.reason for d in changed.dropped] == ["unsubscribed"]
    store.close()
    store, _ = open_store(tmp_path / "s.sqlite")
    spec = store.book.spec("f")
    assert spec is not None and spec.subs == ("A", "C") and spec.url == "http://x/g"
    assert store.counts()["queued"] == 0 and store.counts()["dropped"] == 1
    store.close()


def test_delete_drops_and_records_pending_events(tmp_path: Path):
    store, _ = open_store(tmp_path / "s.sqlite")
    store.apply([Register(FunctionSpec("f", ("A", "B"), "http://x/f")), AddEvent("A", 1, 1.0)])
    (dropped,) = store.apply([Delete("f")])
    assert dropped is not None and len(dropped) == 1
    assert store.apply([Delete("f")]) == [None]
    assert store.counts()["dropped"] == 1 and store.counts()["queued"] == 0
    store.close()


def test_dead_letters_replay_and_prune(tmp_path: Path):
    store, _ = open_store(tmp_path / "s.sqlite")
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


def test_expired_events_are_recorded(tmp_path: Path):
    store, _ = open_store(tmp_path / "s.sqlite")
    store.apply([Register(FunctionSpec("w", ("A", "B"), "http://x/w", join_window=5.0)),
                 AddEvent("A", 1, 100.0)])
    assert store.apply([Expire(104.0)]) == [[]]
    (expired,) = store.apply([Expire(106.0)])
    assert [d.reason for d in expired] == ["expired"]
    store.close()
    store, _ = open_store(tmp_path / "s.sqlite")
    assert store.counts()["queued"] == 0 and store.counts()["dropped"] == 1
    store.close()


@pytest.mark.parametrize(("url", "path"), [
    ("sqlite:///tmp/x.sqlite", "/tmp/x.sqlite"),
    ("sqlite:////tmp/x.sqlite", "/tmp/x.sqlite"),
    ("/tmp/x.sqlite", "/tmp/x.sqlite"),
])
def test_state_urls(url: str, path: str):
    assert sqlite_path(url) == Path(path)


@pytest.mark.parametrize("url", ["sqlite://relative.sqlite", "postgres://db/x"])
def test_unsupported_state_urls_are_refused(url: str):
    with pytest.raises(ValueError, match="sqlite:///"):
        sqlite_path(url)
