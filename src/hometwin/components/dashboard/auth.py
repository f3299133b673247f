"""Who may look and who may act: token or password login, a signed session cookie, CSRF tokens.

The dashboard shows health data, so when a token or a password is configured *every* page and
API call needs it (not only the mutating ones). Without either the dashboard is open, which is
meant for the demo on 127.0.0.1.

The session cookie is `base64(json).hmac` signed with the session key; it carries no secret,
only who logged in, a random nonce, when it was issued and the expiry. Forms carry a CSRF token
derived from the nonce, so another site cannot make a logged-in browser acknowledge an alert.
A logout records the nonce server-side (revocations.py), so a copied cookie dies with it; wrong
secrets are counted per client and overall (login_throttle.py).

The cookie is `Secure` unless the page is served on localhost, judged per request from its scheme
and host. Uvicorn rewrites the scheme from `X-Forwarded-Proto` only for the proxies it trusts
(`FORWARDED_ALLOW_IPS`, by default 127.0.0.1), and we read no forwarding header ourselves: behind
a TLS ingress the host is a public name, so the flag is on without trusting anyone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Request, Response

from .accounts import Account, Accounts, AccountsFile
from .login_throttle import LoginThrottle, client_key
from .revocations import RevokedSessions

log = logging.getLogger(__name__)

COOKIE = "hometwin_session"
ANONYMOUS = ""
ACCOUNT = "account:"  # a session user of a caregiver account is "account:<name>"
SERVICE = object()  # the login of the service's own token or password: every home


@dataclass(frozen=True, slots=True)
class Session:
    user: str  # ANONYMOUS when nobody logged in
    nonce: str
    expires: float
    issued: float = 0.0  # cookies from before this field count as issued at the epoch

    @property
    def logged_in(self) -> bool:
        return self.user != ANONYMOUS


class SessionSigner:
    """Issues and reads signed session cookies; the key never leaves the process."""

    def __init__(self, key: bytes, max_age_s: float) -> None:
        if len(key) < 16:
            raise ValueError("the session key must be at least 16 bytes long")
        self._key = key
        self.max_age_s = max_age_s

    def _mac(self, payload: bytes) -> str:
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest()

    def new(self, user: str = ANONYMOUS, now: float | None = None) -> Session:
        now = time.time() if now is None else now
        return Session(user, secrets.token_urlsafe(16), now + self.max_age_s, now)

    def dump(self, session: Session) -> str:
        payload = base64.urlsafe_b64encode(
            json.dumps({"u": session.user, "n": session.nonce, "e": session.expires,
                        "i": session.issued}).encode()).decode()
        return f"{payload}.{self._mac(payload.encode())}"

    def load(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session in a cookie, or None when missing, tampered with or expired."""
        if not cookie or "." not in cookie:
            return None
        payload, mac = cookie.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac(payload.encode())):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload.encode()))
            session = Session(str(data["u"]), str(data["n"]), float(data["e"]), float(data.get("i", 0.0)))
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires < (time.time() if now is None else now):
            return None
        return session

    def csrf(self, session: Session) -> str:
        return self._mac(f"csrf:{session.nonce}".encode())[:32]

    def csrf_ok(self, session: Session | None, given: str | None) -> bool:
        return session is not None and bool(given) and hmac.compare_digest(self.csrf(session), given or "")


