"""The alert life cycle: from detector findings to the notifications a caregiver receives.

Pure and deterministic: `AlertBook.advance(findings, now, policy)` is called at every monitoring
check with the complete list of current findings; it returns the notifications to send now and
updates the book, which the caller persists (see `hometwin.services.alert_store`).

Rules (docs/alerts.md explains them for a newcomer):
- One incident (`Finding.incident_key`) gives one alert, whose id is derived from that key, so a
  check repeated after a crash finds the same alert again.
- States: open (seen, nobody told yet) -> notified -> acknowledged -> resolved. Resolved when the
  incident's finding no longer appears; an incident that reappears reopens its alert as a new
  *episode* (numbered 1, 2, ...), which is notified afresh.
- An acknowledgement is for one episode: it silences that episode only. A reappearing emergency
  alerts, reminds and escalates again, whoever acknowledged it the time before.
- Severity: an emergency notifies at once; a warning once it has lasted `warning_delay` (detectors
  at the edge of a threshold then do not wake anyone); info never notifies (dashboard and reports).
- Until acknowledged, a notified alert is repeated every `repeat_every` (`warning_repeat_every`
  for warnings) and every `escalate_after` one more contact of the ordered `escalation` list is
  added (for a warning no faster than it repeats). An alert that grows from warning to emergency
  is escalated at once.
- When a notified alert resolves (acknowledged or not) everyone told gets an "all clear", once its
  finding has been gone for `clear_after`: until then it is held (no reminders), and a finding that
  returns continues the episode. Someone stuck who moves once, or a detector wavering at its limit,
  then gets no "all clear" followed by a new alert minutes later.
- A notified person-level alert is *continued* by a new person-level finding in the same room whose
  situation began before the alert did (a silence in the bathroom, then the long stay it was part
  of): the alert carries the new finding under the same id and episode (`earlier_keys` keeps the
  incident keys it carried before).
- Notification ids are `<alert id>-<episode>-<n>` (the n-th notification of that episode): a check
  that is re-run because the book was not saved produces the same ids again, so the mailer can
  drop the duplicate, and no episode can reuse an id of an earlier one (the mailer would drop it).
- Delivery: every notification is *undelivered* until the caller reports that the mail server
  accepted it (`delivered`); the book keeps each undelivered one with when it was last handed on
  (`emitted`) and how often, so the caller can hand it on again with the same id. It gives up on
  one only when its alert has been resolved for longer than the caller's bound (`give_up_undelivered`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from hometwin.domain.findings import PERSON_KINDS, Finding, Severity

# 2: episodes (hometwin.services.alert_store upgrades version-1 books). The optional top-level
# "deliveries" list was added within version 2: a book without it has nothing undelivered.
SCHEMA_VERSION = 2
_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.EMERGENCY: 2}


class AlertState(StrEnum):
    OPEN = "open"  # the incident is seen; nobody has been told (yet)
    NOTIFIED = "notified"  # at least one e-mail went out; repeats and escalates until acknowledged
    ACKNOWLEDGED = "acknowledged"  # someone takes care; no more reminders
    RESOLVED = "resolved"  # the finding disappeared (activity resumed)


class NotificationKind(StrEnum):
    ALERT = "alert"  # the first notification of an alert
    REMINDER = "reminder"  # the same recipients again, nobody acknowledged
    ESCALATION = "escalation"  # one more contact added, or the severity rose to emergency
    ALL_CLEAR = "all_clear"  # the incident is over


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """How alerts notify. `escalation` is the ordered contact list (e-mail addresses)."""

    repeat_every: timedelta = timedelta(minutes=15)
    escalation: tuple[str, ...] = ()
    escalate_after: timedelta = timedelta(minutes=30)
    warning_delay: timedelta = timedelta(minutes=10)
    warning_repeat_every: timedelta = timedelta(hours=1)
    keep_resolved: timedelta = timedelta(days=90)
    clear_after: timedelta = timedelta(minutes=10)

    def __post_init__(self) -> None:
        object.__setattr__(self, "escalation", tuple(self.escalation))
        for name in ("repeat_every", "escalate_after", "warning_repeat_every", "keep_resolved"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"AlertPolicy.{name} must be positive")
        for name in ("warning_delay", "clear_after"):
            if getattr(self, name) < timedelta(0):
                raise ValueError(f"AlertPolicy.{name} must not be negative")
        if len(set(self.escalation)) != len(self.escalation):
            raise ValueError("AlertPolicy.escalation lists a contact twice")


def alert_id_for(incident_key: str) -> str:
    """A short, stable, URL- and key-safe id for an incident."""
    return "a" + hashlib.sha256(incident_key.encode("utf-8")).hexdigest()[:20]


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to send: the first alert, a reminder, an escalation or the all clear."""

    id: str
    alert_id: str
    episode: int  # the alert's episode this notification belongs to (acknowledge links name it)
    kind: NotificationKind
    recipients: tuple[str, ...]
    finding: Finding
    at: datetime
    severity: Severity  # the alert's (highest) severity, which may exceed the latest finding's

    @property
    def message(self) -> str:
        return self.finding.message

    def to_event_data(self) -> dict[str, Any]:
        """The payload of the `EmergencyEvent` the actuation component turns into an e-mail."""
        return {
            "notification_id": self.id,
            "alert_id": self.alert_id,
            "episode": self.episode,
            "kind": self.kind.value,
            "type": self.finding.kind.value,
            "room": self.finding.room,
            "severity": self.severity.value,
            "evidence": self.finding.to_dict(),
            "message": self.message,
            "recipients": list(self.recipients),
            "at": self.at.isoformat(),
        }

    @classmethod
    def from_event_data(cls, d: dict[str, Any]) -> Notification:
        return cls(
            id=str(d["notification_id"]),
            alert_id=str(d["alert_id"]),
            episode=_episode(d["episode"]),
            kind=NotificationKind(d["kind"]),
            recipients=tuple(str(r) for r in d.get("recipients", ())),
            finding=Finding.from_dict(d["evidence"]),
            at=_aware(datetime.fromisoformat(d["at"]), "at"),
            severity=Severity(d["severity"]),
        )


