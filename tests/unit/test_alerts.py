"""The alert life cycle (domain/alerts.py): one incident, one alert, repeated and escalated until
acknowledged, all clear when the finding disappears."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hometwin.domain.alerts import (
    AlertBook,
    AlertPolicy,
    AlertState,
    Notification,
    NotificationKind,
    alert_id_for,
)
from hometwin.domain.findings import Finding, FindingKind, Severity

T0 = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
CONTACTS = ("anna@example.org", "ben@example.org", "carla@example.org")
POLICY = AlertPolicy(repeat_every=timedelta(minutes=15), escalation=CONTACTS,
                     escalate_after=timedelta(minutes=30), warning_delay=timedelta(minutes=10),
                     warning_repeat_every=timedelta(minutes=60))


def finding(severity: Severity = Severity.EMERGENCY, room: str = "bathroom",
            kind: FindingKind = FindingKind.PROLONGED_STAY, started: datetime = T0,
            observed: float = 3000.0) -> Finding:
    return Finding(kind=kind, severity=severity, room=room, started_at=started, observed=observed,
                   expected=360.0, threshold=1140.0, percentile=99.9,
                   message=f"In the {room} for {observed / 60:.0f} min")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def kinds(notes: list[Notification]) -> list[str]:
    return [n.kind.value for n in notes]


def test_emergency_notifies_first_contact_at_once() -> None:
    book = AlertBook()
    notes = book.advance([finding()], at(50), POLICY)
    assert kinds(notes) == ["alert"]
    assert notes[0].recipients == CONTACTS[:1]
    assert notes[0].severity is Severity.EMERGENCY
    [alert] = book.open_alerts()
    assert alert.state is AlertState.NOTIFIED
    assert notes[0].alert_id == alert.id == alert_id_for(finding().incident_key)


def test_one_incident_gives_one_alert_while_its_evidence_grows() -> None:
    book = AlertBook()
    book.advance([finding(observed=3000)], at(50), POLICY)
    notes = book.advance([finding(observed=3060)], at(51), POLICY)
    assert notes == []  # neither repeat nor escalation is due yet
    [alert] = book.history()
    assert alert.finding.observed == 3060  # the latest evidence is kept


def test_reminders_then_escalation_along_the_ordered_contacts() -> None:
    book = AlertBook()
    timeline = {}
    for minute in range(0, 121, 1):
        notes = book.advance([finding()], at(minute), POLICY)
        if notes:
            [note] = notes
            timeline[minute] = (note.kind.value, note.recipients)
    assert timeline == {
        0: ("alert", CONTACTS[:1]),
        15: ("reminder", CONTACTS[:1]),
        30: ("escalation", CONTACTS[:2]),
        45: ("reminder", CONTACTS[:2]),
        60: ("escalation", CONTACTS[:3]),
        75: ("reminder", CONTACTS),  # the list is exhausted: reminders to everyone
        90: ("reminder", CONTACTS),
        105: ("reminder", CONTACTS),
        120: ("reminder", CONTACTS),
    }


def test_acknowledgement_stops_reminders_and_all_clear_still_goes_to_everyone_told() -> None:
    book = AlertBook()
    book.advance([finding()], at(0), POLICY)
    book.advance([finding()], at(30), POLICY)  # escalated to the second contact
    alert_id = book.open_alerts()[0].id
    assert book.acknowledge(alert_id, "anna@example.org", at(31)) is True
    assert book.acknowledge(alert_id, "ben@example.org", at(32)) is False  # already acknowledged
    assert book.get(alert_id).acknowledged_by == "anna@example.org"  # type: ignore[union-attr]
    for minute in range(32, 200, 5):  # last seen at 197
        assert book.advance([finding()], at(minute), POLICY) == []
    assert book.advance([], at(200), POLICY) == []  # gone for less than clear_after: held
    notes = book.advance([], at(207), POLICY)
    assert kinds(notes) == ["all_clear"]
    assert notes[0].recipients == CONTACTS[:2]
    assert book.get(alert_id).state is AlertState.RESOLVED  # type: ignore[union-attr]
    assert book.open_alerts() == []


def test_all_clear_once_the_finding_has_been_gone_for_clear_after() -> None:
    book = AlertBook()
    book.advance([finding()], at(0), POLICY)
    assert POLICY.clear_after == timedelta(minutes=10)  # the default
    for minute in (1, 5, 9):  # held: no all clear, and no reminder either
        assert book.advance([], at(minute), POLICY) == []
        assert book.open_alerts()[0].state is AlertState.NOTIFIED
    notes = book.advance([], at(10), POLICY)
    assert kinds(notes) == ["all_clear"]
    assert notes[0].finding == finding()  # it says what was resolved
    assert book.get(notes[0].alert_id).resolved_at == at(10)  # type: ignore[union-attr]
    assert book.advance([], at(11), POLICY) == []  # only once


def test_without_a_hold_the_all_clear_goes_at_once() -> None:
    book = AlertBook()
    policy = replace(POLICY, clear_after=timedelta(0))
    book.advance([finding()], at(0), policy)
    assert kinds(book.advance([], at(1), policy)) == ["all_clear"]


def test_a_finding_back_within_the_hold_continues_the_episode() -> None:
    # A detector wavering at its limit: gone at one check, back at the next.
    book = AlertBook()
    book.advance([finding()], at(0), POLICY)
    assert book.advance([], at(5), POLICY) == []
    assert book.advance([finding()], at(9), POLICY) == []  # same episode: nothing new to say
    assert kinds(book.advance([finding()], at(15), POLICY)) == ["reminder"]
    [alert] = book.history()
    assert alert.episode == 1 and "resolved" not in [e["event"] for e in alert.log]


def test_an_alert_never_told_resolves_without_a_hold() -> None:
    book = AlertBook()
    warning = finding(Severity.WARNING)
    book.advance([warning], at(0), POLICY)
    assert book.advance([], at(1), POLICY) == []
    assert book.history()[0].state is AlertState.RESOLVED


def _stuck_in_the_bathroom() -> tuple[Finding, Finding]:
    """Someone in the bathroom since T0 who moves now and then: first a silence since the last
    movement (T0 + 5) is unusual, then the stay with its rare movement."""
    silence = finding(kind=FindingKind.UNUSUAL_SILENCE, started=at(5))
    return silence, finding(kind=FindingKind.PROLONGED_STAY, started=at(0))


@pytest.mark.parametrize("gap", [0, 4, 7])
def test_a_stay_that_began_before_the_alert_continues_it(gap: int) -> None:
    # The silence alarm at 25 (last seen at 26); the person moves at 27 (the silence ends) but
    # stays: `gap` minutes later, within the 10 minutes' hold, the long stay is unusual. One alert,
    # one episode: no "all clear", no second alert.
    silence, stay = _stuck_in_the_bathroom()
    book = AlertBook()
    assert kinds(book.advance([silence], at(25), POLICY)) == ["alert"]
    assert book.advance([silence], at(26), POLICY) == []
    for minute in range(27, 27 + gap):
        assert book.advance([], at(minute), POLICY) == []
    assert book.advance([stay], at(27 + gap), POLICY) == []
    [alert] = book.history()
    assert alert.id == alert_id_for(silence.incident_key) and alert.episode == 1
    assert alert.incident_key == stay.incident_key and alert.earlier_keys == [silence.incident_key]
    assert alert.finding == stay and alert.state is AlertState.NOTIFIED
    assert [e["event"] for e in alert.log] == ["opened", "notification", "continued"]
    notes = book.advance([stay], at(40), POLICY)  # reminders go on, now with the stay's words
    assert kinds(notes) == ["reminder"] and notes[0].finding == stay and notes[0].id == f"{alert.id}-1-2"
    # the book keeps the link across a restart
    copy = AlertBook.from_dict(json.loads(json.dumps(book.to_dict())))
    assert copy.advance([stay], at(55), POLICY) == book.advance([stay], at(55), POLICY)
    assert len(copy.history()) == 1
    assert kinds(book.advance([], at(65), POLICY)) == ["all_clear"]  # the person left the room


@pytest.mark.parametrize("other", [
    finding(kind=FindingKind.PROLONGED_STAY, room="kitchen", started=at(0)),  # another room
    finding(kind=FindingKind.UNUSUAL_SILENCE, started=at(27)),  # began after the alert: a new one
    finding(kind=FindingKind.SENSOR_DATA_MISSING, started=at(0), severity=Severity.WARNING),  # not the person
], ids=["other room", "began later", "sensor"])
def test_only_the_same_situation_continues_an_alert(other: Finding) -> None:
    silence, _ = _stuck_in_the_bathroom()
    book = AlertBook()
    book.advance([silence], at(25), POLICY)
    book.advance([other], at(28), POLICY)
    assert len(book.history()) == 2
    assert book.get(alert_id_for(silence.incident_key)).incident_key == silence.incident_key  # type: ignore[union-attr]
    assert kinds(book.advance([other], at(35), POLICY)) == ["all_clear"]  # the silence's own


@pytest.mark.parametrize("bad", ["unusual_silence:bathroom:x", [1], {"a": 1}])
def test_a_book_with_malformed_earlier_keys_is_refused(bad: object) -> None:
    book = AlertBook()
    book.advance([finding()], at(0), POLICY)
    doc = book.to_dict()
    doc["alerts"][0]["earlier_keys"] = bad
    with pytest.raises(ValueError, match="earlier_keys"):
        AlertBook.from_dict(doc)


def test_an_alert_nobody_was_told_about_is_not_continued() -> None:
    silence, stay = _stuck_in_the_bathroom()
    book = AlertBook()
    book.advance([replace(silence, severity=Severity.WARNING)], at(25), POLICY)  # not yet told
    book.advance([stay], at(27), POLICY)
    assert len(book.history()) == 2


def test_acknowledging_unknown_or_resolved_alert_changes_nothing() -> None:
    book = AlertBook()
    assert book.acknowledge("a-unknown", "x", at(0)) is False
    book.advance([finding()], at(0), POLICY)
    book.advance([], at(10), POLICY)
    assert book.acknowledge(book.history()[0].id, "x", at(11)) is False


def test_warning_waits_for_its_confirmation_delay() -> None:
    book = AlertBook()
    warning = finding(Severity.WARNING, kind=FindingKind.NOT_BACK_HOME, room=None)
    assert book.advance([warning], at(0), POLICY) == []
    assert book.open_alerts()[0].state is AlertState.OPEN
    assert book.advance([warning], at(9), POLICY) == []
    notes = book.advance([warning], at(10), POLICY)
    assert kinds(notes) == ["alert"] and notes[0].severity is Severity.WARNING
    # warnings repeat, and escalate, at their own slower interval
    assert book.advance([warning], at(25), POLICY) == []
    assert book.advance([warning], at(69), POLICY) == []
    assert kinds(book.advance([warning], at(70), POLICY)) == ["escalation"]
    assert kinds(book.advance([warning], at(130), POLICY)) == ["escalation"]
    notes = book.advance([warning], at(190), POLICY)
    assert kinds(notes) == ["reminder"] and notes[0].recipients == CONTACTS


def test_warning_that_ends_before_confirmation_is_resolved_silently() -> None:
    book = AlertBook()
    warning = finding(Severity.WARNING)
    book.advance([warning], at(0), POLICY)
    assert book.advance([], at(5), POLICY) == []  # nobody was told, so no all clear either
    assert book.history()[0].state is AlertState.RESOLVED


def test_info_never_notifies() -> None:
    book = AlertBook()
    info = finding(Severity.INFO, kind=FindingKind.UNUSUAL_FREQUENCY)
    for minute in range(0, 600, 10):
        assert book.advance([info], at(minute), POLICY) == []
    assert book.open_alerts()[0].state is AlertState.OPEN
    assert book.advance([], at(600), POLICY) == []
    assert book.history()[0].state is AlertState.RESOLVED


def test_warning_rising_to_emergency_notifies_at_once() -> None:
    book = AlertBook()
    book.advance([finding(Severity.WARNING)], at(0), POLICY)
    # still in its confirmation delay, then the same incident becomes an emergency
    notes = book.advance([finding(Severity.EMERGENCY)], at(3), POLICY)
    assert kinds(notes) == ["alert"] and notes[0].severity is Severity.EMERGENCY

    book = AlertBook()
    book.advance([finding(Severity.WARNING)], at(0), POLICY)
    book.advance([finding(Severity.WARNING)], at(10), POLICY)  # warning notified
    notes = book.advance([finding(Severity.EMERGENCY)], at(12), POLICY)
    assert kinds(notes) == ["escalation"] and notes[0].severity is Severity.EMERGENCY
    # now on the emergency's faster repeat interval
    assert kinds(book.advance([finding(Severity.WARNING)], at(27), POLICY)) == ["reminder"]


def test_two_incidents_two_alerts_and_duplicate_findings_one() -> None:
    book = AlertBook()
    a = finding(room="bathroom")
    b = finding(room="kitchen", kind=FindingKind.UNUSUAL_SILENCE)
    notes = book.advance([a, b, finding(Severity.WARNING, room="bathroom")], at(0), POLICY)
    assert len(notes) == 2 and len({n.alert_id for n in notes}) == 2
    assert len(book.history()) == 2
    assert book.get(alert_id_for(a.incident_key)).severity is Severity.EMERGENCY  # type: ignore[union-attr]
    # a new stay (another started_at) in the same room is another incident
    later = finding(room="bathroom", started=at(300))
    book.advance([later], at(400), POLICY)
    assert len(book.history()) == 3


def test_reappearing_incident_reopens_its_alert() -> None:
    book = AlertBook()
    book.advance([finding()], at(0), POLICY)
    assert kinds(book.advance([], at(10), POLICY)) == ["all_clear"]
    notes = book.advance([finding()], at(11), POLICY)
    assert kinds(notes) == ["alert"]
    assert len(book.history()) == 1
    ids = [e["id"] for e in book.history()[0].log if e["event"] == "notification"]
    assert len(ids) == len(set(ids)) == 3


def test_notification_ids_are_stable_when_a_check_is_replayed() -> None:
    book = AlertBook()
    book.advance([finding()], at(0), POLICY)
    saved = json.dumps(book.to_dict())
    first = book.advance([finding()], at(15), POLICY)
    # the monitoring crashed before saving: the replayed check yields the same id
    replay = AlertBook.from_dict(json.loads(saved)).advance([finding()], at(16), POLICY)
    assert [n.id for n in first] == [n.id for n in replay]
    assert kinds(first) == kinds(replay) == ["reminder"]


def test_json_round_trip_preserves_behaviour() -> None:
    book = AlertBook()
    info = finding(Severity.INFO, room="hall", kind=FindingKind.UNUSUAL_FREQUENCY)
    other = finding(room="kitchen", kind=FindingKind.UNUSUAL_SILENCE)
    book.advance([finding(), info, other], at(0), POLICY)
    book.advance([finding(), info, other], at(30), POLICY)
    assert book.acknowledge(alert_id_for(other.incident_key), "anna", at(31))
    copy = AlertBook.from_dict(json.loads(json.dumps(book.to_dict())))
    assert copy.to_dict() == book.to_dict()
    for minute in (40, 45, 61, 90, 120):
        ours = book.advance([finding(), info], at(minute), POLICY)
        assert ours == copy.advance([finding(), info], at(minute), POLICY)
    assert {a.state for a in copy.history()} == {AlertState.NOTIFIED, AlertState.OPEN, AlertState.RESOLVED}


def test_unknown_schema_version_is_refused() -> None:
    with pytest.raises(ValueError, match="schema_version"):
        AlertBook.from_dict({"schema_version": 99, "alerts": []})


def test_resolved_alerts_are_pruned_after_keep_resolved() -> None:
    policy = AlertPolicy(escalation=CONTACTS, keep_resolved=timedelta(days=1))
    book = AlertBook()
    book.advance([finding()], at(0), policy)
    book.advance([], at(10), policy)
    book.advance([], at(10 + 24 * 60 - 1), policy)
    assert len(book.history()) == 1
    book.advance([], at(10 + 24 * 60 + 1), policy)
    assert book.history() == []


def test_event_data_matches_the_contract_and_round_trips() -> None:
    book = AlertBook()
    [note] = book.advance([finding()], at(0), POLICY)
    data = json.loads(json.dumps(note.to_event_data()))
    assert set(data) == {"notification_id", "alert_id", "episode", "kind", "type", "room", "severity",
                         "evidence", "message", "recipients", "at"}
    assert data["episode"] == 1 and data["notification_id"] == f"{data['alert_id']}-1-1"
    assert data["type"] == "prolonged_stay" and data["room"] == "bathroom"
    assert data["recipients"] == [CONTACTS[0]]
    assert Notification.from_event_data(data) == note


def test_time_must_be_aware_and_policy_valid() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        AlertBook().advance([], datetime(2026, 1, 1, 8, 0), POLICY)
    with pytest.raises(ValueError, match="repeat_every"):
        AlertPolicy(repeat_every=timedelta(0))
    with pytest.raises(ValueError, match="twice"):
        AlertPolicy(escalation=("a@x.org", "a@x.org"))


def test_no_contacts_still_tracks_the_alert() -> None:
    book = AlertBook()
    [note] = book.advance([finding()], at(0), AlertPolicy())
    assert note.recipients == ()
    assert book.advance([finding()], at(15), AlertPolicy())[0].kind is NotificationKind.REMINDER


# -- invariants over random histories ---------------------------------------------------------

step = st.tuples(
    st.sets(st.sampled_from(["bathroom:emergency", "bathroom:warning", "kitchen:info", "hall:warning",
                             "bathroom:emergency:silence", "hall:emergency:silence"])),
    st.integers(min_value=1, max_value=40),  # minutes to the next check
    st.booleans(),  # acknowledge the oldest open alert before this check
)


@settings(max_examples=150, deadline=None)
@given(st.lists(step, min_size=1, max_size=40))
def test_invariants_over_random_histories(steps: list[tuple[set[str], int, bool]]) -> None:
    book = AlertBook()
    now = T0
    seen_ids: set[str] = set()
    for present, gap, ack in steps:
        now += timedelta(minutes=gap)
        if ack and book.open_alerts():
            book.acknowledge(book.open_alerts()[0].id, "someone", now)
        findings = [_drawn(s) for s in sorted(present)]
        notes = book.advance(findings, now, POLICY)
        assert len({n.alert_id for n in notes}) == len(notes)  # at most one message per alert per check
        for note in notes:
            assert note.id not in seen_ids
            seen_ids.add(note.id)
            assert note.recipients == CONTACTS[: len(note.recipients)] and note.recipients
            alert = book.get(note.alert_id)
            assert alert is not None
            if note.kind is NotificationKind.ALL_CLEAR:
                assert alert.state is AlertState.RESOLVED
                assert now - alert.last_seen >= POLICY.clear_after
            else:
                assert alert.state is AlertState.NOTIFIED
                assert note.severity is not Severity.INFO
        keys = {f.incident_key for f in findings}
        for alert in book.open_alerts():  # seen now, or told and gone for less than clear_after
            assert alert.incident_key in keys or (
                alert.notified_at is not None and now - alert.last_seen < POLICY.clear_after)
        carried = {k for a in book.open_alerts() for k in (a.incident_key, *a.earlier_keys)}
        assert keys <= carried  # every finding has its alert (one continued carries its earlier keys)
        assert AlertBook.from_dict(json.loads(json.dumps(book.to_dict()))).to_dict() == book.to_dict()


def _drawn(spec: str) -> Finding:
    """"room:severity" is a stay that began at T0; "room:severity:silence" a silence since an hour
    before (a candidate to continue the stay's alert, and to be continued by it)."""
    room, severity, *silence = spec.split(":")
    if silence:
        return finding(Severity(severity), room=room, kind=FindingKind.UNUSUAL_SILENCE, started=at(-60))
    return finding(Severity(severity), room=room)


# -- persistence (alert_store.py) on the real memory and file stores ----------------------------

def _file_store(path):
    from hometwin.adapters.stores import open_object_store

    return open_object_store(path.resolve().as_uri())


def test_book_survives_a_restart_in_the_file_store(tmp_path) -> None:
    from hometwin.services.alert_store import AlertStore

    store = AlertStore(_file_store(tmp_path / "state"), "home")
    book = store.load()
    assert book.history() == []
    book.advance([finding()], at(0), POLICY)
    assert store.save(book) is True
    assert store.save(book) is False  # unchanged: no new version written
    # a new process: new store objects on the same folder
    again = AlertStore(_file_store(tmp_path / "state"), "home").load()
    assert again.to_dict() == book.to_dict()
    assert kinds(again.advance([finding()], at(15), POLICY)) == ["reminder"]
    assert (tmp_path / "state" / "state" / "home" / "alerts.json").is_dir()


def test_acknowledgements_are_write_once_objects_merged_by_the_monitoring() -> None:
    from hometwin.adapters.stores import open_object_store
    from hometwin.services.alert_store import AlertStore

    shared = open_object_store("memory://test-acks")
    monitoring = AlertStore(shared, "home")
    dashboard = AlertStore(shared, "home")
    book = monitoring.load()
    book.advance([finding()], at(0), POLICY)
    monitoring.save(book)
    alert_id = book.open_alerts()[0].id

    assert dashboard.record_ack(alert_id, "anna@example.org", at(3)) is True
    assert dashboard.record_ack(alert_id, "ben@example.org", at(4)) is False  # the first one counts
    assert [a.by for a in monitoring.pending_acks()] == ["anna@example.org"]
    assert monitoring.merge_acks(book) == [alert_id]
    assert monitoring.merge_acks(book) == []  # merging again changes nothing
    assert book.get(alert_id).state is AlertState.ACKNOWLEDGED  # type: ignore[union-attr]
    assert book.advance([finding()], at(20), POLICY) == []
    assert shared.list("state/home/acks/") == [f"state/home/acks/{alert_id}.json"]
    with pytest.raises(ValueError, match="not valid"):
        dashboard.record_ack("../alerts", "mallory", at(5))


def test_store_down_raises_port_error_and_loses_nothing(tmp_path) -> None:
    from hometwin.ports import PortError
    from hometwin.services.alert_store import AlertStore

    root = tmp_path / "state"
    store = AlertStore(_file_store(root), "home")
    book = store.load()
    book.advance([finding()], at(0), POLICY)
    store.save(book)
    book.advance([finding(room="kitchen")], at(1), POLICY)

    moved = tmp_path / "away"
    root.rename(moved)
    root.write_text("the disk is gone")  # a plain file where the folder was: every access fails
    with pytest.raises(PortError, match="alerts.json"):
        store.save(book)

    root.unlink()
    moved.rename(root)  # the store is back: the caller's retry succeeds
    assert store.save(book) is True
    restored = AlertStore(_file_store(root), "home").load()
    assert {a.finding.room for a in restored.history()} == {"bathroom", "kitchen"}


def test_unreadable_state_is_an_error_not_an_empty_book() -> None:
    from hometwin.adapters.stores import open_object_store
    from hometwin.services.alert_store import AlertStore
    from hometwin.services.errors import CorruptAlertState

    raw = open_object_store("memory://")
    raw.put("state/home/alerts.json", b"{not json")
    with pytest.raises(CorruptAlertState, match="unreadable"):
        AlertStore(raw, "home").load()
    raw.put("state/home/acks/a1.json", b"[]")  # a bad ack is skipped, the good ones still count
    AlertStore(raw, "home").record_ack("a2", "anna", at(0))
    assert [a.alert_id for a in AlertStore(raw, "home").pending_acks()] == ["a2"]
