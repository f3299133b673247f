"""The JSON the dashboard's API returns; the HTML pages render the very same objects."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, computed_field


class ModelInfo(BaseModel):
    version: str
    created_at: datetime | None = None
    training_start: datetime | None = None
    training_end: datetime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class Status(BaseModel):
    """What works and what does not, so every page can say so instead of failing."""

    source_ok: bool = True
    source_error: str | None = None
    model: ModelInfo | None = None
    model_error: str | None = None
    alerts_ok: bool = True
    alerts_error: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def problems(self) -> list[str]:
        out = []
        if not self.source_ok:
            out.append(f"Sensor data is unavailable right now: {self.source_error}")
        if self.model_error:
            out.append(f"The model could not be loaded: {self.model_error}")
        if not self.alerts_ok:
            out.append(f"The alert state could not be read: {self.alerts_error}")
        return out


class Place(BaseModel):
    """Where the person is: in a room, away (after the front door), or unknown (no data)."""

    state: Literal["room", "away", "unknown"]
    room: str | None = None
    since: datetime
    for_seconds: float
    usual_seconds: float | None = Field(None, description="Median stay in this room at this hour (model).")
    p95_seconds: float | None = None
    percentile: float | None = Field(None, description="How unusual the stay so far is (0..100).")


class Activity(BaseModel):
    time: datetime
    sensor: str
    room: str
    kind: str
    ago_seconds: float


class Expectation(BaseModel):
    """What the routine says about one room at this weekday and hour."""

    room: str
    visits: float = Field(description="Mean number of visits starting in this time bin.")
    median_seconds: float
    p95_seconds: float
    level: str = Field(description="Pooling level the answer came from (cell, daytype, hour, room, home).")


class AlertView(BaseModel):
    id: str
    kind: str
    room: str | None = None
    severity: str
    status: str
    opened_at: datetime | None = None
    last_seen: datetime | None = Field(
        None, description="When a check last saw the situation. An active alert not seen since waits "
                          "HOMETWIN_ALERT_CLEAR_AFTER_MINUTES for its all clear: if it comes back, it goes on.")
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    ack_pending: bool = Field(False, description="Acknowledged here, not yet merged by the monitoring.")
    message: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)
    notifications: int = 0

    @property
    def open(self) -> bool:
        return self.status not in ("resolved", "acknowledged") and not self.ack_pending


class NowView(BaseModel):
    home_id: str
    at: datetime
    tz: str
    status: Status
    place: Place | None = None
    last_activity: Activity | None = None
    usual_room: str | None = None
    expected: list[Expectation] = Field(default_factory=list)
    first_activity_usual: str | None = Field(None, description="Usual time of the first activity, HH:MM.")
    open_alerts: list[AlertView] = Field(default_factory=list)


class Period(BaseModel):
    kind: Literal["stay", "away", "unknown"]
    room: str | None = None
    start: datetime
    end: datetime
    seconds: float


class TodayView(BaseModel):
    home_id: str
    day: date
    start: datetime
    end: datetime
    at: datetime
    status: Status
    periods: list[Period] = Field(default_factory=list)
    seconds_per_room: dict[str, float] = Field(default_factory=dict)


class RoomRoutine(BaseModel):
    room: str
    visits: list[list[float]] = Field(description="7 weekdays (Monday first) x time bins.")
    mean_duration: list[list[float]] = Field(description="Seconds; same shape as visits.")


class RoutineView(BaseModel):
    home_id: str
    status: Status
    bin_minutes: int = 60
    rooms: list[RoomRoutine] = Field(default_factory=list)
    average_duration: dict[str, float] = Field(default_factory=dict)


class ModelsView(BaseModel):
    home_id: str
    status: Status
    versions: list[ModelInfo] = Field(default_factory=list, description="Newest first.")


class Comparison(BaseModel):
    old: ModelInfo
    new: ModelInfo
    lines: list[str] = Field(default_factory=list, description="The plain-language summary.")
    summary: dict[str, Any] = Field(default_factory=dict, description="compare_models() as is.")


class AlertsView(BaseModel):
    home_id: str
    status: Status
    alerts: list[AlertView] = Field(default_factory=list, description="Open first, then newest first.")


class AckResult(BaseModel):
    alert_id: str
    acknowledged: bool
    by: str
    at: datetime
    detail: str = ""


class Mail(BaseModel):
    key: str
    subject: str
    to: str
    sender: str
    date: str
    text: str


class MailView(BaseModel):
    enabled: bool
    mails: list[Mail] = Field(default_factory=list, description="Newest first.")
    error: str | None = None


class TrendChange(BaseModel):
    """A change of one daily indicator against the person's own normal (domain/change.py)."""

    indicator: str
    label: str
    direction: Literal["up", "down"]
    since: date = Field(description="The first changed day (estimated).")
    detected: date = Field(description="The day the change became clear.")
    before: float = Field(description="The normal value before, in the indicator's unit.")
    after: float = Field(description="The typical value since.")
    sentence: str = Field(description="The plain-language reading for a nurse.")
    summary: str = Field(description="The same in a few words.")


