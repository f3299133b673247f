"""The demo's fall (`DemoPlan.fall`): a fall at home, not at the door.

A fall within a minute of coming home is a known gap of the detectors (docs/detection.md, "coming
home after an outing"); the demo shows what the detectors see, whatever the weekday it runs on.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hometwin.demo import HOME_FOR, DemoPlan
from hometwin.domain.events import SensorKind
from hometwin.sim import HomeLayout, Resident


def test_the_demo_falls_once_the_person_has_been_home_a_while(tmp_path: Path) -> None:
    plan = DemoPlan(tmp_path)
    resident = Resident(HomeLayout.default(plan.tz), plan.seed)
    # A fixed week (the demo runs on today): on its Monday the person comes home at 13:11, just after
    # the injection time, and the first movement then is in the doorway.
    monday = datetime(2026, 12, 7, 7, 30, tzinfo=ZoneInfo(plan.tz))
    came_home_just_before = 0
    for day in range(7):
        plan.live_start = monday + timedelta(days=day)
        fall, anchor = plan.fall(resident)
        after = plan.live_start + plan.inject_after * plan.speed
        assert anchor.kind is SensorKind.MOTION and after <= anchor.time < fall.at
        doors = [e.time for e in resident.events(after - timedelta(hours=1), anchor.time) if e.kind is SensorKind.DOOR]
        assert not doors or anchor.time - doors[-1] >= HOME_FOR
        first_motion = next(e for e in resident.events(after, after + timedelta(hours=12))
                            if e.kind is SensorKind.MOTION)
        came_home_just_before += first_motion.time != anchor.time
    # On the Monday the first movement after the injection time is the person coming home.
    assert came_home_just_before >= 1
