"""How the SDK retries the scheduler: the project's one rule (hometwin/backoff.py) on httpx answers.

Connection errors, timeouts, 408, 425, 429 and 5xx are retried with capped exponential backoff and
jitter (so restarted components do not retry in lockstep); a numeric Retry-After on 429/503 is
waited for, up to the cap; any other 4xx is a permanent refusal.
"""

from __future__ import annotations

import httpx

from hometwin.backoff import Backoff, retry_after_seconds, retryable_status

__all__ = ["Backoff", "retry_after", "retryable_status"]


def retry_after(response: httpx.Response) -> float | None:
    """The server's numeric Retry-After in seconds on a 429 or 503; None otherwise."""
    return retry_after_seconds(response.status_code, response.headers.get("Retry-After"))