class IndicatorTrendView(BaseModel):
    """One indicator over the last weeks: the daily values, the personal normal band, its changes."""

    key: str
    label: str
    unit: str = Field(description="count, minutes, hours or clock (minutes after local midnight).")
    needs: str = Field(description="What the home must have for this indicator.")
    unsupported: str = Field("", description="Why the home cannot measure it at all; empty when it can.")
    days: list[date] = Field(default_factory=list)
    values: list[float | None] = Field(default_factory=list, description="Per day; null: no usable data.")
    low: list[float | None] = Field(default_factory=list, description="Lower edge of the normal band.")
    high: list[float | None] = Field(default_factory=list, description="Upper edge; null while learning.")
    normal: str = Field("still being learned", description="The latest normal band in words.")
    latest: str | None = Field(None, description="The latest value in words.")
    latest_day: date | None = None
    changes: list[TrendChange] = Field(default_factory=list)

    @property
    def measurable(self) -> bool:
        return not self.unsupported


class UnvisitedRoomView(BaseModel):
    room: str
    last_visit: datetime
    days: float


class TrendsView(BaseModel):
    home_id: str
    status: Status
    at: datetime
    weeks: int
    changes: list[TrendChange] = Field(default_factory=list,
                                       description="Changes detected in the last 14 days, newest first.")
    indicators: list[IndicatorTrendView] = Field(default_factory=list)
    unvisited: list[UnvisitedRoomView] = Field(default_factory=list,
                                               description="Rooms usually visited but not for days.")


HomeState = Literal["alert", "warning", "data_missing", "no_model", "well"]


class HomeSummary(BaseModel):
    """One home at a glance on the service's home list."""

    id: str
    name: str
    tz: str
    status: HomeState = Field(description="The worst of: alert (an emergency nobody acknowledged yet), "
                                          "warning (any other unacknowledged alert, an acknowledged one "
                                          "still going on, or a store that cannot be read), data_missing "
                                          "(no sensor event for HOMETWIN_DASHBOARD_DATA_MISSING_HOURS, or "
                                          "the source is down), no_model (nothing trained yet), well.")
    status_label: str
    open_alerts: list[AlertView] = Field(default_factory=list, description="Alerts not over yet, newest first.")
    last_activity: datetime | None = None
    model_version: str | None = None
    problems: list[str] = Field(default_factory=list)
    url: str = Field(description="The home's pages on this dashboard.")
    checked_at: datetime | None = Field(None, description="When this status was read from the home's stores "
                                                          "(kept at most `max_age_s`).")


class HomesView(BaseModel):
    """One page of the homes this login sees, sorted as asked (`status`: open alerts first; `name`)
    over all of them, then filtered by `status` and `q`."""

    at: datetime
    sort: Literal["status", "name"]
    homes: list[HomeSummary] = Field(description="This page's homes.")
    counts: dict[str, int] = Field(default_factory=dict, description="Homes per status, of all the homes this "
                                                                     "login sees (before the filter).")
    total: int = Field(0, description="Homes that match the filter, on all pages.")
    page: int = 1
    pages: int = 1
    limit: int = 50
    status: HomeState | None = Field(None, description="The status filter, if any.")
    q: str = Field("", description="The search in names and ids, if any.")
    oldest: datetime | None = Field(None, description="The oldest status on this page was read then.")
    max_age_s: float = Field(0.0, description="No status shown is older than this (the page's refresh interval).")