class Gate:
    """The access rules: which secrets open the dashboard, and checks on a request."""

    def __init__(self, signer: SessionSigner, *, token: str | None, password: str | None,
                 revoked: RevokedSessions, throttle: LoginThrottle, secure_cookie: bool | None = None,
                 accounts: Accounts | AccountsFile | None = None) -> None:
        self.signer = signer
        self._token = token
        self._password = password
        self._accounts = accounts
        self.secure_cookie = secure_cookie  # None: decided per request (cookie_secure)
        self.revoked = revoked
        self.throttle = throttle
        self._warned_plain_http = False

    @property
    def accounts(self) -> Accounts | None:
        """The accounts in force (None: none declared; the token and the password see every home)."""
        found = self._accounts.current() if isinstance(self._accounts, AccountsFile) else self._accounts
        return found if found else None

    @property
    def required(self) -> bool:
        return bool(self._token or self._password or self.accounts)

    @property
    def method(self) -> str:
        """What the login page asks for."""
        if self.accounts:
            return "password" + (" or access token" if self._token else "")
        if self._token and self._password:
            return "password or access token"
        return "access token" if self._token else "password"

    def login(self, secret: str, account: str = "") -> str | None:
        """The user name a correct secret logs in as, else None (compared in constant time).

        With an account name, that account's password; without, the service's own password or token."""
        if account:
            found = self.accounts.login(account, secret) if self.accounts else None
            return ACCOUNT + found.name if found is not None else None
        given = secret.encode()
        if self._password and hmac.compare_digest(given, self._password.encode()):
            return "caregiver"
        if self._token and hmac.compare_digest(given, self._token.encode()):
            return "token"
        return None

    def bearer_ok(self, request: Request) -> bool:
        return self.bearer_user(request) is not None

    def bearer_user(self, request: Request) -> str | None:
        """Who the `Authorization: Bearer` token belongs to: "token" (the service's), an account, or None."""
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        given = value.strip()
        if self._token and hmac.compare_digest(given.encode(), self._token.encode()):
            return "token"
        found = self.accounts.by_token(given) if self.accounts and given else None
        return ACCOUNT + found.name if found is not None else None

    def user(self, request: Request) -> str | None:
        """Who makes the request (bearer first, then the session); None when nobody logged in."""
        bearer = self.bearer_user(request)
        if bearer is not None:
            return bearer
        session = self.session(request)
        if session is None or not session.logged_in:
            return None
        if session.user.startswith(ACCOUNT) and (
                self.accounts is None or self.accounts.get(session.user.removeprefix(ACCOUNT)) is None):
            return None  # the account was removed from the file since it logged in
        return session.user

    def sees(self, request: Request, home_id: str) -> bool:
        """May this request see this home? Without a login required, and for the service's own
        token and password, every home; an account only its own."""
        if not self.required:
            return True
        login = self._login(request)
        return login is SERVICE or (isinstance(login, Account) and login.sees(home_id))

    def _login(self, request: Request) -> Account | object | None:
        """Who is logged in: SERVICE (the service's own token or password), an account, or nobody."""
        user = self.user(request)
        if user is None:
            return None
        if not user.startswith(ACCOUNT):
            return SERVICE
        return self.accounts.get(user.removeprefix(ACCOUNT)) if self.accounts else None

    def session(self, request: Request) -> Session | None:
        """The request's session, unless it is missing, forged, expired or logged out."""
        session = self.signer.load(request.cookies.get(COOKIE))
        if session is None or self.revoked.revoked(session.nonce, session.issued):
            return None
        return session

    def end(self, session: Session) -> None:
        """Logout: this session's cookie opens nothing any more, even if a copy of it exists."""
        self.revoked.revoke(session.nonce, session.expires)

    @staticmethod
    def client(request: Request) -> str:
        """Who is guessing, as the login throttle counts (uvicorn's view of the peer address)."""
        return client_key(request.client.host if request.client else None)

    def admin(self, request: Request) -> bool:
        """A service admin: the service's own token or password, or an account with `homes: all`."""
        login = self._login(request)
        return login is SERVICE or (isinstance(login, Account) and login.admin)

    def allowed(self, request: Request) -> bool:
        """May this request see the dashboard?"""
        return not self.required or self.user(request) is not None

    def who(self, request: Request) -> str:
        """The name recorded with an acknowledgement."""
        user = self.user(request)
        return "dashboard" if user is None else f"dashboard ({user.removeprefix(ACCOUNT)})"

    def may_mutate_api(self, request: Request) -> bool:
        """JSON API writes: the bearer token, or the session's CSRF token in `X-CSRF-Token`.

        Without configured secrets a JSON body is enough, since a browser cannot send
        `application/json` to another site without a CORS preflight, which we never grant.
        """
        if not self.allowed(request):
            return False
        if self.bearer_ok(request):
            return True
        if self.signer.csrf_ok(self.session(request), request.headers.get("x-csrf-token")):
            return True
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        return not self.required and content_type == "application/json"

    def cookie_secure(self, request: Request | None) -> bool:
        """Whether the cookie gets the Secure flag: the setting, else on unless served on localhost."""
        if self.secure_cookie is not None:
            return self.secure_cookie
        if request is None:
            return True
        return request.url.scheme == "https" or not served_on_localhost(request.url.hostname)

    def set_cookie(self, response: Response, session: Session, request: Request | None = None) -> None:
        secure = self.cookie_secure(request)
        if secure and session.logged_in and request is not None and request.url.scheme != "https" and (
                not self._warned_plain_http):
            # Behind a TLS proxy that uvicorn does not trust this is fine; on plain HTTP the browser
            # drops the cookie and the login seems to do nothing, so say why once.
            self._warned_plain_http = True
            log.warning("a login reached the dashboard as http://%s: unless a TLS proxy is in front, the "
                        "browser drops the Secure session cookie. Serve the dashboard with TLS, or on a "
                        "trusted home network set HOMETWIN_DASHBOARD_SECURE_COOKIE=false", request.url.hostname)
        response.set_cookie(COOKIE, self.signer.dump(session), max_age=int(self.signer.max_age_s), path="/",
                            httponly=True, samesite="lax", secure=secure)

    def delete_cookie(self, response: Response, request: Request) -> None:
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=self.cookie_secure(request))


def served_on_localhost(host: str | None) -> bool:
    """A loopback name or address: only this machine can see the traffic."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def safe_next(target: str | None) -> str:
    """Only redirect to a path on this site after login (no open redirect)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target
