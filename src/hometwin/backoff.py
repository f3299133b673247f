"""The project's one retry rule: which failures are worth retrying, and how long to wait before.

Used by the scheduler's outbox (scheduler/dispatch.py), the SDK (sdk/retry.py) and the e-mail
outbox. A leaf module: it imports nothing from hometwin, so every layer, the SDK included, may use it.

- Retryable: no HTTP answer at all (connection refused or reset, DNS, TLS, timeout), 408 Request
  Timeout, 425 Too Early, 429 Too Many Requests and every 5xx. 408 and 425 are the server saying
  "this attempt came at the wrong moment" (RFC 9110 15.5.9, RFC 8470 5.2), so a later one may
  succeed. Any other status (other 4xx, 3xx left after redirects) is permanent: fail at once.
- Delay before attempt n+1 after n failed attempts: the ceiling `min(cap, initial * 2**(n-1))`,
  jittered to 50-100 % of it, so clients that failed together do not retry in lockstep, while the
  exponential spacing still holds for at least half of it.
- A numeric `Retry-After` on 429 or 503 raises the delay to what the server asks, never lowers it
  (a server answering `Retry-After: 0` to every attempt would otherwise turn the backoff into a
  busy loop), and is capped at `cap` like the rest. The HTTP-date form is not parsed (it needs a
  clock): the jittered backoff applies.

Why not tenacity or stamina: both are retry loops (decorators around a call). The scheduler's
outbox needs the delay for attempt n as a value, to store `next_attempt_at` and set a timer; the
rule above is a few lines, so a dependency would add more than it removes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

RETRYABLE_4XX = frozenset({408, 425, 429})
RETRY_AFTER_STATUSES = frozenset({429, 503})


def retryable_status(status: int) -> bool:
    """408, 425, 429 and 5xx may succeed later; any other status is a permanent answer."""
    return status >= 500 or status in RETRYABLE_4XX


def retry_after_seconds(status: int, value: str | None) -> float | None:
    """The server's numeric Retry-After on a 429 or 503, in seconds; None when absent or a date."""
    if value is None or status not in RETRY_AFTER_STATUSES:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(0.0, seconds) if seconds == seconds else None  # NaN is no answer


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped exponential backoff with jitter; `attempt` counts failed attempts, from 1."""

    initial: float
    cap: float

    def __post_init__(self) -> None:
        if self.initial < 0 or self.cap < 0:
            raise ValueError(f"backoff initial ({self.initial}) and cap ({self.cap}) must be >= 0")

    def ceiling(self, attempt: int) -> float:
        """The largest delay after `attempt` failed attempts (the jitter takes 0-50 % off)."""
        if attempt < 1:
            raise ValueError(f"attempt counts failed attempts from 1, got {attempt}")
        # Exponent clamped: 2**1100 overflows a float long after the cap is reached anyway.
        return min(self.cap, self.initial * 2.0 ** min(attempt - 1, 1000))

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after `attempt` failed attempts, at least `retry_after`, at most `cap`."""
        jittered = self.ceiling(attempt) * random.uniform(0.5, 1.0)
        if retry_after is None:
            return jittered
        return min(self.cap, max(jittered, retry_after))

    def delays(self) -> Iterator[float]:
        """delay(1), delay(2), ...: for a retry loop that does not look at Retry-After."""
        attempt = 0
        while True:
            attempt += 1
            yield self.delay(attempt)
