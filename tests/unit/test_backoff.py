"""The project's one retry rule (hometwin/backoff.py): delays, jitter, Retry-After, retryable statuses."""

from __future__ import annotations

import math
from itertools import islice

import pytest

from hometwin.backoff import Backoff, retry_after_seconds, retryable_status


@pytest.mark.parametrize(("attempt", "ceiling"), [(1, 0.5), (2, 1.0), (3, 2.0), (7, 32.0), (8, 60.0), (30, 60.0)])
def test_backoff_doubles_is_capped_and_jittered(attempt: int, ceiling: float):
    rule = Backoff(initial=0.5, cap=60.0)
    delays = [rule.delay(attempt) for _ in range(200)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len({round(d, 6) for d in delays}) > 100  # jittered, not a fixed step
    assert rule.ceiling(attempt) == ceiling


def test_retry_after_is_honoured_up_to_the_cap():
    rule = Backoff(initial=0.5, cap=60.0)
    assert rule.delay(1, retry_after=7.0) == 7.0
    assert rule.delay(1, retry_after=3600.0) == 60.0


def test_retry_after_never_shortens_the_backoff():
    """`Retry-After: 0` on every answer must not turn the backoff into a busy loop."""
    rule = Backoff(initial=0.5, cap=60.0)
    assert all(16.0 <= rule.delay(7, retry_after=0.0) <= 32.0 for _ in range(50))


def test_huge_attempt_numbers_stay_at_the_cap():
    assert Backoff(0.5, 60.0).ceiling(10**6) == 60.0


def test_delays_iterate_the_attempts():
    ceilings = [0.1, 0.2, 0.4, 0.5, 0.5]
    delays = list(islice(Backoff(0.1, 0.5).delays(), 5))
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))


def test_zero_initial_means_no_wait():
    assert list(islice(Backoff(0.0, 1.0).delays(), 3)) == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(("initial", "cap", "attempt"), [(-1.0, 1.0, 1), (1.0, -1.0, 1), (1.0, 1.0, 0)])
def test_nonsense_is_refused(initial: float, cap: float, attempt: int):
    with pytest.raises(ValueError):
        Backoff(initial, cap).delay(attempt)


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504, 599])
def test_retryable_statuses(status: int):
    assert retryable_status(status)


@pytest.mark.parametrize("status", [200, 301, 400, 401, 403, 404, 409, 410, 413, 422])
def test_other_statuses_fail_at_once(status: int):
    assert not retryable_status(status)


@pytest.mark.parametrize(("status", "value", "expected"), [
    (429, "3", 3.0), (503, "1.5", 1.5), (500, "3", None), (429, "-2", 0.0),
    (429, "Wed, 21 Oct 2015 07:28:00 GMT", None), (429, None, None), (429, "nan", None),
])
def test_retry_after_header(status: int, value: str | None, expected: float | None):
    assert retry_after_seconds(status, value) == expected


def test_retry_after_infinity_is_capped():
    seconds = retry_after_seconds(503, "inf")
    assert seconds is not None and math.isinf(seconds)
    assert Backoff(0.5, 60.0).delay(1, seconds) == 60.0
