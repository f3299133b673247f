"""How many wrong secrets a client, and all clients together, may try before they must wait.

Rules (docs/dashboard.md, "Login and security"):
- one client may fail `per_client` times within a sliding window of `window_s`; after that every
  secret it presents (login form or bearer header) is answered 429 with `Retry-After` until its
  oldest failure leaves the window. A client is an IPv4 address, or an IPv6 /64 (one household
  gets a whole /64, so its addresses are one client);
- all clients together may fail `overall` times within the window; beyond that every new login
  waits too. This is what stops a guesser with many addresses; sessions already logged in, and
  the signed e-mail acknowledge links, keep working;
- a successful login forgets that client's failures (not the global count), so one client's
  failures never lock another client out below the global limit.

Failures are recorded before the one-second wait of a wrong login, so a burst of parallel
guesses is counted at once. Memory is bounded: each client keeps at most `per_client`
timestamps, the global count at most `overall`, and at most `max_clients` clients are
remembered. Beyond that the one that failed least recently is forgotten first; such a client
comes back with a clean slate, which the global limit covers.

A small sliding-window counter rather than a library: `limits` would count, but the bounded
client table, "a success forgives the client" and the Retry-After arithmetic would still be
ours, for more lines of glue than this whole module and one more dependency.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class LoginThrottle:
    def __init__(self, *, per_client: int, overall: int, window_s: float, max_clients: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if min(per_client, overall, max_clients) < 1 or window_s <= 0:
            raise ValueError("login limits and the window must be positive")
        self.per_client = per_client
        self.overall = overall
        self.window_s = window_s
        self.max_clients = max_clients
        self._clock = clock
        # Ordered by each client's latest failure, oldest first: expiry and eviction pop the front.
        self._clients: OrderedDict[str, deque[float]] = OrderedDict()
        self._all: deque[float] = deque(maxlen=overall)

    def retry_after(self, client: str) -> int:
        """Whole seconds until `client` may present a secret again (0: now)."""
        now = self._clock()
        self._expire(now)
        waits = [0.0]
        failures = self._clients.get(client)
        if failures is not None:
            _drop_before(failures, now - self.window_s)
        if failures and len(failures) >= self.per_client:
            waits.append(failures[0] + self.window_s - now)
        if len(self._all) >= self.overall:
            waits.append(self._all[0] + self.window_s - now)
        wait = max(waits)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, client: str) -> None:
        now = self._clock()
        self._expire(now)
        failures = self._clients.pop(client, None) or deque(maxlen=self.per_client)
        _drop_before(failures, now - self.window_s)
        failures.append(now)
        self._clients[client] = failures
        while len(self._clients) > self.max_clients:
            self._clients.popitem(last=False)
        self._all.append(now)

    def succeeded(self, client: str) -> None:
        self._clients.pop(client, None)

    @property
    def clients_remembered(self) -> int:
        return len(self._clients)

    def _expire(self, now: float) -> None:
        horizon = now - self.window_s
        _drop_before(self._all, horizon)
        while self._clients:
            oldest_client, failures = next(iter(self._clients.items()))
            if failures[-1] > horizon:
                break
            del self._clients[oldest_client]


def _drop_before(times: deque[float], horizon: float) -> None:
    while times and times[0] <= horizon:
        times.popleft()


def client_key(host: str | None) -> str:
    """Who a request comes from, as the throttle counts clients (see the module docstring)."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
