"""Emergency detection: from the learned model, the recent events and `now` to findings.

Every detector turns its observation into a *surprise*, -log10 of the probability that the learned
behaviour produces something at least this extreme (2 = 1 in 100, 4 = 1 in 10,000), and fires when
the surprise reaches its limit and the observation passes a plain floor (minutes). Using the tail
probability of a heavy-tailed distribution makes a threshold follow both the magnitude and the
variability of the behaviour: a room where stays vary a lot gets a late threshold, a room with
regular short visits an early one. The surprise of every detector only grows while nothing happens,
so the evaluation can sweep the limits exactly from each episode's maximum (see docs/detection.md).

`assess` returns every detector's score with its finding; `detect` (what the monitoring runs)
keeps the findings whose score reached the limit. The evaluation uses `assess` and a test proves
`detect(...) == [a.finding for a in assess(...) if a.fires]`.

Pure: no I/O, no clock; `now` is an argument.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from hometwin.domain.events import SensorEvent, SensorKind
from hometwin.domain.findings import Finding, FindingKind, Severity
from hometwin.domain.silence import SilenceModel
from hometwin.domain.wording import duration_text

if TYPE_CHECKING:
    from hometwin.domain.model import BehaviourModel

# How much history the monitoring reads before `now`: a night, the day before, and a margin, so the
# silence and daily-frequency detectors see the events they reason about.
RECENT_WINDOW = timedelta(hours=36)

NIGHT_START_HOUR = 23  # night is 23:00-07:00 local, as in the evaluation protocol
NIGHT_END_HOUR = 7
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
QUIET_EVENTS = 120
OFF_MEANS_PRESENT = frozenset({SensorKind.CONTACT, SensorKind.PRESSURE, SensorKind.DOOR})
# A switch turning off this soon after the last sign of presence does not replace it as the silence's
# context (interval data closes a flush interval after the bed mat switched on).
BURST = timedelta(seconds=60)
PERSON_KINDS = (FindingKind.UNUSUAL_SILENCE, FindingKind.PROLONGED_STAY, FindingKind.MISSING_ROUTINE)


@dataclass(frozen=True, slots=True)
class DetectionParams:
    """Every knob of the detectors (JSON-able). docs/detection.md explains each default.

    Limits are surprises (-log10 tail probability); floors are minutes below which a detector
    stays silent whatever the model says.
    """

    silence_limit: float = 3.0
    silence_floor_min: float = 20.0
    stay_limit: float = 3.5
    stay_floor_min: float = 30.0
    room_floor_min: dict[str, float] = field(default_factory=dict, hash=False)  # per-room stay floors
    few_samples: float = 10.0  # a cell with n samples widens its spread by sqrt(1 + few_samples/n)
    stay_gap_slack: float = 2.0  # pauses in a stay add their silence surprise above this (0 = off)
    routine_limit: float = 2.0
    away_limit: float = 2.5
    away_floor_min: float = 180.0
    frequency_limit: float = 2.0
    frequency_min_excess: float = 2.0  # and at least this many visits above the usual mean
    source_error_after_min: float = 15.0
    dead_sensor_after_h: float = 24.0  # a daily sensor silent a whole day while others fire is suspect
    dead_sensor_share: float = 0.75  # ... and when this share of the daily sensors is, the data is broken
    daily_sensor_share: float = 0.7  # a "daily" sensor reported on at least this share of training days
    sensitivity: float = 0.0  # lowers every limit by this much: > 0 is eager, < 0 conservative

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DetectionParams:
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown detection parameter(s): {', '.join(sorted(unknown))}")
        return cls(**d)

    def limit(self, kind: FindingKind) -> float:
        base = {
            FindingKind.UNUSUAL_SILENCE: self.silence_limit,
            FindingKind.PROLONGED_STAY: self.stay_limit,
            FindingKind.MISSING_ROUTINE: self.routine_limit,
            FindingKind.NOT_BACK_HOME: self.away_limit,
            FindingKind.UNUSUAL_FREQUENCY: self.frequency_limit,
        }.get(kind, 0.0)
        return base - self.sensitivity


@dataclass(frozen=True, slots=True)
class Assessment:
    """One detector's score at one check. `fires` when `score >= limit`."""

    finding: Finding
    score: float
    limit: float
    crossed_at: datetime | None = None  # when the score reaches the limit if nothing happens
    blocked: bool = False  # below the detector's floor: never fires, whatever the sensitivity
    suppressed: bool = False  # another finding already reports the same incident

    @property
    def fires(self) -> bool:
        return not self.blocked and not self.suppressed and self.score >= self.limit

    @property
    def margin(self) -> float:
        """score - limit (ignoring suppression); -inf when blocked. It fires iff margin >= 0."""
        return -math.inf if self.blocked else self.score - self.limit


