"""Signed, expiring acknowledgement tokens for the link in an alert e-mail.

A token names the alert *and the episode* it acknowledges (an alert that resolves and comes back
is a new episode, see `hometwin.domain.alerts`), so the link in an e-mail about one episode cannot
silence a later one:

    <alert id>.<episode>.<expiry, unix seconds>.<signature>     (version 2)

the signature being HMAC-SHA256(secret, "hometwin-ack/v2|<alert id>|<episode>|<expiry>") in
unpadded URL-safe base64. Version-1 tokens, `<alert id>.<expiry>.<signature>` over
"hometwin-ack/v1|<alert id>|<expiry>", came before episodes; they still verify (`episode` None)
until they expire, and the dashboard then treats them as being for the current episode. The two
versions sign different texts, so one cannot be turned into the other.

A token proves that whoever clicks received the e-mail; it carries no personal data. The dashboard
serves `GET <public dashboard url>/ack?token=...` (see `ack_url`), checks it with `read` and records
the acknowledgement for that episode (a confirmation page with a POST button, because mail scanners
prefetch links).

In a fleet each home's links are signed with that home's own key, `home_key(secret, home id)`, and
point to the home's pages (`<dashboard>/h/<home id>/ack?token=...`). Alert ids are derived from the
incident, so two homes can have an alert of the same id: a link of one home, pasted under another
home's address, fails the signature there instead of acknowledging the other home's alert.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from hometwin.domain.errors import ExpiredAckToken, InvalidAckToken

_ALERT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_EPISODE = re.compile(r"[1-9][0-9]{0,8}")
_EXPIRY = re.compile(r"[0-9]{1,12}")  # unix seconds up to the year 9999, as `sign` writes them
_CONTEXT_V1 = b"hometwin-ack/v1"
_CONTEXT_V2 = b"hometwin-ack/v2"
MIN_SECRET_BYTES = 16
ACK_PATH = "/ack"
_HOME_CONTEXT = b"hometwin-ack-home/v1"


@dataclass(frozen=True, slots=True)
class AckTarget:
    """What a genuine token acknowledges."""

    alert_id: str
    episode: int | None  # None: a version-1 token, made before alerts had episodes
    expires_at: datetime


def _key(secret: str | bytes) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"the ack secret must be at least {MIN_SECRET_BYTES} bytes long")
    return key


def _signature(alert_id: str, episode: int | None, expires: int, key: bytes) -> str:
    if episode is None:
        parts = [_CONTEXT_V1, alert_id.encode("ascii"), str(expires).encode("ascii")]
    else:
        parts = [_CONTEXT_V2, alert_id.encode("ascii"), str(episode).encode("ascii"),
                 str(expires).encode("ascii")]
    mac = hmac.new(key, b"|".join(parts), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def home_key(secret: str | bytes, home_id: str) -> str:
    """The key signing one fleet home's links: HMAC-SHA256(secret, context|home id), hex.

    Derived rather than configured per home, so the actuation and the dashboard share one secret
    (HOMETWIN_ACK_SECRET) and still cannot confuse one home's link with another's."""
    if not home_id:
        raise ValueError("a home key needs a home id")
    mac = hmac.new(_key(secret), _HOME_CONTEXT + b"|" + home_id.encode("utf-8"), hashlib.sha256)
    return mac.hexdigest()


def sign(alert_id: str, expires_at: datetime, secret: str | bytes, *, episode: int | None = None) -> str:
    """A token acknowledging `episode` of `alert_id`, valid until `expires_at` (aware).

    Pass the episode (`Notification.episode`): without it the token is a version-1 token, which
    cannot tell one episode from the next.
    """
    if not _ALERT_ID.fullmatch(alert_id):
        raise ValueError(f"alert id {alert_id!r} is not a valid id")
    if episode is not None and (isinstance(episode, bool) or not isinstance(episode, int)
                                or not _EPISODE.fullmatch(str(episode))):
        raise ValueError(f"episode {episode!r} is not a whole number from 1 to 999999999")
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    expires = int(expires_at.timestamp())
    signature = _signature(alert_id, episode, expires, _key(secret))
    if episode is None:
        return f"{alert_id}.{expires}.{signature}"
    return f"{alert_id}.{episode}.{expires}.{signature}"


def read(token: str, secret: str | bytes, now: datetime) -> AckTarget:
    """The alert and episode of a genuine, unexpired token; raise InvalidAckToken/ExpiredAckToken otherwise."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    key = _key(secret)
    parts = token.split(".") if isinstance(token, str) and len(token) <= 256 else []
    if len(parts) == 3:
        alert_id, expires_text, given = parts
        episode_text = None
    elif len(parts) == 4:
        alert_id, episode_text, expires_text, given = parts
    else:
        raise InvalidAckToken("malformed acknowledgement token")
    if (not _ALERT_ID.fullmatch(alert_id) or not _EXPIRY.fullmatch(expires_text)
            or (episode_text is not None and not _EPISODE.fullmatch(episode_text))):
        raise InvalidAckToken("malformed acknowledgement token")
    episode = int(episode_text) if episode_text is not None else None
    expires = int(expires_text)
    expected = _signature(alert_id, episode, expires, key)
    # Constant-time comparison, so the signature cannot be guessed byte by byte from timing.
    if not hmac.compare_digest(expected.encode("ascii"), given.encode("ascii", "replace")):
        raise InvalidAckToken("the acknowledgement link is not genuine")
    expires_at = datetime.fromtimestamp(expires, UTC)
    if now.timestamp() >= expires:
        raise ExpiredAckToken(f"the acknowledgement link expired at {expires_at.isoformat()}")
    return AckTarget(alert_id, episode, expires_at)


def verify(token: str, secret: str | bytes, now: datetime) -> str:
    """The alert id of a genuine, unexpired token (see `read` for its episode)."""
    return read(token, secret, now).alert_id


def ack_url(base_url: str, token: str) -> str:
    """The link to put in the e-mail. The token is URL-safe by construction (no escaping needed)."""
    return f"{base_url.rstrip('/')}{ACK_PATH}?token={token}"
