"""Triggers: cron and Go-duration plans, one shared scheduler, stop, one-shots, clear errors.

The clock is driven rather than waited for: cron plans are checked through the trigger objects'
fire times, and firing is forced by moving a job's next run time to now on the real scheduler.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.interval import IntervalTrigger

from hometwin.sdk import CronSpecTrigger, OneShotTrigger, PeriodicTrigger, parse_cron, parse_duration
from hometwin.sdk.runner import shared_scheduler
from tests.unit.test_sdk_support import Recorder, reset_sdk, wait_for

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(autouse=True)
def _fresh_sdk() -> Iterator[None]:
    reset_sdk()
    yield
    reset_sdk()


@pytest.mark.parametrize(("text", "seconds"), [
    ("300ms", 0.3), ("30s", 30), ("1m", 60), ("1h30m", 5400), ("1.5h", 5400), ("2h45m10s", 9910),
    ("24h", 86400), ("1500us", 0.0015)])
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "30", "1x", "-1s", "0s", "1m30", "m", "1 m", "1d"])
def test_bad_durations_fail_clearly(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize("spec", ["* * *", "61 * * * *", "a b c d e", "* * * * 8", "*/0 * * * *",
                                  "* * * * * *", "", "0 25 * * *"])
def test_bad_cron_specs_fail_clearly_at_construction(spec: str) -> None:
    before = len(shared_scheduler().get_jobs())
    with pytest.raises(ValueError, match="invalid cron spec") as info:
        PeriodicTrigger(Recorder(), cronSpec=spec)
    assert repr(spec) in str(info.value)
    with pytest.raises(ValueError, match="invalid cron spec"):
        OneShotTrigger(Recorder(), runImmediate=False, cronSpec=spec)
    assert len(shared_scheduler().get_jobs()) == before, "a rejected trigger must leave no job behind"


def test_bad_durations_and_zones_fail_at_construction() -> None:
    with pytest.raises(ValueError, match="invalid duration '30x'"):
        PeriodicTrigger(Recorder(), "30x")
    with pytest.raises(ValueError, match="invalid duration 'soon'"):
        OneShotTrigger(Recorder(), wait_time="soon")
    with pytest.raises(ValueError, match="looks like a cron spec"):
        PeriodicTrigger(Recorder(), "*/5 * * * *")
    with pytest.raises(ValueError, match="unknown time zone"):
        PeriodicTrigger(Recorder(), timezone="Mars/Olympus")
    with pytest.raises(TypeError, match="runImmediate"):
        PeriodicTrigger(Recorder(), runImmediate=1)  # type: ignore[arg-type]


def test_cron_has_standard_crontab_weekdays() -> None:
    # APScheduler 3's from_crontab reads weekday 1 as Tuesday; crontab (and we) mean Monday.
    saturday = datetime(2025, 5, 3, 12, 0, tzinfo=BERLIN)
    mondays = CronSpecTrigger("0 8 * * 1", BERLIN).fire_times(saturday, 2)
    assert [t.isoformat() for t in mondays] == ["2025-05-05T08:00:00+02:00", "2025-05-12T08:00:00+02:00"]
    sundays = CronSpecTrigger("0 8 * * 0", BERLIN).fire_times(saturday, 1) + \
        CronSpecTrigger("0 8 * * 7", BERLIN).fire_times(saturday, 1)
    assert all(t.weekday() == 6 for t in sundays)


def test_cron_fire_times_every_quarter_hour() -> None:
    start = datetime(2025, 1, 15, 10, 7, 30, tzinfo=BERLIN)
    times = CronSpecTrigger("*/15 * * * *", BERLIN).fire_times(start, 3)
    assert [t.strftime("%H:%M") for t in times] == ["10:15", "10:30", "10:45"]


def _real_gaps(times: list[datetime]) -> set[float]:
    # Aware datetimes sharing a tzinfo subtract as wall-clock times; compare instants in UTC.
    utc = [t.astimezone(ZoneInfo("UTC")) for t in times]
    return {(b - a).total_seconds() for a, b in zip(utc, utc[1:], strict=False)}


def test_cron_on_daylight_saving_days() -> None:
    # Spring forward: 02:00-03:00 does not exist; an hourly trigger keeps firing every real hour.
    spring = CronSpecTrigger("0 * * * *", BERLIN).fire_times(datetime(2025, 3, 30, 0, 30, tzinfo=BERLIN), 4)
    assert _real_gaps(spring) == {3600.0}
    assert [t.astimezone(ZoneInfo("UTC")).hour for t in spring] == [0, 1, 2, 3]
    # Fall back: 02:00-03:00 happens twice; hourly still means every real hour, none skipped.
    autumn = CronSpecTrigger("0 * * * *", BERLIN).fire_times(datetime(2025, 10, 26, 0, 30, tzinfo=BERLIN), 4)
    assert _real_gaps(autumn) == {3600.0}
    # A daily 07:00 stays at 07:00 local time across the change (23 h apart in real time).
    daily = CronSpecTrigger("0 7 * * *", BERLIN).fire_times(datetime(2025, 3, 29, 6, tzinfo=BERLIN), 2)
    assert [t.hour for t in daily] == [7, 7] and _real_gaps(daily) == {23 * 3600.0}


def test_time_zone_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMETWIN_TZ", "America/New_York")
    trigger = PeriodicTrigger(Recorder(), cronSpec="0 7 * * *")
    nxt = trigger.next_fire_time
    assert nxt is not None
    assert nxt.astimezone(ZoneInfo("America/New_York")).hour == 7
    assert nxt.astimezone(BERLIN).hour in (12, 13)  # 5 or 6 hours ahead, depending on DST
    trigger.stop()


def test_default_time_zone_is_berlin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOMETWIN_TZ", raising=False)
    trigger = PeriodicTrigger(Recorder(), cronSpec="30 6 * * *")
    nxt = trigger.next_fire_time
    assert nxt is not None and nxt.astimezone(BERLIN).strftime("%H:%M") == "06:30"
    trigger.stop()


def test_periodic_cron_fires_when_the_clock_reaches_it_and_plans_the_next() -> None:
    rec = Recorder()
    trigger = PeriodicTrigger(rec, cronSpec="*/5 * * * *")
    first = trigger.next_fire_time
    assert first is not None and first.minute % 5 == 0 and first.second == 0
    assert rec.calls == []  # runImmediate defaults to False for periodic triggers
    trigger.jobs[0].modify(next_run_time=datetime.now(BERLIN))  # drive the clock to the fire time
    wait_for(lambda: len(rec.calls) == 1, what="the cron trigger fired")
    after = trigger.next_fire_time
    assert after is not None and after > datetime.now(BERLIN) and after.minute % 5 == 0
    assert trigger.running
    trigger.stop()
    assert not trigger.running and trigger.next_fire_time is None


def test_periodic_duration_fires_repeatedly_until_stopped() -> None:
    rec = Recorder()
    trigger = PeriodicTrigger(rec, "100ms")
    wait_for(lambda: len(rec.calls) >= 3, what="three periodic firings")
    gaps = [b - a for a, b in zip(rec.calls, rec.calls[1:], strict=False)]
    assert all(0.05 < g < 1.0 for g in gaps), gaps  # 100 ms apart, with slack for a busy machine
    trigger.stop()
    count = len(rec.calls)
    time.sleep(0.35)
    assert len(rec.calls) == count, "a stopped trigger must not fire"


def test_older_duration_form_waits_before_the_first_period() -> None:
    before = datetime.now(BERLIN)
    for trigger in (PeriodicTrigger(Recorder(), "30s", "1m"),
                    PeriodicTrigger(Recorder(), "30s", wait_time="1m"),
                    PeriodicTrigger(Recorder(), duration="30s", wait_time="1m")):
        (job,) = trigger.jobs
        assert isinstance(job.trigger, IntervalTrigger)
        assert job.trigger.interval == timedelta(seconds=30)
        nxt = trigger.next_fire_time
        assert nxt is not None
        assert timedelta(seconds=89) < nxt - before < timedelta(seconds=92)
        trigger.stop()


def test_one_shot_fires_once_and_releases_its_job() -> None:
    rec = Recorder()
    trigger = OneShotTrigger(rec)  # runImmediate=True by default
    (job,) = trigger.jobs
    job_id = job.id
    wait_for(lambda: len(rec.calls) == 1, what="the one-shot fired")
    wait_for(lambda: not trigger.running, what="the one-shot released its job")
    time.sleep(0.2)
    assert len(rec.calls) == 1
    assert trigger.jobs == [] and shared_scheduler().get_job(job_id) is None
    assert trigger.next_fire_time is None


def test_one_shot_by_cron_fires_once_at_the_next_match() -> None:
    rec = Recorder()
    trigger = OneShotTrigger(rec, runImmediate=False, cronSpec="0 7 * * *")
    (job,) = trigger.jobs
    nxt = trigger.next_fire_time
    assert nxt is not None and nxt.astimezone(BERLIN).strftime("%H:%M") == "07:00"
    assert nxt - datetime.now(BERLIN) <= timedelta(days=1)
    job.modify(next_run_time=datetime.now(BERLIN))
    wait_for(lambda: len(rec.calls) == 1, what="the cron one-shot fired")
    wait_for(lambda: shared_scheduler().get_job(job.id) is None, what="job released")
    assert not trigger.running


def test_one_shot_after_wait_time_older_form() -> None:
    before = datetime.now(BERLIN)
    for trigger in (OneShotTrigger(Recorder(), wait_time="10s"), OneShotTrigger(Recorder(), "10s")):
        nxt = trigger.next_fire_time
        assert nxt is not None and timedelta(seconds=9) < nxt - before < timedelta(seconds=12)
        assert len(trigger.jobs) == 1
        trigger.stop()
    rec = Recorder()
    OneShotTrigger(rec, wait_time="150ms")
    wait_for(lambda: len(rec.calls) == 1, what="the delayed one-shot fired")


def test_run_immediate_periodic_fires_now_and_keeps_its_schedule() -> None:
    rec = Recorder()
    trigger = PeriodicTrigger(rec, runImmediate=True, cronSpec="0 3 * * *")
    wait_for(lambda: len(rec.calls) == 1, what="the immediate firing")
    nxt = trigger.next_fire_time
    assert nxt is not None and nxt.astimezone(BERLIN).strftime("%H:%M") == "03:00"
    trigger.stop()


def test_all_triggers_share_one_scheduler_thread() -> None:
    threads_before = threading.active_count()
    recs = [Recorder() for _ in range(40)]
    triggers = [OneShotTrigger(rec) for rec in recs] + [PeriodicTrigger(Recorder(), "1h") for _ in range(20)]
    wait_for(lambda: all(len(rec.calls) == 1 for rec in recs), what="forty one-shots fired")
    schedulers = {id(t._scheduler) for t in triggers}
    assert schedulers == {id(shared_scheduler())}
    # One scheduler thread plus a bounded worker pool, not a thread per trigger as in sifec_base.
    assert threading.active_count() - threads_before <= 1 + 8
    for trigger in triggers:
        trigger.stop()


def test_a_failing_fabric_is_logged_and_the_trigger_keeps_going(caplog: pytest.LogCaptureFixture) -> None:
    rec = Recorder(fail=True)
    trigger = PeriodicTrigger(rec, "100ms")
    wait_for(lambda: len(rec.calls) >= 2, what="firing again after a failure")
    trigger.stop()
    assert "the event fabric raised" in caplog.text and "fabric exploded" in caplog.text


def test_parse_cron_normalises_and_accepts_aliases() -> None:
    assert parse_cron("  */5   *  * * *") == "*/5 * * * *"
    assert parse_cron("@hourly") == "@hourly"
