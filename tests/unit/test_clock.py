from datetime import UTC, datetime, timedelta

import pytest

from hometwin.clock import Clock


def test_real_clock_is_aware_and_close_to_now() -> None:
    now = Clock().now()
    assert now.tzinfo is not None
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)


def test_accelerated_clock_round_trips_its_spec() -> None:
    start = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    clock = Clock(start, 60.0, 1000.0)
    parsed = Clock.parse(clock.spec())
    assert parsed == clock
    assert parsed.real_seconds(timedelta(hours=1)) == 60.0


def test_accelerated_clock_runs_faster() -> None:
    clock = Clock.accelerate(datetime(2026, 1, 1, tzinfo=UTC), 3600.0)
    assert clock.now() >= datetime(2026, 1, 1, tzinfo=UTC)
    assert clock.now() - datetime(2026, 1, 1, tzinfo=UTC) < timedelta(hours=10)


@pytest.mark.parametrize("spec", ["fast", "accelerated:2026-01-01T00:00:00@60@0",
                                  "accelerated:2026-01-01T00:00:00+00:00@-1@0", "accelerated:x@1@0"])
def test_bad_clock_specs_fail_clearly(spec: str) -> None:
    with pytest.raises(ValueError, match="HOMETWIN_CLOCK"):
        Clock.parse(spec)
