"""The domain's error types: input that breaks a rule of the domain (a bad event, a forged or
expired acknowledgement link). Each is a ValueError whose message names what is wrong."""

from __future__ import annotations


class InvalidEvent(ValueError):
    """A sensor record that cannot be used, with the reason in its message."""


class InvalidAckToken(ValueError):
    """The token is malformed, forged or for another secret (the message says which)."""


class ExpiredAckToken(InvalidAckToken):
    """The token was genuine but its time is up."""
