"""The SDK's error types: the scheduler not answering (retried) or refusing a registration."""

from __future__ import annotations


class SchedulerUnavailable(Exception):
    """No answer, a timeout, 429 or 5xx: worth trying again soon."""


class RegistrationRefused(Exception):
    """A 4xx answer (bad token, invalid body): retried only at the status interval."""
