"""The pure join core: property tests over random interleavings of 1-5 subscriptions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hometwin.scheduler.core import FunctionSpec, JoinBook, QueuedEvent, normalise_url

EVENT_NAMES = ["A", "B", "C", "D", "E", "F"]


def event(seq: int, name: str, received_at: float = 0.0) -> QueuedEvent:
    return QueuedEvent(seq, f"id-{seq}", name, {"seq": seq}, "t", received_at)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[FunctionSpec], list[str]]:
    """A few functions, each subscribing to 1-5 distinct event names, and a random arrival order."""
    functions = []
    for i in range(draw(st.integers(1, 3))):
        subs = draw(st.lists(st.sampled_from(EVENT_NAMES), min_size=1, max_size=5, unique=True))
        functions.append(FunctionSpec(f"f{i}", tuple(subs), "http://x/"))
    arrivals = draw(st.lists(st.sampled_from(EVENT_NAMES), max_size=60))
    return functions, arrivals


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_joins_are_fifo_per_subscription_for_any_interleaving(scenario):
    functions, arrivals = scenario
    book = JoinBook()
    for spec in functions:
        book.register(spec)
    joins = []
    for seq, name in enumerate(arrivals):
        formed = book.offer(event(seq, name))
        assert len({j.function for j in formed}) == len(formed)  # at most one join per function
        joins += formed

    for spec in functions:
        # The model: the k-th join of a function holds the k-th arrival of each subscribed event.
        arrivals_of = {s: [seq for seq, n in enumerate(arrivals) if n == s] for s in spec.subs}
        expected_count = min(len(v) for v in arrivals_of.values())
        mine = [j for j in joins if j.function == spec.name]
        assert len(mine) == expected_count
        for k, join in enumerate(mine):
            assert [e.name for e in join.events] == list(spec.subs)
            assert [e.seq for e in join.events] == [arrivals_of[s][k] for s in spec.subs]
            # A join is formed by the arrival that completed it: the newest of its events.
        queues = book.queues(spec.name)
        for sub in spec.subs:
            assert [e.seq for e in queues[sub]] == arrivals_of[sub][expected_count:]
        # Never a complete join left waiting.
        assert not all(queues.values())
        rows = book.status_rows(spec.name)
        assert len(rows) == max(len(q) for q in queues.values())


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_every_event_is_joined_or_waiting_exactly_once_per_subscriber(scenario):
    functions, arrivals = scenario
    book = JoinBook()
    for spec in functions:
        book.register(spec)
    used: dict[str, list[int]] = {spec.name: [] for spec in functions}
    for seq, name in enumerate(arrivals):
        for join in book.offer(event(seq, name)):
            used[join.function] += [e.seq for e in join.events]
    for spec in functions:
        waiting = [e.seq for q in book.queues(spec.name).values() for e in q]
        relevant = [seq for seq, n in enumerate(arrivals) if n in spec.subs]
        assert sorted(used[spec.name] + waiting) == relevant


def test_body_has_the_course_shape():
    book = JoinBook()
    book.register(FunctionSpec("f", ("A", "B"), "http://x/"))
    book.offer(event(1, "A"))
    (join,) = book.offer(event(2, "B"))
    assert join.body() == {"A": {"data": {"seq": 1}, "timestamp": "t"},
                           "B": {"data": {"seq": 2}, "timestamp": "t"}}


def test_identical_reregistration_changes_nothing_and_keeps_events():
    book = JoinBook()
    spec = FunctionSpec("f", ("A", "B"), "http://x/")
    book.register(spec)
    book.offer(event(1, "A"))
    outcome = book.register(FunctionSpec("f", ("A", "B"), "http://x/"))
    assert not outcome.changed and not outcome.created and outcome.dropped == ()
    assert [e.seq for e in book.queues("f")["A"]] == [1]


def test_changed_target_keeps_events():
    book = JoinBook()
    book.register(FunctionSpec("f", ("A", "B"), "http://x/"))
    book.offer(event(1, "A"))
    outcome = book.register(FunctionSpec("f", ("A", "B"), "http://y/", method="POST"))
    assert outcome.changed and not outcome.subs_changed and outcome.dropped == ()
    (join,) = book.offer(event(2, "B"))
    assert [e.seq for e in join.events] == [1, 2]


def test_changed_subscriptions_keep_staying_queues_and_drop_removed_ones():
    book = JoinBook()
    book.register(FunctionSpec("f", ("A", "B", "C"), "http://x/"))
    book.offer(event(1, "A"))
    book.offer(event(2, "B"))
    outcome = book.register(FunctionSpec("f", ("A", "D"), "http://x/"))
    assert outcome.subs_changed
    assert [(d.event.seq, d.reason) for d in outcome.dropped] == [(2, "unsubscribed")]
    assert book.subscribers("B") == [] and book.subscribers("D") == ["f"]
    (join,) = book.offer(event(3, "D"))
    assert [e.seq for e in join.events] == [1, 3]


def test_remove_returns_pending_events():
    book = JoinBook()
    book.register(FunctionSpec("f", ("A", "B"), "http://x/"))
    book.offer(event(1, "A"))
    dropped = book.remove("f")
    assert dropped is not None and [(d.event.seq, d.reason) for d in dropped] == [(1, "deleted")]
    assert book.remove("f") is None
    assert book.offer(event(2, "A")) == []


def test_duplicate_subscriptions_are_refused():
    with pytest.raises(ValueError, match="distinct"):
        JoinBook().register(FunctionSpec("f", ("A", "A"), "http://x/"))


def test_join_window_expires_old_partial_joins_only():
    book = JoinBook()
    book.register(FunctionSpec("w", ("A", "B"), "http://x/", join_window=10.0))
    book.register(FunctionSpec("forever", ("A", "B"), "http://x/"))
    book.offer(event(1, "A", received_at=100.0))
    book.offer(event(2, "A", received_at=105.0))
    expired = book.expire(now=112.0)
    assert [(d.function, d.event.seq, d.reason) for d in expired] == [("w", 1, "expired")]
    assert [e.seq for e in book.queues("w")["A"]] == [2]
    assert [e.seq for e in book.queues("forever")["A"]] == [1, 2]
    joins = {j.function: [e.seq for e in j.events] for j in book.offer(event(3, "B", received_at=113.0))}
    assert joins == {"w": [2, 3], "forever": [1, 3]}


@pytest.mark.parametrize(("given", "expected"), [
    ("10.43.1.2:8000/api/fn", "http://10.43.1.2:8000/api/fn"),
    ("https://example.org/x", "https://example.org/x"),
    (" localhost:9/a ", "http://localhost:9/a"),
])
def test_urls_without_scheme_are_http(given, expected):
    assert normalise_url(given) == expected
