"""Leases on sending one e-mail, so that two actuation processes never send the same one together.

A rolling update runs the old and the new actuation side by side, and both retry the shared outbox.
Before an attempt to send notification `<id>`, a process claims it in the state store:

    state/<home>/mail/lease/<id>/<attempt>.json            write-once: {owner, attempt, claimed_at, expires_at}
    state/<home>/mail/lease/<id>/<attempt>.released.json   write-once: the attempt failed, the next may start

Attempt n+1 may be claimed only once attempt n was released (its send failed) or has expired
(its owner died or hung). Claims are write-once puts (`overwrite=False`), which every store refuses
to repeat (memory, file, S3 via If-None-Match), so of two processes claiming the same attempt
exactly one wins. Nothing is ever deleted: a lease object is a few hundred bytes per attempt.

The lease must outlive the longest send: `HOMETWIN_MAIL_LEASE_SECONDS` (default 120), checked to
be several times the SMTP timeout. Process clocks are assumed to agree within a few seconds.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from hometwin.ports import AlreadyExists, NotFound, ObjectStore

_ATTEMPT = re.compile(r"^(\d{6})(\.released)?\.json$")


@dataclass(frozen=True, slots=True)
class Lease:
    message_id: str
    attempt: int
    owner: str
    expires_at: datetime


def process_owner() -> str:
    """Who holds a lease: host (the pod's name on Kubernetes), process id and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class SendLeases:
    """Claims and releases send attempts under `prefix` (`state/<home>/mail/`) of `store`.

    Store failures raise PortError: the caller decides what to do without the lease.
    """

    def __init__(self, store: ObjectStore, prefix: str, *, ttl: timedelta, clock: Callable[[], datetime],
                 owner: str | None = None) -> None:
        if ttl <= timedelta(0):
            raise ValueError("a send lease must last a positive time")
        self.store, self.prefix, self.ttl, self.clock = store, prefix, ttl, clock
        self.owner = owner or process_owner()

    def claim(self, message_id: str) -> Lease | None:
        """The next attempt for this process, or None while another process holds the current one."""
        folder = f"{self.prefix}lease/{message_id}/"
        attempts: dict[int, bool] = {}  # attempt -> released
        for key in self.store.list(folder):
            match = _ATTEMPT.match(key[len(folder):])
            if match:
                number = int(match.group(1))
                attempts[number] = attempts.get(number, False) or bool(match.group(2))
        now = self.clock()
        latest = max(attempts, default=0)
        if latest and not attempts[latest] and now < self._expiry(folder, latest):
            return None
        lease = Lease(message_id, latest + 1, self.owner, now + self.ttl)
        document = {"owner": lease.owner, "attempt": lease.attempt, "claimed_at": now.isoformat(),
                    "expires_at": lease.expires_at.isoformat()}
        try:
            self.store.put(f"{folder}{lease.attempt:06d}.json", json.dumps(document).encode("utf-8"),
                           {"content-type": "application/json"}, overwrite=False)
        except AlreadyExists:
            return None  # another process claimed this attempt a moment ago
        return lease

    def release(self, lease: Lease) -> None:
        """The attempt failed: any process may claim the next one now, without waiting for expiry."""
        key = f"{self.prefix}lease/{lease.message_id}/{lease.attempt:06d}.released.json"
        document = {"owner": lease.owner, "released_at": self.clock().isoformat()}
        try:
            self.store.put(key, json.dumps(document).encode("utf-8"), {"content-type": "application/json"},
                           overwrite=False)
        except AlreadyExists:
            pass

    def _expiry(self, folder: str, attempt: int) -> datetime:
        try:
            document = json.loads(self.store.get(f"{folder}{attempt:06d}.json").data)
            return datetime.fromisoformat(document["expires_at"])
        except NotFound:
            return self.clock()  # listed but not readable yet: treat as expired, the put decides
        except (ValueError, KeyError, TypeError):
            return self.clock()  # an unreadable lease protects nothing; claim the next attempt
