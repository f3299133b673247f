"""The one rule by which the scheduler signs an invocation and a component checks it.

A leaf module (standard library only), imported by the scheduler (scheduler/dispatch.py signs every
delivery attempt) and by the SDK (sdk/dispatch_guard.py verifies), so both sides can never drift.

The scheduler and every component share a secret (`HOMETWIN_DISPATCH_SECRET`, or a file named by
`HOMETWIN_DISPATCH_SECRET_FILE`). Each attempt carries the header

    X-HomeTwin-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>

over these lines, joined by "\\n" (no header value or path can hold a newline, so the message is
unambiguous):

    hometwin-dispatch-v1
    <METHOD>                      upper case
    <path[?query]>                as the receiver sees it, percent-decoded; "/" when empty
    <Idempotency-Key>             the invocation id
    <X-Function-Name>
    <X-Event-Ids>
    <X-Invocation-Attempt>
    <t>                           the same value as in the header
    <hex SHA-256 of the body>     of b"" when there is none (GET, DELETE)

A receiver refuses a timestamp more than `TOLERANCE_SECONDS` away from its own clock, so a
captured request can be replayed only within that window, and there the Idempotency-Key (signed)
makes a handler that dedupes by it run once. Signing happens at send time: a retry carries a fresh
timestamp (and its own attempt number).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

SIGNATURE_HEADER = "X-HomeTwin-Signature"
VERSION = "hometwin-dispatch-v1"
TOLERANCE_SECONDS = 300  # 5 minutes: clocks of a small cluster agree far better (NTP)
MIN_SECRET_LENGTH = 32  # `openssl rand -hex 32` gives 64 characters
# The invocation headers the scheduler sends (docs/scheduler.md), all covered by the signature.
SIGNED_HEADERS = ("Idempotency-Key", "X-Function-Name", "X-Event-Ids", "X-Invocation-Attempt")
# Lower-cased words that only a template or an example holds, never a generated key.
PLACEHOLDER_WORDS = ("replace", "changeme", "change-me", "change_me", "placeholder", "example", "xxxxxxxx")
_HEADER = re.compile(r"^t=(\d{1,12}),v1=([0-9a-f]{64})$")


class SignatureError(Exception):
    """A refused invocation. `status` is what to answer: 401 when there is no signature at all,
    403 when there is one that is malformed, stale or wrong."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def check_secret(secret: str, source: str = "HOMETWIN_DISPATCH_SECRET") -> str:
    """The secret itself when it is usable; ValueError naming `source` otherwise (too short, or a
    placeholder left from a template)."""
    hint = "generate one with `openssl rand -hex 32`"
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"{source} is too short ({len(secret)} characters, at least "
                         f"{MIN_SECRET_LENGTH}): {hint}")
    lowered = secret.lower()
    if any(word in lowered for word in PLACEHOLDER_WORDS) or len(set(secret)) < 8:
        raise ValueError(f"{source} looks like a placeholder, not a random key: {hint}")
    return secret


def signed_target(url_or_path: str, query: str = "") -> str:
    """`path[?query]`, percent-decoded, from a full URL (sender) or a path and query (receiver)."""
    if "://" in url_or_path:
        parts = urlsplit(url_or_path)
        path, query = parts.path, parts.query
    else:
        path = url_or_path
    path = unquote(path) or "/"
    return f"{path}?{unquote(query)}" if query else path


@dataclass(frozen=True, slots=True)
class StampedSignature:
    """A parsed header: its timestamp and MAC."""

    timestamp: int
    mac: str


class DispatchSigner:
    """Signs (scheduler) and verifies (component) invocations with one shared secret."""

    def __init__(self, secret: str) -> None:
        self._key = check_secret(secret).encode()

    def _mac(self, method: str, target: str, headers: Mapping[str, str], timestamp: int,
             body: bytes | None) -> str:
        lower = {k.lower(): v for k, v in headers.items()}
        lines = [VERSION, method.upper(), target,
                 *(lower.get(name.lower(), "") for name in SIGNED_HEADERS),
                 str(timestamp), hashlib.sha256(body or b"").hexdigest()]
        return hmac.new(self._key, "\n".join(lines).encode(), hashlib.sha256).hexdigest()

    def sign(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None,
             now: float) -> str:
        """The header value for one attempt sent at `now` (unix seconds) to `url`."""
        timestamp = int(now)
        return f"t={timestamp},v1={self._mac(method, signed_target(url), headers, timestamp, body)}"

    @staticmethod
    def parse(header: str | None, now: float) -> StampedSignature:
        """Check the header's form and age before the body is read (SignatureError otherwise)."""
        if header is None or not header.strip():
            raise SignatureError(401, f"missing {SIGNATURE_HEADER}: invocations must come from the scheduler")
        match = _HEADER.match(header.strip())
        if match is None:
            raise SignatureError(403, f"malformed {SIGNATURE_HEADER}")
        stamped = StampedSignature(int(match.group(1)), match.group(2))
        if abs(now - stamped.timestamp) > TOLERANCE_SECONDS:
            raise SignatureError(403, f"stale {SIGNATURE_HEADER}: its timestamp is more than "
                                      f"{TOLERANCE_SECONDS} s from this component's clock")
        return stamped

    def verify(self, stamped: StampedSignature, method: str, target: str, headers: Mapping[str, str],
               body: bytes | None) -> None:
        """SignatureError(403) unless the MAC matches (compared in constant time)."""
        expected = self._mac(method, target, headers, stamped.timestamp, body)
        if not hmac.compare_digest(expected, stamped.mac):
            raise SignatureError(403, f"wrong {SIGNATURE_HEADER}: not signed with this component's "
                                      "dispatch secret, or changed on the way")

    def token_ok(self, given: str) -> bool:
        """Whether a bearer token is the secret itself (constant time)."""
        return hmac.compare_digest(given.encode(), self._key)
