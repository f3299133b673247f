"""A fake at the ObjectStore seam: a real store that fails on demand, for outage tests.

Why a fake: the tests switch an object-store outage on and off between two monitoring checks or
two deliveries (the property test hundreds of times), which a real server cannot do in time. The
real failure paths are covered with real servers: an S3 endpoint nobody listens on
(tests/unit/test_monitoring.py) and a filesystem store whose folder is gone (tests/unit/test_notifier.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from hometwin.adapters.memory_store import MemoryStore
from hometwin.ports import ObjectStore, StoredObject, Unavailable


class FakeOutageStore:
    """Delegates to `inner` (a real MemoryStore by default); raises Unavailable while `down`."""

    def __init__(self, inner: ObjectStore | None = None) -> None:
        self.inner: ObjectStore = inner if inner is not None else MemoryStore()
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise Unavailable("fake outage: the object store does not answer")

    def put(self, key: str, data: bytes, metadata: Mapping[str, str] | None = None,
            *, overwrite: bool = True) -> str | None:
        self._check()
        return self.inner.put(key, data, metadata, overwrite=overwrite)

    def get(self, key: str, version_id: str | None = None) -> StoredObject:
        self._check()
        return self.inner.get(key, version_id)

    def versions(self, key: str) -> list[str]:
        self._check()
        return self.inner.versions(key)

    def list(self, prefix: str) -> list[str]:
        self._check()
        return self.inner.list(prefix)
