"""Delivery policy: capped exponential backoff with jitter, Retry-After."""

from __future__ import annotations

import pytest

from hometwin.scheduler.dispatch import DeliveryPolicy, _retry_after
from hometwin.scheduler.transport import Answer


@pytest.mark.parametrize(("attempt", "ceiling"), [(1, 0.5), (2, 1.0), (3, 2.0), (7, 32.0), (8, 60.0), (30, 60.0)])
def test_backoff_doubles_is_capped_and_jittered(attempt: int, ceiling: float):
    policy = DeliveryPolicy(backoff_initial=0.5, backoff_max=60.0)
    delays = [policy.backoff(attempt) for _ in range(200)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len({round(d, 6) for d in delays}) > 100  # jittered, not a fixed step


def test_retry_after_is_honoured_up_to_the_cap():
    policy = DeliveryPolicy(backoff_initial=0.5, backoff_max=60.0)
    assert policy.backoff(1, retry_after=7.0) == 7.0
    assert policy.backoff(1, retry_after=3600.0) == 60.0


@pytest.mark.parametrize(("answer", "expected"), [
    (Answer(429, "3"), 3.0), (Answer(503, "1.5"), 1.5), (Answer(500, "3"), None),
    (Answer(429, "Wed, 21 Oct 2015 07:28:00 GMT"), None), (Answer(429, None), None),
])
def test_retry_after_header(answer: Answer, expected: float | None):
    assert _retry_after(answer) == expected
