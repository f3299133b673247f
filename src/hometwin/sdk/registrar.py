"""Keeps a gateway's functions registered with the scheduler, whatever the order of start-ups.

A background task (started in the gateway's lifespan) registers every deployed function, retrying
with capped exponential backoff until the scheduler answers, then checks `GET /api/status` every
`status_interval` seconds and registers again any function the scheduler no longer lists (it was
restarted with empty state, or someone deleted the function). sifec_base registered once, at
import time, and gave up after five quick retries.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from hometwin.sdk.address import CallbackBase
from hometwin.sdk.errors import RegistrationRefused, SchedulerUnavailable
from hometwin.sdk.log import child
from hometwin.sdk.retry import Backoff, retryable_status
from hometwin.sdk.settings import SdkSettings

log = child("gateway")


@dataclass(frozen=True, slots=True)
class Registration:
    name: str
    subs: tuple[str, ...]
    path: str
    method: str

    def body(self, base: CallbackBase) -> dict[str, Any]:
        return {"name": self.name, "subs": list(self.subs), "url": f"{base.url}{self.path}",
                "method": self.method}






def known_functions(payload: Any) -> dict[str, Any]:
    """Function name -> entry from a `/api/status` answer (a list of functions, or a mapping of them,
    possibly under a "functions" key)."""
    if isinstance(payload, dict) and "functions" in payload:
        payload = payload["functions"]
    if isinstance(payload, dict):
        return {str(name): entry for name, entry in payload.items()}
    if isinstance(payload, list):
        return {str(entry["name"]): entry for entry in payload if isinstance(entry, dict) and "name" in entry}
    return {}


class Registrar:
    def __init__(self, settings: SdkSettings, base: CallbackBase) -> None:
        assert settings.scheduler_url is not None
        self.settings = settings
        self.base = base
        self.scheduler = settings.scheduler_url
        self._registrations: dict[str, Registration] = {}
        self._confirmed: set[str] = set()
        self._lock = threading.Lock()  # deploy() may run in a worker thread of a sync handler
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._status_supported = True

    # -- called by the gateway ----------------------------------------------------------------
    def add(self, registration: Registration) -> None:
        with self._lock:
            self._registrations[registration.name] = registration
            self._confirmed.discard(registration.name)
        self._poke()

    def registered(self) -> set[str]:
        """Names the scheduler has confirmed (and not been seen forgetting since)."""
        with self._lock:
            return set(self._confirmed)

    def pending(self) -> set[str]:
        with self._lock:
            return set(self._registrations) - self._confirmed

    async def run(self) -> None:
        """Register, then watch; runs until cancelled."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        delays = Backoff(self.settings.backoff_initial, self.settings.backoff_max).delays()
        failures = 0
        async with httpx.AsyncClient(timeout=self.settings.http_timeout, verify=self.settings.verify_tls) as client:
            while True:
                self._wake.clear()
                try:
                    await self._register_pending(client)
                    if not self.pending():
                        await self._check_status(client)
                    wait = 0.0 if self.pending() else self.settings.status_interval
                except SchedulerUnavailable as exc:
                    failures += 1
                    wait = next(delays)
                    level = log.warning if failures == 1 or failures % 10 == 0 else log.debug
                    level("scheduler %s unavailable (%s); %d function(s) waiting, retry %d in %.1f s",
                          self.scheduler, exc, len(self.pending()), failures, wait)
                    unavailable = True
                except RegistrationRefused:
                    wait = self.settings.status_interval
                    unavailable = False
                except Exception:  # noqa: BLE001 - the watcher must outlive any surprise
                    log.exception("unexpected error while registering with %s", self.scheduler)
                    wait = self.settings.status_interval
                    unavailable = True
                else:
                    unavailable = False
                if not unavailable and failures:
                    log.info("scheduler %s answers again after %d failed attempt(s)",
                             self.scheduler, failures)
                    failures = 0
                    delays = Backoff(self.settings.backoff_initial, self.settings.backoff_max).delays()
                if wait:
                    try:
                        await asyncio.wait_for(self._wake.wait(), timeout=wait)
                    except TimeoutError:
                        pass

    # -- internals ------------------------------------------------------------------------------
    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set()
        else:
            loop.call_soon_threadsafe(wake.set)

    async def _request(self, client: httpx.AsyncClient, method: str, path: str,
                       **kwargs: Any) -> httpx.Response:
        try:
            # Headers per request: a token file may be rotated while the component runs.
            response = await client.request(method, f"{self.scheduler}{path}", headers=self.settings.headers(),
                                            **kwargs)
        except httpx.TransportError as exc:
            raise SchedulerUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if retryable_status(response.status_code):
            raise SchedulerUnavailable(f"HTTP {response.status_code} from {path}")
        return response

    async def _register_pending(self, client: httpx.AsyncClient) -> None:
        with self._lock:
            todo: Iterable[Registration] = [
                r for n, r in self._registrations.items() if n not in self._confirmed]
        refused = []
        for registration in todo:
            body = registration.body(self.base)
            response = await self._request(client, "POST", "/api/function", json=body)
            with self._lock:
                current = self._registrations.get(registration.name) == registration
                if response.is_success and current:
                    self._confirmed.add(registration.name)
            if response.is_success:
                log.info("registered function %s (subs %s) at %s with %s",
                         registration.name, list(registration.subs), body["url"], self.scheduler)
            else:
                # A refusal (bad token, invalid body) will not heal by itself; say so loudly and
                # try again at the status interval in case the scheduler's configuration changes.
                log.error("the scheduler refused function %s with %d: %s", registration.name,
                          response.status_code, response.text[:300])
                refused.append(registration.name)
        if refused:
            raise RegistrationRefused(", ".join(refused))

    async def _check_status(self, client: httpx.AsyncClient) -> None:
        if not self._status_supported:
            return
        response = await self._request(client, "GET", "/api/status")
        if response.status_code == 404:
            log.warning("the scheduler has no /api/status; re-registration after its restarts is off")
            self._status_supported = False
            return
        if not response.is_success:
            raise SchedulerUnavailable(f"HTTP {response.status_code} from /api/status")
        try:
            functions = known_functions(response.json())
        except ValueError as exc:
            raise SchedulerUnavailable(f"unreadable /api/status: {exc}") from exc
        with self._lock:
            for name in list(self._confirmed):
                entry = functions.get(name)
                if entry is None:
                    log.warning("the scheduler no longer knows function %s (restarted?); registering again",
                                name)
                    self._confirmed.discard(name)
                elif difference := self._differs(name, entry):
                    # Someone registered our name elsewhere (another URL would receive our
                    # invocations, and with them a person's alerts): take the function back.
                    log.warning("the scheduler has function %s with %s; registering again", name, difference)
                    self._confirmed.discard(name)

    def _differs(self, name: str, entry: Any) -> str | None:
        """What the scheduler's entry has other than our registration (None: the same, or unknown)."""
        if not isinstance(entry, dict):
            return None
        ours = self._registrations[name].body(self.base)
        subs, url, method = entry.get("subs"), entry.get("url"), entry.get("method")
        if isinstance(subs, list) and sorted(subs) != sorted(ours["subs"]):
            return f"subs {subs}, ours are {ours['subs']}"
        if isinstance(url, str) and _with_scheme(url) != _with_scheme(ours["url"]):
            return f"URL {url}, ours is {ours['url']}"
        if isinstance(method, str) and method.upper() != ours["method"].upper():
            return f"method {method}, ours is {ours['method']}"
        return None


def _with_scheme(url: str) -> str:
    """The scheduler accepts `host:port/path` and calls it over http://, so compare it that way."""
    url = url.strip()
    return url if "://" in url else f"http://{url}"
