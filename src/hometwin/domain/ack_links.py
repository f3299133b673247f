"""Signed, expiring acknowledgement tokens for the link in an alert e-mail.

A token is `<alert id>.<expiry, unix seconds>.<signature>`, the signature being
HMAC-SHA256(secret, "hometwin-ack/v1|<alert id>|<expiry>") in unpadded URL-safe base64. It proves
that whoever clicks received the e-mail; it carries no personal data. The dashboard serves
`GET <public dashboard url>/ack?token=...` (see `ack_url`), verifies with `verify` and records the
acknowledgement (a confirmation page with a POST button, because mail scanners prefetch links).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime

_ALERT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CONTEXT = b"hometwin-ack/v1"
MIN_SECRET_BYTES = 16
ACK_PATH = "/ack"


class InvalidAckToken(ValueError):
    """The token is malformed, forged or for another secret (the message says which)."""


class ExpiredAckToken(InvalidAckToken):
    """The token was genuine but its time is up."""


def _key(secret: str | bytes) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"the ack secret must be at least {MIN_SECRET_BYTES} bytes long")
    return key


def _signature(alert_id: str, expires: int, key: bytes) -> str:
    mac = hmac.new(key, b"|".join([_CONTEXT, alert_id.encode("ascii"), str(expires).encode("ascii")]),
                   hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def sign(alert_id: str, expires_at: datetime, secret: str | bytes) -> str:
    """A token acknowledging `alert_id`, valid until `expires_at` (aware)."""
    if not _ALERT_ID.match(alert_id):
        raise ValueError(f"alert id {alert_id!r} is not a valid id")
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    expires = int(expires_at.timestamp())
    return f"{alert_id}.{expires}.{_signature(alert_id, expires, _key(secret))}"


def verify(token: str, secret: str | bytes, now: datetime) -> str:
    """The alert id of a genuine, unexpired token; raise InvalidAckToken/ExpiredAckToken otherwise."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    key = _key(secret)
    parts = token.split(".") if isinstance(token, str) and len(token) <= 256 else []
    if len(parts) != 3 or not _ALERT_ID.match(parts[0]) or not parts[1].isdigit():
        raise InvalidAckToken("malformed acknowledgement token")
    alert_id, expires_text, given = parts
    expires = int(expires_text)
    expected = _signature(alert_id, expires, key)
    # Constant-time comparison, so the signature cannot be guessed byte by byte from timing.
    if not hmac.compare_digest(expected.encode("ascii"), given.encode("ascii", "replace")):
        raise InvalidAckToken("the acknowledgement link is not genuine")
    if now.timestamp() >= expires:
        when = datetime.fromtimestamp(expires, UTC).isoformat()
        raise ExpiredAckToken(f"the acknowledgement link expired at {when}")
    return alert_id


def ack_url(base_url: str, token: str) -> str:
    """The link to put in the e-mail. The token is URL-safe by construction (no escaping needed)."""
    return f"{base_url.rstrip('/')}{ACK_PATH}?token={token}"
