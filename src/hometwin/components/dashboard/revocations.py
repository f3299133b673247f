"""Logged-out sessions, so that a session cookie copied before a logout opens nothing afterwards.

The session cookie is signed, not stored: on its own it would stay valid until it expires. So a
logout records the session's nonce here until the moment the session would have expired anyway,
and the gate refuses recorded sessions.

Across a restart: with a configured session key (`HOMETWIN_DASHBOARD_SESSION_SECRET`; without one
every session dies with the process anyway) the record lives in a small JSON file in the data
directory, written atomically on each logout. It also holds `not_before`, the time from which the
record is complete; sessions issued before that are refused, since their logout may be missing. So:
- file kept (same data directory): logins survive a restart and logged-out sessions stay logged out;
- file lost or unreadable (a new pod with an empty /tmp, a broken disk): everyone logs in again,
  which is safe; the same happens anyway without a configured session secret;
- file not writable: kept in memory with a warning; a restart then logs everyone out.

Bounded: entries leave when their session would have expired; should more than `limit` live
sessions ever be logged out within one session lifetime, everyone is logged out (`not_before`
moves to now) instead of forgetting a logout.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from hometwin.atomic_file import write_atomically

log = logging.getLogger(__name__)


class RevokedSessions:
    def __init__(self, path: Path | None, *, limit: int = 10_000, now: float | None = None) -> None:
        self._path = path
        self._limit = limit
        self._revoked: dict[str, float] = {}  # nonce -> when that session expires
        self.not_before = time.time() if now is None else now
        if path is not None and self._load(path):
            return
        self._save()

    def revoked(self, nonce: str, issued: float) -> bool:
        return issued < self.not_before or nonce in self._revoked

    def revoke(self, nonce: str, expires: float, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self._revoked = {n: e for n, e in self._revoked.items() if e > now}
        if expires > now:
            self._revoked[nonce] = expires
        if len(self._revoked) > self._limit:
            log.warning("more than %d dashboard sessions logged out within a session lifetime: "
                        "logging everyone out", self._limit)
            self.not_before, self._revoked = now, {}
        self._save()

    def _load(self, path: Path) -> bool:
        """Adopt the stored record; False when there is none to trust (then everyone logs in again)."""
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
            not_before = float(data["not_before"])
            revoked = {str(nonce): float(expires) for nonce, expires in data["revoked"].items()}
        except FileNotFoundError:
            return False
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("the record of dashboard logouts %s is unreadable (%s): everyone logs in again",
                        path, exc)
            return False
        self.not_before, self._revoked = not_before, revoked
        return True

    def _save(self) -> None:
        if self._path is None:
            return
        body = json.dumps({"not_before": self.not_before, "revoked": self._revoked})
        try:
            write_atomically(self._path, body.encode("utf-8"))
        except OSError as exc:
            log.warning("cannot write the record of dashboard logouts to %s (%s): it is kept in memory, "
                        "so a restart logs everyone out", self._path, exc)
            self._path = None
