"""How the SDK retries the scheduler: which answers are worth retrying, and how long to wait."""

from __future__ import annotations

import random
from collections.abc import Iterator

import httpx


def retryable_status(status: int) -> bool:
    """429 and 5xx may succeed later; any other 4xx is a permanent refusal."""
    return status == 429 or status >= 500


def backoff(initial: float, cap: float) -> Iterator[float]:
    """Capped exponential delays with jitter, so restarted components do not retry in lockstep."""
    delay = initial
    while True:
        yield min(cap, delay) * random.uniform(0.8, 1.0)
        delay = delay * 2 if delay else 0.0


def retry_after(response: httpx.Response, cap: float) -> float | None:
    """The server's Retry-After in seconds (numeric form), capped; None when absent."""
    value = response.headers.get("Retry-After", "")
    try:
        return min(cap, max(0.0, float(value)))
    except ValueError:
        return None
