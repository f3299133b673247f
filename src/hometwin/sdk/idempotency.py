"""Run a handler once per invocation, even when the scheduler delivers it twice.

The scheduler delivers at least once and marks each invocation with an `Idempotency-Key` header.
`IdempotencyGuard` remembers the keys of completed invocations, with their result, in a memory:
`InMemoryIdempotency` (bounded, per process) or `ObjectStoreIdempotency` (any object with the
ObjectStore `put`/`get` methods, e.g. `hometwin.adapters.stores.open_object_store(...)`, so the
memory survives restarts and is shared by replicas).

Rules: a key is remembered only after the handler succeeded (a failure is retried and runs again);
duplicates arriving while the first run is in flight wait for it in this process; a duplicate gets
the first run's (JSON-encoded) result back. Requests without the header simply run.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from starlette.concurrency import run_in_threadpool

from hometwin.sdk.invocation import IDEMPOTENCY_HEADER
from hometwin.sdk.log import child

log = child("idempotency")


class IdempotencyMemory(Protocol):
    def recall(self, key: str) -> dict[str, Any] | None:
        """The record of a completed invocation, or None."""

    def remember(self, key: str, record: dict[str, Any]) -> None:
        """Store the record of a completed invocation."""


class InMemoryIdempotency:
    """The newest `max_entries` keys of this process."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._records: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def recall(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            return self._records.get(key)

    def remember(self, key: str, record: dict[str, Any]) -> None:
        with self._lock:
            self._records[key] = record
            self._records.move_to_end(key)
            while len(self._records) > self.max_entries:
                self._records.popitem(last=False)


_SAFE_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")


class ObjectStoreIdempotency:
    """Records as JSON objects `<prefix><key>.json` in an object store (duck-typed put/get)."""

    def __init__(self, store: Any, prefix: str = "idempotency/") -> None:
        for method in ("put", "get"):
            if not callable(getattr(store, method, None)):
                raise TypeError(f"{store!r} has no {method}() method: pass an ObjectStore")
        self.store = store
        self.prefix = prefix
        # Resolved here, not at import: the SDK itself stands alone; only this memory needs the port.
        from hometwin.ports import NotFound

        self._not_found: type[Exception] = NotFound

    def object_key(self, key: str) -> str:
        name = key if _SAFE_KEY.fullmatch(key) else hashlib.sha256(key.encode()).hexdigest()
        return f"{self.prefix}{name}.json"

    def recall(self, key: str) -> dict[str, Any] | None:
        try:
            stored = self.store.get(self.object_key(key))
        except self._not_found:
            return None
        record: dict[str, Any] = json.loads(stored.data)
        return record

    def remember(self, key: str, record: dict[str, Any]) -> None:
        self.store.put(self.object_key(key), json.dumps(record).encode(),
                       {"content-type": "application/json"})


class IdempotencyGuard:
    """`await guard.run(key, fn)`, or `@guard.once` on a FastAPI handler."""

    def __init__(self, memory: IdempotencyMemory | None = None) -> None:
        self.memory: IdempotencyMemory = memory or InMemoryIdempotency()
        self._recent = InMemoryIdempotency(1_000)  # also answers when the durable memory is down
        self._locks: dict[str, asyncio.Lock] = {}

    async def run(self, key: str | None, fn: Callable[[], Awaitable[Any]]) -> Any:
        if not key:
            return await fn()
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                record = self._recent.recall(key) or await asyncio.to_thread(self.memory.recall, key)
                if record is not None:
                    log.info("invocation %s already handled at %s; not running it again",
                             key, record.get("completed_at"))
                    return record.get("result")
                result = await fn()
                record = {"key": key, "completed_at": datetime.now(UTC).isoformat(),
                          "result": _jsonable(result)}
                self._recent.remember(key, record)
                try:
                    await asyncio.to_thread(self.memory.remember, key, record)
                except Exception:  # noqa: BLE001 - the work is done; a retry must not redo it here
                    log.exception("could not store idempotency record of %s; kept in memory only", key)
                return result
        finally:
            if not lock.locked():
                self._locks.pop(key, None)

    def once(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap a FastAPI handler so each Idempotency-Key runs it once (keeps its name for deploy)."""
        signature = inspect.signature(handler, eval_str=True)
        if "_idempotency_request" in signature.parameters:
            raise TypeError(f"{handler.__name__} is already guarded")
        is_async = inspect.iscoroutinefunction(handler)

        @functools.wraps(handler)
        async def guarded(*args: Any, _idempotency_request: Request, **kwargs: Any) -> Any:
            async def call() -> Any:
                if is_async:
                    return await handler(*args, **kwargs)
                return await run_in_threadpool(handler, *args, **kwargs)

            return await self.run(_idempotency_request.headers.get(IDEMPOTENCY_HEADER), call)

        extra = inspect.Parameter("_idempotency_request", inspect.Parameter.KEYWORD_ONLY, annotation=Request)
        params = list(signature.parameters.values())
        if params and params[-1].kind is inspect.Parameter.VAR_KEYWORD:
            params.insert(len(params) - 1, extra)
        else:
            params.append(extra)
        guarded.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        return guarded


def _jsonable(result: Any) -> Any:
    try:
        encoded = jsonable_encoder(result)
        json.dumps(encoded)
        return encoded
    except (TypeError, ValueError):
        return None