def detect(model: BehaviourModel, events: Sequence[SensorEvent], now: datetime,
           params: DetectionParams = DetectionParams(), *,
           source_error_since: datetime | None = None) -> list[Finding]:
    """The findings at `now`: what the monitoring reports. `events` are the recent events, sorted."""
    return [a.finding for a in assess(model, events, now, params, source_error_since=source_error_since)
            if a.fires]


def assess(model: BehaviourModel, events: Sequence[SensorEvent], now: datetime,
           params: DetectionParams = DetectionParams(), *,
           source_error_since: datetime | None = None) -> list[Assessment]:
    """Every detector's score at `now`, firing or not. Events after `now` are ignored."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    recent = _up_to(events, now)
    out: list[Assessment] = []
    if source_error_since is not None:
        out += _source_missing(source_error_since, now, params)
    if not recent:
        return out
    last = recent[-1]
    zone = ZoneInfo(model.tz)
    door = _leaving(model, recent)
    if door is not None and model.away_duration(door.time).n > 0:
        # Probably gone out. (A home whose door never showed an outing in training is watched for
        # silence instead: the silence model knows how long it is quiet after that door.)
        out += _not_back_home(model, door, now, params)
    else:
        outage = _partial_outage(model.silence, recent, now, params)
        out += outage
        out += _silence(model.silence, recent, now, params)
        stays = _prolonged_stay(model, recent, now, params)
        if any(a.fires for a in outage):
            # Most sensors are dead and the few left cannot say where the person is: a "stay" in the
            # room whose sensor still fires is the outage, not someone lying still.
            stays = [replace(a, blocked=True) for a in stays]
        out += stays
        out += _missing_routine(model, last, now, zone, params)
    out += _unusual_frequency(model, recent, now, zone, params)
    return _one_person_finding(out)


# ------------------------------------------------------------------------------------ detectors
def _silence(silence: SilenceModel, recent: Sequence[SensorEvent], now: datetime,
             params: DetectionParams) -> list[Assessment]:
    last = recent[-1]
    seconds = (now - last.time).total_seconds()
    if seconds <= 0:
        return []
    score, ctx_event = silence.surprise(last, seconds), last
    if not _present(last):
        # A switch turning off shows nobody; interval data closes a flush interval after the person
        # already lay down. Judge the silence also after the last sign of presence just before.
        for e in reversed(recent[-10:]):
            if last.time - e.time > BURST:
                break
            if _present(e):
                s_e = silence.surprise(e, (now - e.time).total_seconds())
                if s_e < score:
                    score, ctx_event = s_e, e
                break
    limit = params.limit(FindingKind.UNUSUAL_SILENCE)
    blocked = seconds < params.silence_floor_min * 60
    ctx = ctx_event  # the context the silence is judged in
    room = current_stay(recent)[0]  # where the person is (presence), stable from check to check
    typical = silence.quantile(ctx, 0.5)
    unusual = max(silence.seconds_at_surprise(ctx, limit) - (last.time - ctx.time).total_seconds(),
                  params.silence_floor_min * 60)
    local = last.time.astimezone(ZoneInfo(silence.tz))
    message = (f"No sensor event for {duration_text(seconds)}, since the {room} at "
               f"{local:%H:%M}; after activity in the {ctx.room} around {local:%H}:00 the home is "
               f"usually quiet for {duration_text(typical)}, and {duration_text(unusual)} is already unusual.")
    finding = Finding(FindingKind.UNUSUAL_SILENCE, Severity.EMERGENCY, room, last.time,
                      observed=seconds, expected=typical, threshold=unusual,
                      percentile=_percentile(score), message=message)
    return [Assessment(finding, score, limit, _plus(last.time, unusual), blocked)]


def _prolonged_stay(model: BehaviourModel, recent: Sequence[SensorEvent], now: datetime,
                    params: DetectionParams) -> list[Assessment]:
    room, start = current_stay(recent, model.params.stays.away_after)
    seconds = (now - start).total_seconds()
    if seconds <= 0 or model.canonical_room(room) is None:
        return []
    dist = model.stay_duration(room, start)
    limit = params.limit(FindingKind.PROLONGED_STAY)
    long_score = _tail_score(dist, seconds, params.few_samples)
    quiet = _quiet_evidence(model.silence, recent, start, now, params.stay_gap_slack)
    score = max(long_score, quiet)
    floor = params.room_floor_min.get(room, params.stay_floor_min) * 60
    typical = float(dist.median)
    unusual = max(_value_at(dist, limit, params.few_samples), floor) if score >= limit else math.nan
    when = _when(start, model.tz, dist.level)
    message = (f"In the {room} for {duration_text(seconds)}; {when} a visit usually lasts "
               f"{duration_text(typical)}, and {duration_text(unusual)} is already unusual.")
    if quiet > long_score and score >= limit:
        unusual = seconds
        message = (f"In the {room} for {duration_text(seconds)} with only rare movement: the pauses between "
                   f"movements there are far longer than usual; {when} a visit usually lasts "
                   f"{duration_text(typical)}.")
    finding = Finding(FindingKind.PROLONGED_STAY, Severity.EMERGENCY, room, start, observed=seconds,
                      expected=typical, threshold=unusual, percentile=_percentile(score), message=message)
    return [Assessment(finding, score, limit, _plus(start, unusual), seconds < floor)]


def _quiet_evidence(silence: SilenceModel, recent: Sequence[SensorEvent], start: datetime, now: datetime,
                    slack: float) -> float:
    """Accumulated surprise of the pauses within the current stay (a CUSUM of silence surprises).

    Someone stuck in a room still moves a little now and then: each pause alone may be only mildly
    unusual, but many in a row are not. Each pause contributes its surprise above `slack`, the
    ongoing pause included, so the sum only grows while the stay goes on. The last
    `QUIET_EVENTS` events of the stay are considered, to bound the work per check.
    """
    if slack <= 0:
        return 0.0
    stay: list[SensorEvent] = []
    for e in reversed(recent):
        if e.time < start or len(stay) >= QUIET_EVENTS:
            break
        stay.append(e)
    stay.reverse()
    total = 0.0
    for a, b in zip(stay, [*stay[1:], None], strict=True):
        end = now if b is None else b.time
        total += max(0.0, silence.surprise(a, (end - a.time).total_seconds()) - slack)
    return total


def _missing_routine(model: BehaviourModel, last: SensorEvent, now: datetime, zone: ZoneInfo,
                     params: DetectionParams) -> list[Assessment]:
    local_now = now.astimezone(zone)
    # the model's definition of the day's first activity (ModelParams.day_start_hour)
    day_start = local_now.replace(hour=model.params.day_start_hour, minute=0, second=0, microsecond=0)
    if local_now < day_start or last.time >= day_start:
        return []  # before the day starts, or the day already had activity
    dist = model.first_activity(now)
    if dist.n <= 0:
        return []
    minutes = (local_now - local_now.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() / 60
    limit = params.limit(FindingKind.MISSING_ROUTINE)
    score = _tail_score(dist, minutes, params.few_samples, clock=True)
    typical = float(dist.median)
    unusual = _value_at(dist, limit, params.few_samples, clock=True) if score >= limit else math.nan
    day = WEEKDAYS[local_now.weekday()]
    message = (f"No activity yet today at {local_now:%H:%M}; on {day}s the day usually starts at "
               f"{_clock(typical)}, and no activity by {_clock(unusual)} is already unusual.")
    finding = Finding(FindingKind.MISSING_ROUTINE, Severity.WARNING, None, day_start.astimezone(now.tzinfo),
                      observed=minutes, expected=typical, threshold=unusual, percentile=_percentile(score),
                      message=message)
    midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    return [Assessment(finding, score, limit, _plus(midnight, unusual * 60))]


def _not_back_home(model: BehaviourModel, door: SensorEvent, now: datetime,
                   params: DetectionParams) -> list[Assessment]:
    seconds = (now - door.time).total_seconds()
    if seconds <= 0:
        return []
    dist = model.away_duration(door.time)
    limit = params.limit(FindingKind.NOT_BACK_HOME)
    score, typical = _tail_score(dist, seconds, params.few_samples), float(dist.median)
    floor = params.away_floor_min * 60
    unusual = max(_value_at(dist, limit, params.few_samples), floor) if score >= limit else math.nan
    usual = f"{_when(door.time, model.tz, dist.level)} an outing usually lasts {duration_text(typical)}"
    message = (f"Away (or silent after the {door.room} door) for {duration_text(seconds)}; {usual}, "
               f"and {duration_text(unusual)} is already unusual.")
    finding = Finding(FindingKind.NOT_BACK_HOME, Severity.WARNING, door.room, door.time, observed=seconds,
                      expected=typical, threshold=unusual, percentile=_percentile(score), message=message)
    return [Assessment(finding, score, limit, _plus(door.time, unusual), seconds < floor)]


def _unusual_frequency(model: BehaviourModel, recent: Sequence[SensorEvent], now: datetime, zone: ZoneInfo,
                       params: DetectionParams) -> list[Assessment]:
    """Visits per room in the last complete night (after 07:00) or day (after 23:00): info only."""
    local_now = now.astimezone(zone)
    end = local_now.replace(minute=0, second=0, microsecond=0)
    if local_now.hour >= NIGHT_START_HOUR:
        part, end = "day", end.replace(hour=NIGHT_START_HOUR)
        start = end.replace(hour=NIGHT_END_HOUR)
    elif local_now.hour >= NIGHT_END_HOUR:
        part, end = "night", end.replace(hour=NIGHT_END_HOUR)
        start = (end - timedelta(hours=12)).replace(hour=NIGHT_START_HOUR)
    else:
        return []
    start_utc, end_utc = start.astimezone(now.tzinfo), end.astimezone(now.tzinfo)
    if not recent or recent[0].time > start_utc:
        return []  # the window does not cover the whole part of the day
    visits = count_visits(recent, start_utc, end_utc)
    out: list[Assessment] = []
    limit = params.limit(FindingKind.UNUSUAL_FREQUENCY)
    for room in sorted(model.rooms):
        dist = model.daily_visits(room, start_utc, part)
        x = next((c for r, c in visits.items() if model.canonical_room(r) == room), 0)
        if dist.n_days <= 0:
            continue
        p = dist.percentile(x)
        score = -math.log10(max(1e-9, 1.0 - min(p, 100.0) / 100.0))
        blocked = x < dist.mean + params.frequency_min_excess
        label = "night (23:00-07:00)" if part == "night" else "day (07:00-23:00)"
        message = (f"{x} visits to the {room} during the {label}; usually {dist.mean:.1f}, "
                   f"and more than {dist.quantile(0.99):.0f} is unusual.")
        finding = Finding(FindingKind.UNUSUAL_FREQUENCY, Severity.INFO, room, start_utc, observed=float(x),
                          expected=dist.mean, threshold=dist.quantile(0.99), percentile=p, message=message)
        out.append(Assessment(finding, score, limit, blocked=blocked))
    return out


def _source_missing(since: datetime, now: datetime, params: DetectionParams) -> list[Assessment]:
    minutes = (now - since).total_seconds() / 60
    limit = params.source_error_after_min
    message = (f"No data from the sensor source for {duration_text(minutes * 60)} (it reports errors). "
               "This is a technical problem (gateway, network or database), not necessarily the person: "
               "please check the installation, and the person if you cannot reach the sensors.")
    finding = Finding(FindingKind.SENSOR_DATA_MISSING, Severity.WARNING, None, since, observed=minutes * 60,
                      expected=0.0, threshold=limit * 60, percentile=100.0, message=message)
    return [Assessment(finding, minutes, limit)]


def _partial_outage(silence: SilenceModel, recent: Sequence[SensorEvent], now: datetime,
                    params: DetectionParams) -> list[Assessment]:
    """Most sensors that report every day have been silent for many hours while others still fire.

    That is a dead sensor, battery or gateway, not the person: someone who lies still silences every
    sensor, not most of them for half a day while one room keeps reporting. The score is how long
    at least `dead_sensor_share` of the daily sensors have been silent (hours); a sensor not in the
    window counts as silent since the window's first event. Nothing fired for `dead_sensor_after_h`
    at all is a silence, left to the person detectors.
    """
    daily = silence.daily_sensors(params.daily_sensor_share)
    limit = params.dead_sensor_after_h
    if len(daily) < 3 or limit <= 0 or (now - recent[-1].time).total_seconds() >= limit * 3600:
        return []
    seen: dict[str, datetime] = {}
    for e in recent:
        seen[e.sensor] = e.time
    # A sensor not in the recent events has been silent at least since the first of them (all we can
    # see: a monitoring that has just started, or a caller passing a short history, never claims more).
    window = recent[0].time
    since = sorted(seen.get(s, window) for s in daily)
    k = max(1, math.ceil(params.dead_sensor_share * len(daily)))
    began = since[k - 1]  # at least k daily sensors have been silent since then
    hours = (now - began).total_seconds() / 3600
    dead = [s for s in daily if seen.get(s, window) <= began]
    if began <= window:
        # silent for the whole window: anchor the incident to a day, not to the sliding window start
        began = began.replace(hour=0, minute=0, second=0, microsecond=0)
    alive = sorted({e.sensor for e in recent if e.sensor not in dead and e.time > began})
    verb = "reports" if len(alive) == 1 else "report"
    message = (f"{len(dead)} of the {len(daily)} sensors that report every day have been silent for "
               f"{duration_text(hours * 3600)} ({', '.join(dead[:4])}{', ...' if len(dead) > 4 else ''}), "
               f"while only {', '.join(alive[:3]) or 'others'} still {verb}. This looks like dead sensors or a "
               "failing gateway, not the person; the person cannot be watched properly until they are "
               "fixed: please check the installation, and the person if you cannot reach the sensors.")
    finding = Finding(FindingKind.SENSOR_DATA_MISSING, Severity.WARNING, None, began, observed=hours * 3600,
                      expected=0.0, threshold=limit * 3600, percentile=100.0, message=message)
    return [Assessment(finding, hours, limit, _plus(began, limit * 3600))]


def _one_person_finding(items: list[Assessment]) -> list[Assessment]:
    """A fall shows as a silence, a long stay and a missing routine at once: keep one alert.

    The person-level finding whose threshold was crossed first (the smallest `threshold` moment)
    wins, so the incident key stays the same from check to check; the others are kept non-firing.
    """
    firing = [a for a in items if a.fires and a.finding.kind in PERSON_KINDS]
    if len(firing) < 2:
        return items
    first = min(firing, key=_crossed_at)
    return [a if a is first or a not in firing else replace(a, suppressed=True) for a in items]


def _crossed_at(a: Assessment) -> tuple[datetime, int]:
    return a.crossed_at or a.finding.started_at, PERSON_KINDS.index(a.finding.kind)


# ------------------------------------------------------------------------------------ helpers
def _leaving(model: BehaviourModel, recent: Sequence[SensorEvent]) -> SensorEvent | None:
    """The outside-door event the person left by, if the last events say so.

    As in the stays (`StayParams.exit_grace`): after the door, only events in the door's own room
    within the grace period (the hall sensor sees the person in the doorway) still count as leaving.
    """
    grace = model.params.stays.exit_grace
    last = recent[-1]
    after: list[SensorEvent] = []
    for k in range(len(recent) - 1, -1, -1):
        e = recent[k]
        if e.kind is SensorKind.DOOR:
            if not (all(x.room == e.room for x in after) and last.time - e.time <= grace):
                return None
            # Coming home looks the same at the door; the difference is what came before it: someone
            # leaving walked to the door, someone arriving was not seen inside for a long time.
            if k == len(recent) - 1:  # the door is the last thing seen
                return e
            before = next((x for x in reversed(recent[:k]) if x.kind is not SensorKind.DOOR), None)
            inside = before is not None and e.time - before.time < model.params.stays.away_after
            return e if inside else None
        if last.time - e.time > grace:
            return None
        after.append(e)
    return None


def current_stay(recent: Sequence[SensorEvent], away_after: timedelta = timedelta(minutes=15),
                 off_means_present: frozenset[SensorKind] = OFF_MEANS_PRESENT) -> tuple[str, datetime]:
    """Room of the last presence event and when the person entered it ("first here after elsewhere").

    Only presence counts, as in the stays (`StayParams.off_means_present`): a motion sensor or an
    appliance switching off shows nobody. Interval data often closes a toilet-flush interval after
    the person is already in bed, and that must not put them back in the bathroom.
    Coming home starts a new stay even in the room the person left by (a door, then a long gap)."""
    def present(e: SensorEvent) -> bool:
        return _present(e, off_means_present)

    k = next((j for j in range(len(recent) - 1, -1, -1) if present(recent[j])), len(recent) - 1)
    room, start = recent[k].room, recent[k].time
    for j in range(k, -1, -1):
        e = recent[j]
        if not present(e) and j != k:
            continue
        if e.room != room:
            break
        if e.kind is SensorKind.DOOR and j + 1 < len(recent) and recent[j + 1].time - e.time >= away_after:
            break
        start = e.time
    return room, start


def _present(e: SensorEvent, off_means_present: frozenset[SensorKind] = OFF_MEANS_PRESENT) -> bool:
    """Does the event show someone in its room? (as in the stays: not a motion or switch turning off)"""
    return e.value > 0 or e.kind in off_means_present


def count_visits(recent: Sequence[SensorEvent], start: datetime, end: datetime) -> dict[str, int]:
    """Stays starting in [start, end): an event in a room other than the previous event's room."""
    out: dict[str, int] = {}
    prev: str | None = None
    for e in recent:
        if e.time >= end:
            break
        if e.room != prev and e.time >= start and e.kind is not SensorKind.DOOR:
            out[e.room] = out.get(e.room, 0) + 1
        prev = e.room
    return out


