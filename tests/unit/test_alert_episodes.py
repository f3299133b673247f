"""An acknowledgement applies to one episode (domain/alerts.py, alert_store.py).

An alert whose incident resolves and comes back is a new episode: it alerts, reminds and escalates
again, whoever acknowledged the earlier episode. Checked on the real memory store, as the
monitoring (load, merge acknowledgements, advance, save) and the dashboard (load, record) use it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hometwin.adapters.stores import open_object_store
from hometwin.domain.alerts import (
    AlertBook,
    AlertState,
    Notification,
    NotificationKind,
    alert_id_for,
)
from hometwin.domain.findings import Finding, FindingKind, Severity
from hometwin.ports import ObjectStore
from hometwin.services.alert_store import AlertStore, upgrade_document
from hometwin.services.errors import EpisodeOver
from tests.unit.test_alerts import CONTACTS, T0, at, kinds
from tests.unit.test_alerts import POLICY as HELD
from tests.unit.test_alerts import finding as alerts_finding

# About episodes: an incident resolves at the first check without its finding (no hold before the
# all clear; test_alerts.py checks the hold, and the last test here episodes with it).
POLICY = replace(HELD, clear_after=timedelta(0))


def finding(room: str = "bathroom", severity: Severity = Severity.EMERGENCY,
            kind: FindingKind = FindingKind.PROLONGED_STAY) -> Finding:
    # A fixed start: the same incident each time it appears, so it reopens the same alert.
    return alerts_finding(severity, room, kind)


def check(store: AlertStore, findings: list[Finding], now: datetime, save: bool = True) -> list[Notification]:
    """One monitoring check, as hometwin.components.monitoring runs it."""
    book = store.load()
    store.merge_acks(book)
    notes = book.advance(findings, now, POLICY)
    if save:
        store.save(book)
    return notes



def stores() -> tuple[ObjectStore, AlertStore, AlertStore]:
    shared = open_object_store("memory://")
    return shared, AlertStore(shared, "home"), AlertStore(shared, "home")


# -- the bug: an earlier episode's acknowledgement silenced the next one -------------------------

def test_reappearing_emergency_alerts_reminds_and_escalates_again() -> None:
    shared, monitoring, dashboard = stores()
    [first] = check(monitoring, [finding()], at(0))
    dashboard.load()
    assert dashboard.record_ack(first.alert_id, "anna@example.org", at(2)) is True
    assert check(monitoring, [finding()], at(3)) == []  # acknowledged: quiet
    assert kinds(check(monitoring, [], at(10))) == ["all_clear"]

    timeline = {minute: check(monitoring, [finding()], at(minute)) for minute in range(11, 72)}
    told = {minute: (n.kind.value, n.recipients, n.id) for minute, [n] in
            ((m, notes) for m, notes in timeline.items() if notes)}
    aid = first.alert_id
    assert told == {
        11: ("alert", CONTACTS[:1], f"{aid}-2-1"),
        26: ("reminder", CONTACTS[:1], f"{aid}-2-2"),
        41: ("escalation", CONTACTS[:2], f"{aid}-2-3"),
        56: ("reminder", CONTACTS[:2], f"{aid}-2-4"),
        71: ("escalation", CONTACTS, f"{aid}-2-5"),
    }
    alert = monitoring.load().get(aid)
    assert alert is not None and alert.episode == 2 and alert.state is AlertState.NOTIFIED
    assert alert.acknowledged_by is None  # the dashboard does not show Anna's old acknowledgement
    # the record of episode 1 stays in the store, but no longer counts
    assert shared.list("state/home/acks/") == [f"state/home/acks/{aid}.json"]
    dashboard.load()
    assert dashboard.pending_acks() == []

    # the new episode needs, and takes, its own acknowledgement
    assert dashboard.record_ack(aid, "ben@example.org", at(72)) is True
    assert check(monitoring, [finding()], at(73)) == []
    assert monitoring.load().get(aid).acknowledged_by == "ben@example.org"  # type: ignore[union-attr]
    assert shared.list("state/home/acks/") == [f"state/home/acks/{aid}.2.json", f"state/home/acks/{aid}.json"]
    assert [n for m in range(74, 200, 5) for n in check(monitoring, [finding()], at(m))] == []


def test_a_link_for_an_earlier_episode_does_not_acknowledge_the_new_one() -> None:
    shared, monitoring, dashboard = stores()
    [first] = check(monitoring, [finding()], at(0))
    check(monitoring, [], at(5))
    [again] = check(monitoring, [finding()], at(6))
    assert (first.episode, again.episode) == (1, 2)

    dashboard.load()
    with pytest.raises(EpisodeOver, match="episode 1 .* is over.* now in episode 2"):
        dashboard.record_ack(first.alert_id, "e-mail link", at(7), episode=first.episode)
    assert shared.list("state/home/acks/") == []  # nothing recorded
    assert kinds(check(monitoring, [finding()], at(21))) == ["reminder"]
    # the link of the current episode works
    assert dashboard.record_ack(again.alert_id, "e-mail link", at(22), episode=again.episode) is True
    assert check(monitoring, [finding()], at(40)) == []


def test_a_stray_record_for_an_earlier_episode_is_never_merged() -> None:
    # Written in a race (the dashboard checked the episode just before the alert came back).
    shared, monitoring, _ = stores()
    [first] = check(monitoring, [finding()], at(0))
    check(monitoring, [], at(5))
    check(monitoring, [finding()], at(6))
    stray = {"alert_id": first.alert_id, "episode": 1, "by": "anna", "at": at(6).isoformat()}
    shared.put(f"state/home/acks/{first.alert_id}.json", json.dumps(stray).encode(), overwrite=False)
    book = monitoring.load()
    assert monitoring.merge_acks(book) == []
    assert book.get(first.alert_id).state is AlertState.NOTIFIED  # type: ignore[union-attr]
    assert kinds(check(monitoring, [finding()], at(21))) == ["reminder"]


def test_records_from_before_episodes_count_only_for_the_episode_they_were_given_in() -> None:
    shared, monitoring, _ = stores()
    [first] = check(monitoring, [finding()], at(0))
    legacy = {"alert_id": first.alert_id, "by": "anna", "at": at(2).isoformat()}  # no episode
    shared.put(f"state/home/acks/{first.alert_id}.json", json.dumps(legacy).encode(), overwrite=False)
    assert check(monitoring, [finding()], at(15)) == []  # given in episode 1: it counts
    check(monitoring, [], at(20))
    assert kinds(check(monitoring, [finding()], at(21))) == ["alert"]
    assert kinds(check(monitoring, [finding()], at(36))) == ["reminder"]  # not for episode 2


def test_the_book_acknowledges_one_episode() -> None:
    book = AlertBook()
    [note] = book.advance([finding()], at(0), POLICY)
    assert book.acknowledge(note.alert_id, "anna", at(1), episode=2) is False  # not this episode
    assert book.current_episode(note.alert_id) == 1 and book.current_episode("a-unknown") is None
    book.advance([], at(2), POLICY)
    book.advance([finding()], at(3), POLICY)
    assert book.acknowledge(note.alert_id, "anna", at(1)) is False  # given before episode 2 began
    assert book.acknowledge(note.alert_id, "anna", at(4), episode=1) is False
    assert book.acknowledge(note.alert_id, "ben", at(4), episode=2) is True
    entries = [(e["event"], e["episode"]) for e in book.history()[0].log]
    assert entries == [("opened", 1), ("notification", 1), ("resolved", 1), ("notification", 1),
                       ("reopened", 2), ("notification", 2), ("acknowledged", 2)]


def test_record_ack_checks_its_input() -> None:
    _, _, dashboard = stores()
    for bad in (0, -1, True, "2"):
        with pytest.raises(ValueError, match="episode"):
            dashboard.record_ack("a1", "anna", at(0), episode=bad)  # type: ignore[arg-type]


# -- books saved by version 1 (before episodes) ---------------------------------------------------

# Written by the version-1 code in the bug's state: the record of episode 1 (08:02) acknowledged
# the reopened alert (episode 2, 08:11) again at the 08:12 check.
_AID = "aedab645929b2666cac90"
_FINDING = {"kind": "prolonged_stay", "severity": "emergency", "room": "bathroom",
            "started_at": "2026-03-03T08:00:00+00:00", "observed": 3000.0, "expected": 360.0,
            "threshold": 1140.0, "percentile": 99.9, "message": "In the bathroom for 50 min"}
VERSION_1_BOOK = {"schema_version": 1, "alerts": [{
    "id": _AID, "incident_key": "prolonged_stay:bathroom:2026-03-03T08:00:00+00:00", "finding": _FINDING,
    "severity": "emergency", "state": "acknowledged", "opened_at": "2026-03-03T08:11:00+00:00",
    "last_seen": "2026-03-03T08:12:00+00:00", "level": 0, "notified_severity": "emergency",
    "notified_at": "2026-03-03T08:11:00+00:00", "last_notified_at": "2026-03-03T08:11:00+00:00",
    "escalated_at": "2026-03-03T08:11:00+00:00", "acknowledged_at": "2026-03-03T08:02:00+00:00",
    "acknowledged_by": "anna@example.org", "resolved_at": None,
    "log": [
        {"at": "2026-03-03T08:00:00+00:00", "event": "opened", "severity": "emergency"},
        {"at": "2026-03-03T08:00:00+00:00", "event": "notification", "id": f"{_AID}-1", "kind": "alert",
         "recipients": ["anna@example.org"]},
        {"at": "2026-03-03T08:02:00+00:00", "by": "anna@example.org", "event": "acknowledged"},
        {"at": "2026-03-03T08:10:00+00:00", "event": "resolved"},
        {"at": "2026-03-03T08:10:00+00:00", "event": "notification", "id": f"{_AID}-2", "kind": "all_clear",
         "recipients": ["anna@example.org"]},
        {"at": "2026-03-03T08:11:00+00:00", "event": "reopened", "severity": "emergency"},
        {"at": "2026-03-03T08:11:00+00:00", "event": "notification", "id": f"{_AID}-3", "kind": "alert",
         "recipients": ["anna@example.org"]},
        {"at": "2026-03-03T08:02:00+00:00", "by": "anna@example.org", "event": "acknowledged"},
    ]}]}
VERSION_1_ACK = {"alert_id": _AID, "by": "anna@example.org", "at": "2026-03-03T08:02:00+00:00"}


def test_a_version_1_book_loads_with_episodes_and_its_wrong_acknowledgement_taken_back() -> None:
    shared, monitoring, _ = stores()
    shared.put("state/home/alerts.json", json.dumps(VERSION_1_BOOK).encode())
    shared.put(f"state/home/acks/{_AID}.json", json.dumps(VERSION_1_ACK).encode(), overwrite=False)
    book = monitoring.load()
    alert = book.get(_AID)
    assert alert is not None
    assert (alert.episode, alert.state, alert.acknowledged_by) == (2, AlertState.NOTIFIED, None)
    assert [e["episode"] for e in alert.log] == [1, 1, 1, 1, 1, 2, 2, 2, 2]
    assert alert.log[-1]["event"] == "ack_withdrawn" and alert.log[-1]["by"] == "anna@example.org"

    # the old record still does not count; the next check escalates as it should have
    [note] = check(monitoring, [finding()], at(41))
    assert (note.kind, note.recipients, note.id) == (NotificationKind.ESCALATION, CONTACTS[:2], f"{_AID}-2-2")
    stored = json.loads(shared.get("state/home/alerts.json").data)
    assert stored["schema_version"] == 2
    assert AlertStore(shared, "home").load().to_dict() == monitoring.load().to_dict()


def test_upgrading_keeps_a_rightful_acknowledgement_and_leaves_its_input_alone() -> None:
    rightful = json.loads(json.dumps(VERSION_1_BOOK))
    rightful["alerts"][0]["acknowledged_at"] = "2026-03-03T08:12:00+00:00"  # given in episode 2
    before = json.dumps(rightful, sort_keys=True)
    alert = AlertBook.from_dict(upgrade_document(rightful)).get(_AID)
    assert alert is not None and alert.state is AlertState.ACKNOWLEDGED and alert.episode == 2
    assert json.dumps(rightful, sort_keys=True) == before
    with pytest.raises(ValueError, match="schema_version 1 .* upgrades older books"):
        AlertBook.from_dict(VERSION_1_BOOK)  # the domain reads the current version only


def test_an_unreadable_version_1_book_is_corrupt_state() -> None:
    from hometwin.services.errors import CorruptAlertState

    shared, monitoring, _ = stores()
    broken = {"schema_version": 1, "alerts": [{"id": _AID, "log": "not a list"}]}
    shared.put("state/home/alerts.json", json.dumps(broken).encode())
    with pytest.raises(CorruptAlertState, match="unreadable"):
        monitoring.load()


# -- the properties, over random histories --------------------------------------------------------

# bathroom and kitchen are always emergencies; the hall wavers between warning and emergency (the
# same incident); the bedroom is info. Each may appear and disappear at every check.
INCIDENTS = {
    "bathroom": [finding("bathroom")],
    "kitchen": [finding("kitchen", kind=FindingKind.UNUSUAL_SILENCE)],
    "hall": [finding("hall", Severity.WARNING), finding("hall", Severity.EMERGENCY)],
    "bedroom": [finding("bedroom", Severity.INFO, FindingKind.UNUSUAL_FREQUENCY)],
}
EMERGENCIES_ONLY = {"bathroom", "kitchen"}

history_step = st.tuples(
    st.dictionaries(st.sampled_from(sorted(INCIDENTS)), st.integers(0, 1)),  # present: room -> variant
    st.integers(min_value=1, max_value=40),  # minutes since the previous check
    st.sampled_from(["none", "dashboard", "old link", "current link"]),  # an acknowledgement before it
    st.integers(min_value=0, max_value=10),  # which alert or earlier notification it is for
)


@settings(max_examples=200, deadline=None)
@given(st.lists(history_step, min_size=1, max_size=50))
def test_episode_properties_over_random_histories(steps: list[tuple[dict[str, int], int, str, int]]) -> None:
    shared, monitoring, dashboard = stores()
    now = T0
    seen_ids: set[str] = set()
    told: list[Notification] = []  # every notification so far: where links come from
    acked: set[tuple[str, int]] = set()  # (alert id, episode) acknowledged by a record
    for present, gap, ack, pick in steps:
        now += timedelta(minutes=gap)
        # -- someone acknowledges, as the dashboard does: it loads the book, then records
        view = dashboard.load()
        open_ids = [a.id for a in view.open_alerts() if a.state in (AlertState.OPEN, AlertState.NOTIFIED)]
        if ack == "dashboard" and open_ids:
            alert_id = open_ids[pick % len(open_ids)]
            if dashboard.record_ack(alert_id, "dashboard", now):
                acked.add((alert_id, view.current_episode(alert_id) or 0))
        elif ack in ("old link", "current link") and told:
            note = told[pick % len(told)]
            current = view.current_episode(note.alert_id)
            if current is not None and note.episode != current:
                with pytest.raises(EpisodeOver):
                    dashboard.record_ack(note.alert_id, "e-mail link", now, episode=note.episode)
            elif dashboard.record_ack(note.alert_id, "e-mail link", now, episode=note.episode):
                acked.add((note.alert_id, note.episode))

        findings = [INCIDENTS[room][variant % len(INCIDENTS[room])] for room, variant in sorted(present.items())]
        before = monitoring.load()
        monitoring.merge_acks(before)  # the book as the check sees it, acknowledgements merged

        # -- a check that crashed before saving, then the same check again: the same ids
        crashed = check(monitoring, findings, now, save=False)
        notes = check(monitoring, findings, now)
        assert [(n.id, n.kind) for n in crashed] == [(n.id, n.kind) for n in notes]
        after = monitoring.load()

        by_alert: dict[str, list[Notification]] = {}
        for note in notes:
            by_alert.setdefault(note.alert_id, []).append(note)
            # never an id of an earlier check or episode (the mailer would drop the message)
            assert note.id not in seen_ids
            seen_ids.add(note.id)
            assert note.id.startswith(f"{note.alert_id}-{note.episode}-")
            assert note.episode == after.current_episode(note.alert_id)
        told += notes

        for room in present.keys() & EMERGENCIES_ONLY:
            alert_id = alert_id_for(INCIDENTS[room][0].incident_key)
            mine = [n.kind for n in by_alert.get(alert_id, [])]
            old = before.get(alert_id)
            if old is None or old.state in (AlertState.RESOLVED, AlertState.OPEN):
                # new, or back after it was resolved: e-mailed at once, acknowledged before or not
                assert mine == [NotificationKind.ALERT]
            elif old.state is AlertState.NOTIFIED:
                assert old.last_notified_at is not None
                if now - old.last_notified_at >= POLICY.repeat_every:  # reminded at its interval
                    assert mine in ([NotificationKind.REMINDER], [NotificationKind.ESCALATION])
                else:
                    assert NotificationKind.REMINDER not in mine
            else:  # acknowledged in this very episode: quiet
                assert old.state is AlertState.ACKNOWLEDGED and mine == []

        for alert in after.history():
            if alert.state is AlertState.ACKNOWLEDGED:  # an acknowledgement silences its episode only
                assert (alert.id, alert.episode) in acked
            if (alert.id, alert.episode) not in acked:
                assert alert.acknowledged_by is None


def test_with_the_hold_an_incident_back_after_its_all_clear_is_a_new_episode() -> None:
    # The default hold (10 min): back within it, the acknowledged episode goes on, still quiet;
    # back after its all clear, it is episode 2, which Anna's acknowledgement does not silence.
    book = AlertBook()
    [note] = book.advance([finding()], at(0), HELD)
    assert book.acknowledge(note.alert_id, "anna", at(1), episode=1)
    assert book.advance([], at(5), HELD) == []
    assert book.advance([finding()], at(14), HELD) == []
    assert book.get(note.alert_id).state is AlertState.ACKNOWLEDGED  # type: ignore[union-attr]
    assert book.advance([], at(20), HELD) == []
    assert kinds(book.advance([], at(24), HELD)) == ["all_clear"]
    [again] = book.advance([finding()], at(25), HELD)
    assert again.kind is NotificationKind.ALERT and again.episode == 2
    assert kinds(book.advance([finding()], at(40), HELD)) == ["reminder"]
