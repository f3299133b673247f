"""Two scheduler replicas (real processes under uvicorn) on one PostgreSQL database.

- Events of three-way joins posted concurrently to both replicas: every complete set is joined
  into exactly one invocation (one Idempotency-Key), every acknowledged event is in one, and
  both replicas deliver.
- SIGKILL of one replica under load: no acknowledged event is lost, no event is joined twice,
  and the survivor delivers the dead replica's undelivered invocations once their lease ran out.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.e2e.scheduler_helpers import PYTHON, Receiver, Scheduler
from tests.servers import PostgresServer, ServerProcess, wait_until

NAMES = ["A", "B", "C"]
LEASE = 2.0


class Replica(Scheduler):
    """`hometwin scheduler` on a postgresql:// state URL."""

    def __init__(self, url: str, tmp: Path, name: str, env: dict[str, str] | None = None) -> None:
        super().__init__(tmp / f"{name}-unused.sqlite", tmp / f"{name}.log", env)
        self.name = name
        self.process = ServerProcess(
            [PYTHON, "-m", "hometwin", "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
             "--state", url], tmp / f"{name}.log", self.env)


def _pending(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM scheduler_invocations WHERE status = 'pending'").fetchone()
        return int(row[0]) if row else -1


def _post(replica: Replica, names: list[str], acked: list[tuple[str, str, str, list[str]]],
          lock: threading.Lock, stop: threading.Event | None = None) -> None:
    """Post `names` in order (until `stop`); record (replica, event id, name, invocation ids) per 202."""
    with httpx.Client(base_url=replica.url, timeout=10) as client:
        for name in names:
            if stop is not None and stop.is_set():
                return
            try:
                response = client.post("/api/event", json={"name": name, "data": {"via": replica.name}})
            except httpx.HTTPError:
                if stop is not None:
                    return  # the replica was killed
                raise
            if response.status_code == 202:
                body = response.json()
                with lock:
                    acked.append((replica.name, body["id"], name, body["invocations"]))


def _joined_once(received: list, acked_ids: dict[str, str], *, all_acked: bool = True) -> dict[str, str]:
    """event id -> the one invocation key it was joined into (asserting there is only one).
    `all_acked` False: a killed replica may have committed events whose 202 never left it."""
    owner: dict[str, str] = {}
    for r in received:
        assert len(r.event_ids) == 3 and set(r.body) == set(NAMES)
        known = [acked_ids[e] for e in r.event_ids if e in acked_ids or all_acked]
        assert len(set(known)) == len(known) and (len(known) == 3 or not all_acked)
        for event_id in r.event_ids:
            assert owner.setdefault(event_id, r.key) == r.key, "an event was joined into two invocations"
    return owner


@pytest.mark.slow
def test_two_replicas_join_each_complete_set_exactly_once(postgres_server: PostgresServer, tmp_path: Path):
    db_url = postgres_server.new_database("replicas")
    receiver = Receiver().start()
    one = Replica(f"{db_url}?claim_lease={LEASE}", tmp_path, "one").start()
    two = Replica(f"{db_url}?claim_lease={LEASE}", tmp_path, "two").start()
    try:
        one.register("triple", NAMES, f"{receiver.base}/triple")
        names = [n for n in NAMES for _ in range(60)]
        random.Random(3).shuffle(names)
        acked: list[tuple[str, str, str, list[str]]] = []
        lock = threading.Lock()
        senders = [threading.Thread(target=_post, args=(replica, names[i::4], acked, lock))
                   for i, replica in enumerate([one, two, one, two])]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(60)
        assert len(acked) == 180
        wait_until(lambda: _pending(db_url) == 0 and len(receiver.for_path("/triple")) >= 60, 30,
                   what="every join delivered")
        acked_ids = {event_id: name for _, event_id, name, _ in acked}
        owner = _joined_once(receiver.for_path("/triple"), acked_ids)
        assert set(owner) == set(acked_ids)  # every acknowledged event in a join
        keys = {r.key for r in receiver.for_path("/triple")}
        assert len(keys) == 60  # one invocation per complete set (duplicates share a key)
        created_on = {replica for replica, _, _, invocations in acked if invocations}
        assert created_on == {"one", "two"}  # both replicas completed joins
        status = one.client.get("/api/status").json()
        assert status[0]["events"] == []  # nothing left waiting
    finally:
        one.stop()
        two.stop()
        receiver.stop()


@pytest.mark.slow
def test_sigkill_of_one_replica_loses_nothing_and_the_other_takes_over(postgres_server: PostgresServer,
                                                                       tmp_path: Path):
    db_url = postgres_server.new_database("failover")
    receiver = Receiver().start()
    receiver.script("/single", [200], delay=0.05)  # slow enough that a backlog builds up
    env = {"HOMETWIN_SCHEDULER_CONCURRENCY": "2"}
    one = Replica(f"{db_url}?claim_lease={LEASE}", tmp_path, "one", env).start()
    two = Replica(f"{db_url}?claim_lease={LEASE}", tmp_path, "two", env).start()
    try:
        one.register("single", ["A"], f"{receiver.base}/single")
        one.register("triple", NAMES, f"{receiver.base}/triple")
        rng = random.Random(5)
        names = [rng.choice(NAMES) for _ in range(20_000)]  # more than the load posts
        acked: list[tuple[str, str, str, list[str]]] = []
        lock, stop_one, stop_two = threading.Lock(), threading.Event(), threading.Event()
        senders = [threading.Thread(target=_post, args=(replica, names[i::4], acked, lock, stop))
                   for i, (replica, stop) in enumerate([(one, stop_one), (two, stop_two)] * 2)]
        for sender in senders:
            sender.start()
        wait_until(lambda: len(acked) > 400 and len(receiver.for_path("/single")) > 20, 60, what="load")
        kill_at = time.time()
        one.process.kill()
        stop_one.set()
        time.sleep(1.0)  # two keeps taking events alone
        stop_two.set()
        for sender in senders:
            sender.join(20)
        from_one = {inv for replica, _, _, invocations in acked if replica == "one" for inv in invocations}
        assert from_one, "the killed replica had created invocations"

        wait_until(lambda: _pending(db_url) == 0, 60, what="the survivor empties the outbox")
        time.sleep(0.3)
        delivered_keys = {r.key for r in receiver.received if r.status == 200}
        all_invocations = {inv for _, _, _, invocations in acked for inv in invocations}
        assert all_invocations <= delivered_keys, "an acknowledged invocation was never delivered"
        taken_over = [r for r in receiver.for_path("/single") if r.key in from_one and r.at > kill_at + 0.5]
        assert taken_over, "the survivor delivered none of the killed replica's backlog"

        acked_ids = {event_id: name for _, event_id, name, _ in acked}
        single_events = defaultdict(set)
        for r in receiver.for_path("/single"):
            single_events[r.event_ids[0]].add(r.key)
        assert all(e in single_events for e, n in acked_ids.items() if n == "A"), "an acknowledged A was lost"
        assert all(len(keys) == 1 for keys in single_events.values()), "an A was joined twice"
        owner = _joined_once(receiver.for_path("/triple"), acked_ids, all_acked=False)
        status = {f["name"]: f for f in two.client.get("/api/status").json()}["triple"]
        waiting = {sub: sum(sub in row["ready"] for row in status["events"]) for sub in NAMES}
        for sub in NAMES:
            lost = [e for e, n in acked_ids.items() if n == sub and e not in owner]
            assert len(lost) <= waiting[sub], f"acknowledged {sub} events neither joined nor queued"
        assert min(waiting.values()) == 0  # never a complete join left waiting
        # Deliveries repeat only for what was in flight at the kill (one's outcome not yet stored).
        times = defaultdict(list)
        for r in receiver.received:
            times[r.key].append(r.at)
        assert all(min(seen) > kill_at - 1.5 for seen in times.values() if len(seen) > 1)
        assert not two.invocations("dead")
    finally:
        one.stop()
        two.stop()
        receiver.stop()
