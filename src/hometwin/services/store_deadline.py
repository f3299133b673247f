"""An ObjectStore whose calls give up after a deadline, for the monitoring's check and the e-mail send.

Why: a store that hangs (accepts the connection, never answers) makes each S3 call wait the
client's timeout (`HOMETWIN_S3_TIMEOUT_SECONDS`, 30 s) times its retries, minutes per check, while
the check holds the emergency it found. Behind this wrapper a call that has not answered within
`deadline` seconds (`HOMETWIN_S3_WAIT_SECONDS`) raises `Unavailable` (the monitoring then goes on
with the model and the book it holds, and its local copy; the actuation sends without the
exactly-once check, as with a store that refuses); the call itself goes on in its own thread until the client
gives up. While it does, the store counts as hanging: later calls fail at once instead of
stacking one thread per call behind it, so a hanging store holds one thread per wrapper at most.

Calls of several threads run side by side as without the wrapper; after one timed out, none starts
until it has ended, so a late write never overtakes a later one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import TypeVar

from hometwin.ports import ObjectStore, StoredObject, Unavailable

T = TypeVar("T")


def remote(store: ObjectStore) -> bool:
    """A store elsewhere on the network (S3), not on this machine's disk or in its memory."""
    from hometwin.adapters.filesystem import FileSystemStore
    from hometwin.adapters.memory_store import MemoryStore

    return not isinstance(store, (MemoryStore, FileSystemStore))


def bounded(store: ObjectStore, deadline: float) -> ObjectStore:
    """`store` behind a deadline if it is remote; an embedded store as it is (nothing to hang on)."""
    return DeadlineStore(store, deadline) if remote(store) else store


class DeadlineStore:
    """Delegates to `inner`; raises Unavailable when a call takes longer than `deadline` seconds."""

    def __init__(self, inner: ObjectStore, deadline: float) -> None:
        if deadline <= 0:
            raise ValueError(f"the store deadline must be positive, got {deadline!r}")
        self.inner, self.deadline = inner, deadline
        self._lock = threading.Lock()
        self._hanging: tuple[Future[object], str, float] | None = None  # the call still running, what, since

    def put(self, key: str, data: bytes, metadata: Mapping[str, str] | None = None,
            *, overwrite: bool = True) -> str | None:
        return self._run(f"put {key}", lambda: self.inner.put(key, data, metadata, overwrite=overwrite))

    def get(self, key: str, version_id: str | None = None) -> StoredObject:
        return self._run(f"get {key}", lambda: self.inner.get(key, version_id))

    def versions(self, key: str) -> list[str]:
        return self._run(f"versions of {key}", lambda: self.inner.versions(key))

    def list(self, prefix: str) -> list[str]:
        return self._run(f"list {prefix}", lambda: self.inner.list(prefix))

    @property
    def hanging(self) -> bool:
        """A call that timed out is still waiting for the store."""
        with self._lock:
            return self._hanging is not None and not self._hanging[0].done()

    def _run(self, what: str, call: Callable[[], T]) -> T:
        with self._lock:
            if self._hanging is not None:
                future, earlier, since = self._hanging
                if not future.done():
                    raise Unavailable(f"{self.inner!r} has not answered {earlier} for "
                                      f"{time.monotonic() - since:.0f} s")
                self._hanging = None
        done: Future[T] = Future()
        threading.Thread(target=_settle, args=(done, call), name="hometwin-store-call", daemon=True).start()
        try:
            return done.result(timeout=self.deadline)
        except TimeoutError:
            with self._lock:
                if self._hanging is None or self._hanging[0].done():
                    self._hanging = (done, what, time.monotonic())  # type: ignore[assignment]  # any result
            raise Unavailable(f"{self.inner!r} did not answer {what} within {self.deadline:g} s "
                              "(it hangs; the call goes on in the background)") from None

    def __repr__(self) -> str:
        return f"DeadlineStore({self.inner!r}, {self.deadline:g} s)"


def _settle(future: Future[T], call: Callable[[], T]) -> None:
    try:
        future.set_result(call())
    except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller, who raises it
        future.set_exception(exc)