@dataclass(slots=True)
class Delivery:
    """A notification the mail server has not (yet, as far as the book knows) accepted."""

    notification: Notification
    emitted_at: datetime | None = None  # last handed on (to the scheduler); None: never
    emits: int = 0  # how often it was handed on

    def to_dict(self) -> dict[str, Any]:
        return {"notification": self.notification.to_event_data(), "emitted_at": _iso(self.emitted_at),
                "emits": self.emits}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Delivery:
        emits = d.get("emits", 0)
        if isinstance(emits, bool) or not isinstance(emits, int) or emits < 0:
            raise ValueError(f"a delivery's emits is a whole number from 0, got {emits!r}")
        return cls(Notification.from_event_data(d["notification"]), _parse_opt(d.get("emitted_at")), emits)


@dataclass(slots=True)
class Alert:
    """One incident over its life. Mutated only by AlertBook."""

    id: str
    incident_key: str
    finding: Finding  # the latest finding of the incident (its evidence grows while it lasts)
    severity: Severity  # highest severity seen in the current episode
    state: AlertState
    opened_at: datetime  # when the current episode started (first seen, or reopened)
    last_seen: datetime
    episode: int = 1  # 1 at first; +1 each time the incident reappears after it was resolved
    level: int = 0  # escalation level: the first level+1 contacts are told
    notified_severity: Severity | None = None
    notified_at: datetime | None = None
    last_notified_at: datetime | None = None
    escalated_at: datetime | None = None  # when the current level began
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    log: list[dict[str, Any]] = field(default_factory=list)  # what happened, for the dashboard
    earlier_keys: list[str] = field(default_factory=list)  # incident keys carried before (continued)

    def recipients(self, policy: AlertPolicy) -> tuple[str, ...]:
        return policy.escalation[: self.level + 1]

    @property
    def active(self) -> bool:
        return self.state is not AlertState.RESOLVED

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "incident_key": self.incident_key, "finding": self.finding.to_dict(),
            "severity": self.severity.value, "state": self.state.value,
            "opened_at": _iso(self.opened_at), "last_seen": _iso(self.last_seen),
            "episode": self.episode, "level": self.level,
            "notified_severity": self.notified_severity.value if self.notified_severity else None,
            "notified_at": _iso(self.notified_at), "last_notified_at": _iso(self.last_notified_at),
            "escalated_at": _iso(self.escalated_at), "acknowledged_at": _iso(self.acknowledged_at),
            "acknowledged_by": self.acknowledged_by, "resolved_at": _iso(self.resolved_at),
            "log": [dict(entry) for entry in self.log], "earlier_keys": list(self.earlier_keys),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Alert:
        return cls(
            id=str(d["id"]), incident_key=str(d["incident_key"]),
            finding=Finding.from_dict(d["finding"]), severity=Severity(d["severity"]),
            state=AlertState(d["state"]), opened_at=_parse(d["opened_at"]),
            last_seen=_parse(d["last_seen"]), episode=_episode(d["episode"]),
            level=int(d.get("level", 0)),
            notified_severity=Severity(d["notified_severity"]) if d.get("notified_severity") else None,
            notified_at=_parse_opt(d.get("notified_at")),
            last_notified_at=_parse_opt(d.get("last_notified_at")),
            escalated_at=_parse_opt(d.get("escalated_at")),
            acknowledged_at=_parse_opt(d.get("acknowledged_at")),
            acknowledged_by=d.get("acknowledged_by"), resolved_at=_parse_opt(d.get("resolved_at")),
            log=[dict(entry) for entry in d.get("log", [])],
            earlier_keys=_keys(d.get("earlier_keys", [])),
        )


