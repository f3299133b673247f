"""Caregiver accounts: who may log in to the dashboard, and which homes each one sees.

Declared in a YAML file (`HOMETWIN_DASHBOARD_ACCOUNTS_FILE`, e.g. a Kubernetes Secret mount)::

    accounts:
      - name: maria                       # letters, digits, `_ . @ -`
        password_hash: "scrypt$16384$8$1$<salt>$<hash>"
        homes: [anna]                     # the homes this account sees
      - name: office
        token_sha256: "<64 hex digits>"   # a bearer token for scripts, stored as its SHA-256
        homes: all                        # a service admin: every home

Nothing secret is stored in plain text: a password as its scrypt hash (salted, memory-hard, from
the standard library), an access token as its SHA-256 (a token is random, 24+ characters: a fast
hash of it cannot be reversed by guessing). `python -m hometwin.components.dashboard.accounts`
reads a password (or makes a token) and prints the line to paste. A file problem stops the start
with a message naming the file, the account and the field, like the homes file does.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import secrets
import sys
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ACCOUNT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,62}$"
ALL_HOMES = "all"
log = logging.getLogger(__name__)
# scrypt's cost: 16 MiB and ~50 ms per try on a Raspberry Pi 4 class CPU; the login throttle does the rest.
_N, _R, _P, _LENGTH = 2**14, 8, 1, 32
_MAX_N = 2**20  # a hash in the file cannot make one login allocate more than 1 GiB


class AccountsFileError(ValueError):
    """The accounts file is unusable; the message names the file, the account and the field."""


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """`scrypt$N$r$p$<salt>$<hash>` (URL-safe base64) of a password."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=_LENGTH)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def check_password_hash(value: str) -> str:
    """The hash itself when it is a well-formed scrypt hash this module can verify, else ValueError."""
    _parse(value)
    return value


def password_matches(password: str, stored: str) -> bool:
    n, r, p, salt, digest = _parse(stored)
    given = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(digest),
                           maxmem=2 * 128 * r * (n + p + 2))
    return hmac.compare_digest(given, digest)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _parse(value: str) -> tuple[int, int, int, bytes, bytes]:
    parts = value.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("not a scrypt hash `scrypt$N$r$p$salt$hash` (make one with "
                         "`python -m hometwin.components.dashboard.accounts`)")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        raise ValueError("a scrypt hash with unreadable numbers or base64") from None
    if not (2 <= n <= _MAX_N and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16):
        raise ValueError(f"scrypt parameters N={n} r={r} p={p} are out of range (N a power of two up to {_MAX_N})")
    if len(salt) < 8 or len(digest) < 16:
        raise ValueError("a scrypt hash with a too short salt or hash")
    return n, r, p, salt, digest