def _tail_score(dist: Any, x: float, few_samples: float, clock: bool = False) -> float:
    """Surprise of `x` under `dist`: -log10 of the larger of two tail estimates.

    The empirical tail (`dist.percentile`, the learned quantiles, log-normal beyond p99) keeps heavy
    tails heavy; a log-normal fit whose spread is widened for cells with few samples,
    sqrt(1 + few_samples / n), keeps a cell learned from three visits from being razor-sharp.
    """
    n = max(float(dist.n), 1.0)
    widen = math.sqrt(1.0 + few_samples / n)
    if clock:
        # A time of day: a normal in minutes with the spread of the learned quantiles (the log of a
        # clock time means nothing, and a log-normal tail would wait for hours past the usual time).
        sd = max((float(dist.p90) - float(dist.median)) / 1.2816, 10.0) * widen
        z = (x - float(dist.median)) / sd
        return -math.log10(max(0.5 * math.erfc(z / math.sqrt(2.0)), 1e-300))
    z = (math.log(max(x, 1e-9)) - float(dist.log_mu)) / (max(float(dist.log_sigma), 0.05) * widen)
    tail = 0.5 * math.erfc(z / math.sqrt(2.0))
    pct = float(dist.percentile(x))
    if pct == pct:
        tail = max(tail, 1.0 - min(pct, 100.0) / 100.0)
    return -math.log10(max(tail, 1e-300))


