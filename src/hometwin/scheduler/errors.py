"""The scheduler's error types: its state store failing, a limit reached, a body too large, a
delivery that did not reach the function."""

from __future__ import annotations


class BodyTooLarge(Exception):
    pass


class TransportFailure(Exception):
    """No HTTP answer: connection refused or reset, DNS, TLS, timeout. Always retryable."""


class StoreUnavailable(RuntimeError):
    """The state backend cannot be opened or refused a commit; the request can be retried."""


class LimitExceeded(ValueError):
    """A documented cap refused a command; nothing changed. `http_status` is the API's answer."""

    def __init__(self, message: str, http_status: int) -> None:
        super().__init__(message)
        self.http_status = http_status