class Account(BaseModel):
    """One login: its name, how it proves itself, and the homes it sees (None: all of them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=ACCOUNT_NAME)
    password_hash: str | None = None
    token_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    homes: tuple[str, ...] | None

    @field_validator("password_hash")
    @classmethod
    def _hash(cls, value: str | None) -> str | None:
        return None if value is None else check_password_hash(value)

    @field_validator("homes", mode="before")
    @classmethod
    def _homes(cls, value: Any) -> Any:
        if value == ALL_HOMES:
            return None
        if value is None or isinstance(value, str) or not value:
            raise ValueError(f"a list of home ids, or `{ALL_HOMES}` for a service admin")
        return value

    @model_validator(mode="after")
    def _has_a_secret(self) -> Account:
        if self.password_hash is None and self.token_sha256 is None:
            raise ValueError("give a password_hash, a token_sha256 or both")
        return self

    @property
    def admin(self) -> bool:
        return self.homes is None

    def sees(self, home_id: str) -> bool:
        return self.homes is None or home_id in self.homes


@dataclass(frozen=True)
class Accounts:
    """The declared accounts, by name."""

    by_name: Mapping[str, Account]

    def __iter__(self) -> Iterator[Account]:
        return iter(self.by_name.values())

    def __len__(self) -> int:
        return len(self.by_name)

    def get(self, name: str) -> Account | None:
        return self.by_name.get(name)

    def login(self, name: str, password: str) -> Account | None:
        """The account when the password is right; as slow for an unknown name as for a wrong password."""
        account = self.by_name.get(name)
        stored = account.password_hash if account is not None else None
        if stored is None:
            password_matches(password, _dummy_hash())  # the same work, so timing does not reveal names
            return None
        return account if password_matches(password, stored) else None

    def by_token(self, token: str) -> Account | None:
        given = token_digest(token)
        found = None
        for account in self.by_name.values():  # every one compared, in constant time each
            if account.token_sha256 is not None and hmac.compare_digest(given, account.token_sha256):
                found = account
        return found


@functools.cache
def _dummy_hash() -> str:
    return hash_password("no account has this password", salt=b"hometwin-dummy-salt")


def load_accounts(path: Path, home_ids: Collection[str]) -> Accounts:
    """Read and validate an accounts file against the homes this dashboard serves."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AccountsFileError(f"accounts file {path}: cannot read it: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise AccountsFileError(f"accounts file {path}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    rows = data.get("accounts") if isinstance(data, dict) else data
    if not isinstance(rows, list) or not rows:
        raise AccountsFileError(f"accounts file {path}: expected a non-empty top-level `accounts:` list")
    accounts: dict[str, Account] = {}
    for index, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise AccountsFileError(f"accounts file {path}, account #{index}: each account is a mapping")
        label = f"account {row.get('name')!r}" if row.get("name") is not None else f"account #{index}"
        try:
            account = Account.model_validate(row)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(p) for p in error["loc"]) or "account"
            raise AccountsFileError(f"accounts file {path}, {label}, field {field}: "
                                    f"{error['msg'].removeprefix('Value error, ')}") from None
        if account.name in accounts:
            raise AccountsFileError(f"accounts file {path}, {label}: declared twice")
        unknown = [h for h in account.homes or () if h not in home_ids]
        if unknown:
            raise AccountsFileError(f"accounts file {path}, {label}, field homes: no home {unknown[0]!r} "
                                    f"on this dashboard (homes: {', '.join(sorted(home_ids))})")
        accounts[account.name] = account
    return Accounts(accounts)


class AccountsFile:
    """The accounts file, read again when it changes (edited, or a Kubernetes Secret updated in
    place), so that granting or removing a caregiver's homes needs no restart. A file that no longer
    reads or validates keeps the last good accounts in force, with an error in the log: a slip while
    editing neither opens the dashboard nor locks every caregiver out."""

    def __init__(self, path: Path, home_ids: Callable[[], Collection[str]]) -> None:
        self.path = path
        self._home_ids = home_ids  # the homes served now (a fleet can gain homes through its API)
        self._lock = threading.Lock()
        self._seen = self._version()
        self._accounts = load_accounts(path, home_ids())  # at start, an error stops the dashboard

    def _version(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def current(self) -> Accounts:
        version = self._version()
        if version != self._seen:
            with self._lock:
                if version != self._seen:
                    self._seen = version
                    try:
                        self._accounts = load_accounts(self.path, self._home_ids())
                        log.info("accounts file %s read again: %d accounts", self.path, len(self._accounts))
                    except AccountsFileError as exc:
                        log.error("%s; the accounts read before stay in force until it is fixed", exc)
        return self._accounts


def main(argv: list[str] | None = None) -> int:
    """Print the `password_hash:` line for a password read from stdin, or with `--token` a new
    token and its `token_sha256:` line."""
    from hometwin.config import weak_secret

    args = sys.argv[1:] if argv is None else argv
    if args == ["--token"]:
        token = secrets.token_urlsafe(32)
        print(f"token (give it to the account's owner, keep it nowhere else): {token}")
        print(f'token_sha256: "{token_digest(token)}"')
        return 0
    if args:
        print("usage: python -m hometwin.components.dashboard.accounts [--token] < password", file=sys.stderr)
        return 2
    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass("password: ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    problem = weak_secret(password, 15)
    if problem:
        print(f"the password {problem}", file=sys.stderr)
        return 2
    print(f'password_hash: "{hash_password(password)}"')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