def _value_at(dist: Any, limit: float, few_samples: float, clock: bool = False) -> float:
    """The smallest x whose surprise reaches `limit` (bisection in log x; the score grows with x)."""
    lo, hi = 0.0, math.log(400 * 86400.0)
    if _tail_score(dist, math.exp(hi), few_samples, clock) < limit:
        return math.inf
    for _ in range(40):
        mid = (lo + hi) / 2
        if _tail_score(dist, math.exp(mid), few_samples, clock) >= limit:
            hi = mid
        else:
            lo = mid
    return math.exp(hi)


def _z_for_tail(p: float) -> float:
    """z with P(Z > z) = p for a standard normal (bisection on erfc; p in (0, 1))."""
    lo, hi = -10.0, 40.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if 0.5 * math.erfc(mid / math.sqrt(2.0)) > p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _plus(t: datetime, seconds: float) -> datetime | None:
    return t + timedelta(seconds=seconds) if math.isfinite(seconds) else None


def _percentile(score: float) -> float:
    return 100.0 * (1.0 - 10.0 ** (-max(score, 0.0)))


def _up_to(events: Sequence[SensorEvent], now: datetime) -> Sequence[SensorEvent]:
    if not events or events[-1].time <= now:
        return events
    lo, hi = 0, len(events)
    while lo < hi:
        mid = (lo + hi) // 2
        if events[mid].time <= now:
            lo = mid + 1
        else:
            hi = mid
    return events[:lo]


def _when(at: datetime, tz: str, level: str) -> str:
    local = at.astimezone(ZoneInfo(tz))
    hour = f"around {local:%H}:00"
    if level == "cell":
        return f"on {WEEKDAYS[local.weekday()]}s {hour}"
    if level == "daytype":
        return f"on {'weekends' if local.weekday() >= 5 else 'weekdays'} {hour}"
    if level == "hour":
        return f"on any day {hour}"
    if level == "room":
        return "at any time of day"
    return "in this home"


def _clock(minutes_after_midnight: float) -> str:
    if minutes_after_midnight != minutes_after_midnight:
        return "?"
    m = int(round(minutes_after_midnight)) % (24 * 60)
    return f"{m // 60:02d}:{m % 60:02d}"