class AlertBook:
    """All alerts of one home, in the order they were opened."""

    def __init__(self, alerts: Iterable[Alert] = (), deliveries: Iterable[Delivery] = ()) -> None:
        self._alerts: dict[str, Alert] = {a.id: a for a in alerts}
        self._undelivered: dict[str, Delivery] = {d.notification.id: d for d in deliveries}
        # Which alert an incident key belongs to: its own (the id is the key's hash) unless an
        # alert was continued under it.
        self._by_key: dict[str, str] = {k: a.id for a in self._alerts.values() for k in a.earlier_keys}
        self._by_key.update({a.incident_key: a.id for a in self._alerts.values()})

    def get(self, alert_id: str) -> Alert | None:
        return self._alerts.get(alert_id)

    def open_alerts(self) -> list[Alert]:
        """Alerts not yet resolved (open, notified or acknowledged), oldest first."""
        return [a for a in self._alerts.values() if a.active]

    def history(self) -> list[Alert]:
        """Every alert still kept, resolved ones included, oldest first."""
        return list(self._alerts.values())

    def advance(self, findings: Sequence[Finding], now: datetime, policy: AlertPolicy) -> list[Notification]:
        """Take the complete list of current findings; return the notifications due at `now`.

        Call it only with a complete detection result: a finding missing because the check
        failed would be taken as "activity resumed".
        """
        _aware(now, "now")
        current: dict[str, Finding] = {}
        for finding in findings:
            seen = current.get(finding.incident_key)
            if seen is None or _RANK[finding.severity] > _RANK[seen.severity]:
                current[finding.incident_key] = finding

        self._continue(current, now)
        for key, finding in current.items():
            self._observe(key, finding, now, current)

        out: list[Notification] = []
        for alert in list(self._alerts.values()):
            if not alert.active:
                continue
            if alert.incident_key in current:
                out += self._step(alert, now, policy)
            elif alert.notified_at is None or now - alert.last_seen >= policy.clear_after:
                out += self._resolve(alert, now, policy)
            # else: held; it resolves once gone for `clear_after`, or continues if it returns
        self._prune(now, policy)
        return out

    def acknowledge(self, alert_id: str, by: str, now: datetime, *, episode: int | None = None) -> bool:
        """Someone takes care of one episode of the alert: its reminders and escalations stop.

        `episode` names the episode the acknowledgement was given for; without it, it counts for
        the current episode only if given (`now`) after that episode began. An acknowledgement
        for an earlier episode never silences a later one. False if nothing changed.
        """
        _aware(now, "now")
        alert = self._alerts.get(alert_id)
        if alert is None or alert.state not in (AlertState.OPEN, AlertState.NOTIFIED):
            return False
        if episode is not None and episode != alert.episode:
            return False
        if episode is None and now < alert.opened_at:
            return False  # given before this episode began: it was for an earlier one
        alert.state = AlertState.ACKNOWLEDGED
        alert.acknowledged_at = now
        alert.acknowledged_by = str(by)[:200]
        _log(alert, "acknowledged", now, by=alert.acknowledged_by)
        return True

    # -- delivery ----------------------------------------------------------------------------------

    def undelivered(self) -> list[Delivery]:
        """Notifications the mail server has not accepted yet, oldest first."""
        return list(self._undelivered.values())

    def emitted(self, ids: Iterable[str], now: datetime) -> None:
        """These undelivered notifications were handed on (again) at `now`."""
        _aware(now, "now")
        for note_id in ids:
            delivery = self._undelivered.get(note_id)
            if delivery is not None:
                delivery.emitted_at = now
                delivery.emits += 1

    def delivered(self, ids: Iterable[str], now: datetime) -> list[str]:
        """The mail server accepted these (the caller learned it at `now`); the ids that changed."""
        _aware(now, "now")
        done = []
        for note_id in ids:
            delivery = self._undelivered.pop(note_id, None)
            if delivery is None:
                continue
            alert = self._alerts.get(delivery.notification.alert_id)
            if alert is not None:
                alert.log.append({"event": "delivered", "at": now.isoformat(),
                                  "episode": delivery.notification.episode, "id": note_id})
            done.append(note_id)
        return done

    def give_up_undelivered(self, now: datetime, after_resolved: timedelta) -> list[Delivery]:
        """Forget undelivered notifications of alerts resolved at least `after_resolved` ago (or
        forgotten); while its alert is active a notification is never given up."""
        _aware(now, "now")
        dropped = []
        for note_id, delivery in list(self._undelivered.items()):
            alert = self._alerts.get(delivery.notification.alert_id)
            if alert is not None and (alert.active or alert.resolved_at is None
                                      or now - alert.resolved_at < after_resolved):
                continue
            del self._undelivered[note_id]
            if alert is not None:
                alert.log.append({"event": "undelivered", "at": now.isoformat(),
                                  "episode": delivery.notification.episode, "id": note_id})
            dropped.append(delivery)
        return dropped

    def current_episode(self, alert_id: str) -> int | None:
        """The episode the alert is in (or last was, when resolved); None for an unknown alert."""
        alert = self._alerts.get(alert_id)
        return alert.episode if alert is not None else None

    # -- the state machine -------------------------------------------------------------------

    def _continue(self, current: dict[str, Finding], now: datetime) -> None:
        """Let a new person-level finding carry on a notified alert whose finding is gone, when it is
        about the same room and its situation began before the alert did (see the module rules)."""
        new = sorted((f for k, f in current.items() if k not in self._by_key and f.kind in PERSON_KINDS
                      and f.room is not None), key=lambda f: (-_RANK[f.severity], f.started_at))
        for alert in self._alerts.values():
            if (not alert.active or alert.notified_at is None or alert.incident_key in current
                    or alert.finding.kind not in PERSON_KINDS):
                continue
            finding = next((f for f in new if f.room == alert.finding.room and f.started_at <= alert.opened_at),
                           None)
            if finding is None:
                continue
            new.remove(finding)
            _log(alert, "continued", now, kind=finding.kind.value, incident_key=finding.incident_key)
            alert.earlier_keys.append(alert.incident_key)
            alert.incident_key = finding.incident_key
            self._by_key[finding.incident_key] = alert.id

    def _observe(self, key: str, finding: Finding, now: datetime, current: dict[str, Finding]) -> None:
        alert_id = self._by_key.get(key, alert_id_for(key))
        alert = self._alerts.get(alert_id)
        if alert is not None and key != alert.incident_key and alert.incident_key in current:
            return  # seen under the key it carries now as well: one incident, one finding
        if alert is None:
            alert = Alert(id=alert_id, incident_key=key, finding=finding, severity=finding.severity,
                          state=AlertState.OPEN, opened_at=now, last_seen=now)
            _log(alert, "opened", now, severity=finding.severity.value)
            self._alerts[alert_id] = alert
            self._by_key[key] = alert_id
        if key != alert.incident_key:  # an incident key it carried before is back: it carries it again
            alert.earlier_keys = [k for k in alert.earlier_keys if k != key] + [alert.incident_key]
            alert.incident_key = key
        if alert.state is AlertState.RESOLVED:
            # The same incident is back (a detector flapped at its threshold): a new episode, which
            # nobody has acknowledged yet; an acknowledgement of an earlier episode does not count.
            alert.episode += 1
            alert.state = AlertState.OPEN
            alert.severity = finding.severity
            alert.opened_at = now
            alert.level = 0
            alert.notified_severity = alert.notified_at = alert.last_notified_at = None
            alert.escalated_at = alert.acknowledged_at = alert.resolved_at = None
            alert.acknowledged_by = None
            _log(alert, "reopened", now, severity=finding.severity.value)
        elif _RANK[finding.severity] > _RANK[alert.severity]:
            alert.severity = finding.severity
            _log(alert, "severity", now, severity=finding.severity.value)
        alert.finding = finding
        alert.last_seen = now

    def _step(self, alert: Alert, now: datetime, policy: AlertPolicy) -> list[Notification]:
        if alert.state is AlertState.OPEN:
            due = alert.severity is Severity.EMERGENCY or (
                alert.severity is Severity.WARNING and now - alert.opened_at >= policy.warning_delay)
            if not due:
                return []
            alert.state = AlertState.NOTIFIED
            alert.level = 0
            alert.notified_at = alert.escalated_at = now
            return [self._notify(alert, NotificationKind.ALERT, now, policy)]

        if alert.state is not AlertState.NOTIFIED:
            return []  # acknowledged: quiet until resolved
        assert alert.escalated_at is not None and alert.last_notified_at is not None
        rose = alert.notified_severity is not None and (
            _RANK[alert.severity] > _RANK[alert.notified_severity])
        emergency = alert.severity is Severity.EMERGENCY
        repeat = policy.repeat_every if emergency else policy.warning_repeat_every
        # A warning escalates no faster than it repeats: nobody is woken before a reminder.
        escalate_after = policy.escalate_after if emergency else max(policy.escalate_after, repeat)
        can_escalate = alert.level + 1 < len(policy.escalation)
        if can_escalate and now - alert.escalated_at >= escalate_after:
            alert.level += 1
            alert.escalated_at = now
            return [self._notify(alert, NotificationKind.ESCALATION, now, policy)]
        if rose:
            return [self._notify(alert, NotificationKind.ESCALATION, now, policy)]
        if now - alert.last_notified_at >= repeat:
            return [self._notify(alert, NotificationKind.REMINDER, now, policy)]
        return []

    def _resolve(self, alert: Alert, now: datetime, policy: AlertPolicy) -> list[Notification]:
        told = alert.notified_at is not None
        alert.state = AlertState.RESOLVED
        alert.resolved_at = now
        _log(alert, "resolved", now)
        if not told:
            return []
        return [self._notify(alert, NotificationKind.ALL_CLEAR, now, policy)]

    def _notify(self, alert: Alert, kind: NotificationKind, now: datetime,
                policy: AlertPolicy) -> Notification:
        # Counted from the saved log, so a re-run of an unsaved check counts the same.
        sequence = 1 + sum(1 for entry in alert.log
                           if entry.get("event") == "notification" and entry.get("episode") == alert.episode)
        note = Notification(id=f"{alert.id}-{alert.episode}-{sequence}", alert_id=alert.id,
                            episode=alert.episode, kind=kind, recipients=alert.recipients(policy),
                            finding=alert.finding, at=now, severity=alert.severity)
        if kind is not NotificationKind.ALL_CLEAR:
            alert.last_notified_at = now
            alert.notified_severity = alert.severity
        _log(alert, "notification", now, id=note.id, kind=kind.value, recipients=list(note.recipients))
        self._undelivered[note.id] = Delivery(note)
        return note

    def _prune(self, now: datetime, policy: AlertPolicy) -> None:
        cutoff = now - policy.keep_resolved
        for alert in [a for a in self._alerts.values()
                      if a.resolved_at is not None and not a.active and a.resolved_at < cutoff]:
            del self._alerts[alert.id]
            for key in (alert.incident_key, *alert.earlier_keys):
                self._by_key.pop(key, None)
        for note_id in [i for i, d in self._undelivered.items() if d.notification.alert_id not in self._alerts]:
            del self._undelivered[note_id]

    # -- JSON ------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "alerts": [a.to_dict() for a in self._alerts.values()],
                "deliveries": [d.to_dict() for d in self._undelivered.values()]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AlertBook:
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"alert book schema_version {version!r} is not supported (expected {SCHEMA_VERSION}; "
                "hometwin.services.alert_store upgrades older books)")
        return cls((Alert.from_dict(a) for a in d.get("alerts", [])),
                   (Delivery.from_dict(x) for x in d.get("deliveries", [])))


def _log(alert: Alert, event: str, now: datetime, **details: Any) -> None:
    alert.log.append({"event": event, "at": now.isoformat(), "episode": alert.episode, **details})


def _keys(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"an alert's earlier_keys is a list of incident keys, got {value!r}")
    return value


def _episode(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"an episode is a whole number from 1, got {value!r}")
    return value


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    return value


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse(value: str) -> datetime:
    return _aware(datetime.fromisoformat(value), "timestamp")


def _parse_opt(value: str | None) -> datetime | None:
    return _parse(value) if value else None
