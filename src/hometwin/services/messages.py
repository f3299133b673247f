"""What the e-mails say: a notification or a behaviour-change report rendered into a subject, a
plain-text and an HTML body (templates in `src/hometwin/templates/mail/`).

The names of the finding kinds and how their numbers read come from `hometwin.domain.wording`, the
same words the dashboard shows. Delivery (exactly once, retries) is `hometwin.services.outbox`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from hometwin.adapters.mail import one_line
from hometwin.domain.ack_links import ack_url, sign
from hometwin.domain.alerts import NotificationKind
from hometwin.domain.findings import Finding, FindingKind, Severity
from hometwin.domain.wording import finding_wording
from hometwin.ports import InlineImage
from hometwin.services.errors import InvalidNotification

SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_SEVERITY_LABELS = {Severity.EMERGENCY: "EMERGENCY", Severity.WARNING: "Warning", Severity.INFO: "Note"}
_COLOURS = {Severity.EMERGENCY: "#b00020", Severity.WARNING: "#a15c00", Severity.INFO: "#2b5797"}
_PREFIXES = {NotificationKind.ALERT: "", NotificationKind.REMINDER: "Reminder - ",
             NotificationKind.ESCALATION: "Escalated - "}
DEFAULT_REPORT_TITLE = "Weekly HomeTwin report: changes in the routine"




class NotificationEvent(BaseModel):
    """The EmergencyEvent payload of `Notification.to_event_data()`, validated."""

    model_config = ConfigDict(extra="ignore")

    notification_id: str = Field(pattern=SAFE_ID.pattern)
    alert_id: str = Field(pattern=SAFE_ID.pattern)
    episode: int | None = Field(None, ge=1, le=999_999_999)  # None: sent before alerts had episodes
    kind: NotificationKind
    type: FindingKind
    room: str | None = Field(None, max_length=100)
    severity: Severity
    evidence: dict[str, Any]
    message: str = Field(max_length=2000)
    recipients: list[str] = Field(default_factory=list, max_length=50)
    at: AwareDatetime


def parse_notification(event_data: Mapping[str, Any]) -> NotificationEvent:
    """The validated event, or InvalidNotification naming the field(s) at fault."""
    try:
        event = NotificationEvent.model_validate(dict(event_data))
        Finding.from_dict(event.evidence)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in err["loc"]) for err in exc.errors())
        raise InvalidNotification(f"invalid notification field(s): {fields}") from exc
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidNotification(f"invalid notification field: evidence ({exc})") from exc
    return event


@dataclass(frozen=True, slots=True)
class RenderedMail:
    subject: str
    text: str
    html: str
    images: tuple[InlineImage, ...] = ()  # the HTML shows them as cid: pictures


class MailRenderer:
    """Renders the e-mails of one home; the acknowledgement link needs both `ack_key` and `dashboard_url`."""

    def __init__(self, *, home_id: str, tz: str, dashboard_url: str | None, ack_key: str | None,
                 ack_link_lifetime: timedelta = timedelta(hours=48)) -> None:
        self.home_id = home_id
        self.dashboard_url = (dashboard_url or "").rstrip("/") or None
        if self.dashboard_url and not self.dashboard_url.startswith(("https://", "http://")):
            raise ValueError("HOMETWIN_PUBLIC_DASHBOARD_URL must start with https:// or http://")
        if ack_key is not None:
            sign("a0", datetime.now(UTC), ack_key)  # a too short key fails now, not in an emergency
        self._ack_key = ack_key
        self.ack_link_lifetime = ack_link_lifetime
        self._zone = ZoneInfo(tz)
        self._templates = jinja2.Environment(
            loader=jinja2.PackageLoader("hometwin", "templates/mail"),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
            keep_trailing_newline=True)

    def notification(self, event: NotificationEvent, recipients: Sequence[str]) -> RenderedMail:
        """An alert, reminder, escalation or all-clear e-mail."""
        finding = Finding.from_dict(event.evidence)
        wording = finding_wording(event.type)
        room = one_line(event.room, 60) if event.room else None
        type_label = wording.label[:1].lower() + wording.label[1:]  # "EMERGENCY in the bathroom: unusually ..."
        where = f"in the {room}" if room else "at home"
        headline = f"{_SEVERITY_LABELS[event.severity]} {where}: {type_label}"
        if event.kind is NotificationKind.ALL_CLEAR:
            subject = f"All clear {where}: {type_label} is over"
        else:
            subject = _PREFIXES.get(event.kind, "") + headline
        ack, ack_expires = None, None
        if self._ack_key and self.dashboard_url and event.kind is not NotificationKind.ALL_CLEAR:
            expires = event.at + self.ack_link_lifetime
            token = sign(event.alert_id, expires, self._ack_key, episode=event.episode)
            ack, ack_expires = ack_url(self.dashboard_url, token), expires
        context = {
            "subject": subject, "headline": headline, "kind": event.kind.value, "room": room,
            "room_label": room or "the whole home", "type_label": wording.label,
            "message": event.message, "colour": _COLOURS[event.severity],
            "started_local": self._local(finding.started_at), "at_local": self._local(event.at),
            "observed": wording.value(finding.observed),
            "expected": wording.value(finding.expected),
            "threshold": wording.value(finding.threshold),
            "percentile": f"{finding.percentile:.1f}".rstrip("0").rstrip(".") + "th",
            "compared": wording.compared,
            "ack_url": ack, "ack_expires_local": self._local(ack_expires) if ack_expires else None,
            "dashboard_url": self.dashboard_url, "home_id": self.home_id,
            "recipients": recipients, "notification_id": event.notification_id,
        }
        return self._render("alert", f"[HomeTwin {self.home_id}] {subject}", context)

    def report(self, report: Mapping[str, Any], recipients: Sequence[str]) -> RenderedMail:
        """A behaviour-change report: `lines` (plain-language sentences), optional `title`, `period`
        (text), `rooms` ({room: {"lines": [...]}}) and `trends` (a `services.trend_digest` digest:
        its change sentences, and a chart per indicator as an inline image). InvalidNotification when
        it has another shape."""
        if not isinstance(report, Mapping):
            raise InvalidNotification(f"a report is an object, not {type(report).__name__}")
        title = str(report.get("title") or DEFAULT_REPORT_TITLE)
        rooms = report.get("rooms") or {}
        if not isinstance(rooms, Mapping):
            raise InvalidNotification("report rooms must be an object keyed by room")
        context = {
            "title": title, "subject": title, "period": str(report.get("period") or ""),
            "lines": _lines(report.get("lines"), "report lines"),
            "rooms": [(str(room), _lines(data.get("lines"), f"lines of room {str(room)[:40]!r}"))
                      for room, data in sorted(rooms.items()) if isinstance(data, Mapping)],
            "dashboard_url": self.dashboard_url, "home_id": self.home_id, "recipients": recipients,
        }
        trends, images = trend_section(report.get("trends"), self._zone)
        mail = self._render("report", f"[HomeTwin {self.home_id}] {title}", {**context, "trends": trends})
        return RenderedMail(mail.subject, mail.text, mail.html, images)

    def _render(self, template: str, subject: str, context: Mapping[str, Any]) -> RenderedMail:
        text = self._templates.get_template(f"{template}.txt").render(context)
        html = self._templates.get_template(f"{template}.html").render(context)
        return RenderedMail(subject, text, html)

    def _local(self, when: datetime) -> str:
        return when.astimezone(self._zone).strftime("%a %d %b %Y, %H:%M %Z")


def trend_section(digest: Any, zone: ZoneInfo) -> tuple[dict[str, Any] | None, tuple[InlineImage, ...]]:
    """The report's trends for the templates, and their charts as PNG images (None: no trends)."""
    if digest is None:
        return None, ()
    from hometwin.domain.trends_wording import band_text, change_sentence, change_summary, value_text
    from hometwin.services.trend_digest import RECENT_CHANGE_DAYS, read_trend_digest
    from hometwin.services.trend_images import mail_charts

    trends = read_trend_digest(digest)
    drawable = [t for t in trends.trends if not t.unsupported and t.last_index is not None]
    drawn = mail_charts(drawable)  # never raises: a chart it cannot draw is left out and named
    charts, unmeasurable, images = [], [], []
    for trend in trends.trends:
        spec = trend.spec
        if trend.unsupported:
            unmeasurable.append({"label": spec.label, "needs": spec.needs})
            continue
        last = trend.last_index
        if last is None:
            continue  # no usable day in the period: nothing to draw
        cid: str | None = f"trend-{spec.key.replace('_', '-')}@hometwin"
        latest, normal = value_text(spec, float(trend.values[last])), band_text(spec, trend.low[-1], trend.high[-1])
        normal = "still being learned" if normal == "learning" else normal
        if spec.key in drawn.pngs:
            images.append(InlineImage(str(cid), drawn.pngs[spec.key], f"{spec.key}.png"))
        else:
            cid = None  # the text still has its figures; the template says the chart is missing
        charts.append({"label": spec.label, "cid": cid, "latest": latest, "latest_day": f"{trend.days[last]:%a %d %b}",
                       "normal": normal, "changes": [change_summary(c) for c in trend.changes],
                       "alt": f"{spec.label} over the last weeks: latest {latest}, normal {normal}"})
    return {
        "weeks": int(digest.get("weeks") or 0) if isinstance(digest, Mapping) else 0,
        "sentences": [change_sentence(c) for c in trends.recent_changes(RECENT_CHANGE_DAYS)],
        "charts": charts, "unmeasurable": unmeasurable, "charts_missing": len(drawn.missing),
        "unvisited": [{"room": u.room, "last": u.last_visit.astimezone(zone).strftime("%a %d %b %H:%M")}
                      for u in trends.unvisited],
    }, tuple(images)


def _lines(value: Any, what: str) -> list[str]:
    """A report's list of sentences; anything but a list (or nothing) is no report."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidNotification(f"{what} must be a list of sentences")
    return [str(line) for line in value]
