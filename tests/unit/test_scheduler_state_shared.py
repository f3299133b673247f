"""The PostgreSQL state shared by several scheduler replicas (two state objects on one database,
as two processes would hold them), against a real PostgreSQL server: joins stay whole, every
pending invocation has one owner at a time, a stopped or dead replica's rows come back."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter

import psycopg
import pytest

from hometwin.scheduler.core import FunctionSpec
from hometwin.scheduler.errors import LimitExceeded, StoreUnavailable
from hometwin.scheduler.postgresql_state import PostgreSQLState, from_url
from hometwin.scheduler.state import (
    AddEvent,
    Claim,
    Delete,
    EventAccepted,
    ListInvocations,
    Outcome,
    Prune,
    Register,
    Status,
)
from tests.servers import PostgresServer, wait_until


def replica(url: str) -> tuple[PostgreSQLState, list]:
    state = from_url(url)
    return state, state.open()


@pytest.fixture
def db_url(postgres_server: PostgresServer) -> str:
    return postgres_server.new_database("shared")


def test_a_join_completes_across_replicas_and_registrations_are_seen_by_both(db_url: str):
    one, _ = replica(db_url)
    two, _ = replica(db_url)
    one.apply([Register(FunctionSpec("f", ("A", "B", "C"), "http://x/f", "POST"))])
    (a,) = two.apply([AddEvent("A", 1, 1.0)])  # two has never seen f registered: it reloads first
    assert a.subscribers == 1
    (b,) = one.apply([AddEvent("B", 2, 2.0)])
    (c,) = two.apply([AddEvent("C", 3, 3.0)])
    (inv,) = c.invocations
    assert inv.event_ids == (a.event_id, b.event_id, c.event_id)
    assert one.apply([Status()])[0][0]["last_invoke"] == 3000
    assert one.counts()["queued"] == 0
    one.close(), two.close()


def test_concurrent_replicas_join_every_complete_set_exactly_once(db_url: str):
    setup, _ = replica(db_url)
    setup.apply([Register(FunctionSpec("f", ("A", "B", "C"), "http://x/f"))])
    setup.close()
    accepted: list[tuple[str, EventAccepted]] = []
    lock = threading.Lock()
    names = [n for n in "ABC" for _ in range(40)]
    random.Random(7).shuffle(names)

    def post(share: list[str]) -> None:
        state, _ = replica(db_url)
        for start in range(0, len(share), 4):  # small batches, as group commits under load
            results = state.apply([AddEvent(n, n, time.time()) for n in share[start:start + 4]])
            with lock:
                accepted.extend(zip(share[start:start + 4], results, strict=True))
        state.close()

    threads = [threading.Thread(target=post, args=(names[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    invocations = [inv for _, r in accepted for inv in r.invocations]
    assert len(invocations) == 40  # 40 of each name: 40 complete sets
    joined = Counter(e for inv in invocations for e in inv.event_ids)
    assert set(joined.values()) == {1} and len(joined) == 120  # every event in exactly one join
    by_id = {r.event_id: name for name, r in accepted}
    assert all(sorted(by_id[e] for e in inv.event_ids) == ["A", "B", "C"] for inv in invocations)
    check, _ = replica(db_url)
    assert check.counts()["queued"] == 0 and check.counts()["pending"] == 40
    check.close()


def one_value(cursor: psycopg.Cursor) -> int:
    row = cursor.fetchone()
    assert row is not None
    return row[0]


def flush_row(db_url: str, key: str) -> int | None:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT value FROM scheduler_meta WHERE key = %s", (key,)).fetchone()
    return None if row is None else row[0]


def test_a_join_batch_frees_the_join_lock_before_its_wal_flush_and_is_acknowledged_after(db_url: str):
    """FULL: a join batch commits without waiting for the disk, then writes its replica's own
    `wal_flush:` row synchronously, which waits for the WAL flush up to it (so of the batch); only
    then are its events acknowledged. Here another session holds that row: the acknowledgement
    waits, while the other replica already takes the generation lock and joins with the event."""
    one, _ = replica(db_url)
    two, _ = replica(db_url)
    one.apply([Register(FunctionSpec("f", ("A", "B"), "http://x/f", "POST"))])
    assert flush_row(db_url, one.flush_key) is not None  # written by the registration's batch
    blocker = psycopg.connect(db_url)  # a transaction stays open until rollback()
    blocker.execute("UPDATE scheduler_meta SET value = value WHERE key = %s", (one.flush_key,))
    acknowledged: list[EventAccepted] = []
    post_a = threading.Thread(target=lambda: acknowledged.extend(one.apply([AddEvent("A", 1, 1.0)])))
    post_a.start()
    joined: list[EventAccepted] = []
    post_b = threading.Thread(target=lambda: joined.extend(two.apply([AddEvent("B", 2, 2.0)])))
    with psycopg.connect(db_url, autocommit=True) as conn:  # until one's batch is committed (not yet durable)
        wait_until(lambda: one_value(conn.execute("SELECT count(*) FROM scheduler_queued")) == 1, 10,
                   what="event A committed by the first replica")
    post_b.start()
    post_b.join(10)
    try:
        assert joined and len(joined[0].invocations) == 1, "the other replica could not join meanwhile"
        assert post_a.is_alive() and not acknowledged, "acknowledged before its WAL flush was waited for"
    finally:
        blocker.rollback()
        blocker.close()
    post_a.join(10)
    assert acknowledged and joined[0].invocations[0].event_ids == (acknowledged[0].event_id, joined[0].event_id)
    one.close(), two.close()
    assert flush_row(db_url, one.flush_key) is None  # a graceful stop leaves no row behind


def test_the_flush_row_of_a_replica_that_died_is_pruned(db_url: str):
    state, _ = replica(db_url)
    state.apply([Register(FunctionSpec("f", ("A",), "http://x/f"))])
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO scheduler_meta (key, value) VALUES ('wal_flush:gone:1:ab', 0)")
    state.apply([Prune(delivered_before=0.0)])
    assert flush_row(db_url, "wal_flush:gone:1:ab") is None
    assert flush_row(db_url, state.flush_key) is not None  # a live replica's row stays
    state.close()


def test_each_pending_row_has_one_owner_and_a_dead_replicas_rows_come_back(db_url: str):
    one, _ = replica(db_url + "?claim_lease=1")
    one.apply([Register(FunctionSpec("f", ("A",), "http://x/f"))])
    first, second = one.apply([AddEvent("A", 1, 1.0), AddEvent("A", 2, 2.0)])
    two, recovered = replica(db_url + "?claim_lease=1")
    assert recovered == [] and two.apply([Claim()]) == [[]]  # one's leases hold
    time.sleep(1.2)  # one stops renewing (it "died"): its leases run out
    (claimed,) = two.apply([Claim()])
    assert [inv.id for inv in claimed] == [first.invocations[0].id, second.invocations[0].id]
    assert one.apply([Claim()]) == [[]]  # now two's
    # one wakes up late: its retry outcome no longer decides, its delivery still counts
    one.apply([Outcome(claimed[0].id, "pending", 1, 5.0, 60.0, "HTTP 503"),
               Outcome(claimed[1].id, "delivered", 1, 5.0)])
    rows = {inv.id: inv for inv in one.apply([ListInvocations()])[0]}
    assert rows[claimed[0].id].attempts == 0 and rows[claimed[0].id].status == "pending"
    assert rows[claimed[1].id].status == "delivered"
    one.close(), two.close()


def test_a_graceful_stop_hands_its_rows_back_at_once(db_url: str):
    one, _ = replica(db_url)  # the default lease: 30 s
    one.apply([Register(FunctionSpec("f", ("A",), "http://x/f"))])
    (event,) = one.apply([AddEvent("A", 1, 1.0)])
    two, _ = replica(db_url)
    assert two.apply([Claim()]) == [[]]
    one.close()
    (claimed,) = two.apply([Claim()])
    assert [inv.id for inv in claimed] == [event.invocations[0].id]
    two.close()


def test_renewal_keeps_a_slow_delivery_with_its_replica(db_url: str):
    one, _ = replica(db_url + "?claim_lease=1")
    one.apply([Register(FunctionSpec("f", ("A",), "http://x/f"))])
    one.apply([AddEvent("A", 1, 1.0)])
    two, _ = replica(db_url + "?claim_lease=1")
    for _ in range(4):  # 1.6 s, longer than the lease: one keeps renewing
        time.sleep(0.4)
        assert one.apply([Claim()]) == [[]]
        assert two.apply([Claim()]) == [[]]
    one.close(), two.close()


def test_a_lost_connection_is_unavailable_then_the_state_reconnects(db_url: str, postgres_server: PostgresServer):
    state, _ = replica(db_url)
    state.apply([Register(FunctionSpec("f", ("A", "B"), "http://x/f"))])
    with psycopg.connect(postgres_server.admin_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE application_name = 'hometwin-scheduler'")
    with pytest.raises(StoreUnavailable):
        state.apply([AddEvent("A", 1, 1.0)])
    (event,) = state.apply([AddEvent("A", 2, 2.0)])  # a new connection, the ledger reloaded
    assert event.subscribers == 1 and [e.data for e in state.queues("f")["A"]] == [2]
    state.close()


def test_a_nul_in_a_name_is_refused_alone_and_the_rest_of_the_batch_commits(db_url: str):
    state, _ = replica(db_url)
    bad_fn, good_fn = state.apply([Register(FunctionSpec("f\0", ("A",), "http://x/f")),
                                   Register(FunctionSpec("g", ("A",), "http://x/g"))])
    assert isinstance(bad_fn, LimitExceeded) and bad_fn.http_status == 422 and good_fn.created
    bad, good, listed, deleted = state.apply([AddEvent("A\0", 1, 1.0), AddEvent("A", {"x": "\0"}, 2.0),
                                              ListInvocations(function="g\0"), Delete("g\0")])
    assert isinstance(bad, LimitExceeded) and "NUL" in str(bad) and bad.http_status == 422
    (inv,) = good.invocations
    assert (listed, deleted) == ([], None)
    state.apply([Outcome(inv.id, "pending", 1, 3.0, 9.0, "reset by peer: \0")])
    (row,) = state.apply([ListInvocations()])[0]
    assert row.last_error == "reset by peer: \ufffd" and json.loads(row.body)["A"]["data"] == {"x": "\0"}
    state.close()


def test_a_failing_commit_is_unavailable_and_rolls_the_join_state_back(db_url: str):
    state, _ = replica(db_url)
    state.apply([Register(FunctionSpec("f", ("A",), "http://x/f")),
                 Register(FunctionSpec("g", ("A", "B"), "http://x/g"))])
    with psycopg.connect(db_url, autocommit=True) as other:  # the outbox vanishes under the scheduler
        other.execute("DROP TABLE scheduler_invocations")
    with pytest.raises(StoreUnavailable, match="scheduler_invocations"):
        state.apply([AddEvent("A", 1, 1.0)])  # f's invocation cannot be written: nothing is
    assert state.queues("g")["A"] == []  # the join state follows what is stored
    state.close()


def test_tables_from_a_newer_version_are_refused(db_url: str):
    state, _ = replica(db_url)
    state.close()
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE scheduler_meta SET value = 99 WHERE key = 'schema_version'")
    with pytest.raises(StoreUnavailable, match="schema version 99"):
        replica(db_url)


def test_an_unreachable_server_is_unavailable_and_names_no_password(postgres_server: PostgresServer):
    state = from_url(f"postgresql://hometwin:s3cret@127.0.0.1:{postgres_server.port + 1}/x?connect_timeout=2")
    assert state.location == f"postgresql://hometwin@127.0.0.1:{postgres_server.port + 1}/x"
    with pytest.raises(StoreUnavailable) as raised:
        state.open()
    assert "s3cret" not in str(raised.value)


@pytest.mark.parametrize("url, message", [
    ("postgresql://u@h/db?claim_lease=0.5", "claim_lease must be 1 to 3600"),
    ("postgresql://u@h/db?claim_lease=soon", "claim_lease must be 1 to 3600"),
    ("postgresql://u:pw@h:5432/", "name the database"),
])
def test_bad_urls_are_clear_errors_without_the_password(url: str, message: str):
    with pytest.raises(ValueError, match=message) as raised:
        from_url(url)
    assert "pw" not in str(raised.value)


def test_the_state_url_may_come_from_a_secret_file(tmp_path, monkeypatch: pytest.MonkeyPatch):
    from hometwin.config import SchedulerSettings

    secret = tmp_path / "scheduler-state-url"
    secret.write_text("postgresql://hometwin:pw@db:5432/fleet\n")
    monkeypatch.setenv("HOMETWIN_SCHEDULER_STATE", "sqlite:///tmp/ignored.sqlite")
    monkeypatch.setenv("HOMETWIN_SCHEDULER_STATE_FILE", str(secret))
    assert SchedulerSettings().state_url() == "postgresql://hometwin:pw@db:5432/fleet"  # the file wins
    monkeypatch.setenv("HOMETWIN_SCHEDULER_STATE_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="cannot read the secret file"):
        SchedulerSettings().state_url()
