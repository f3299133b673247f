"""`memory://` ObjectStore: the same semantics as the others, in a dict, for tests and demos.

`memory://` gives a fresh store; `memory://name` gives the one store of that name in this process,
so two parts of one process (say the dashboard and the monitoring in a test) can share it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import ClassVar

from hometwin.adapters.object_keys import check_key, check_metadata
from hometwin.ports import AlreadyExists, NotFound, StoredObject


class MemoryStore:
    _named: ClassVar[dict[str, MemoryStore]] = {}
    _named_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self._objects: dict[str, list[StoredObject]] = {}
        self._lock = threading.Lock()

    @classmethod
    def named(cls, name: str) -> MemoryStore:
        with cls._named_lock:
            return cls._named.setdefault(name, cls())

    def put(self, key: str, data: bytes, metadata: Mapping[str, str] | None = None,
            *, overwrite: bool = True) -> str:
        check_key(key)
        meta = check_metadata(metadata)
        with self._lock:
            versions = self._objects.setdefault(key, [])
            if versions and not overwrite:
                raise AlreadyExists(f"{key} exists and is write-once")
            version_id = f"{len(versions) + 1:08d}"
            versions.append(StoredObject(key, bytes(data), meta, version_id, datetime.now(UTC)))
            return version_id

    def get(self, key: str, version_id: str | None = None) -> StoredObject:
        with self._lock:
            versions = self._objects.get(key)
            if not versions:
                raise NotFound(f"no object {key}")
            if version_id is None:
                return versions[-1]
            for stored in versions:
                if stored.version_id == version_id:
                    return stored
        raise NotFound(f"no version {version_id} of {key}")

    def versions(self, key: str) -> list[str]:
        with self._lock:
            return [str(s.version_id) for s in self._objects.get(key, [])]

    def list(self, prefix: str) -> list[str]:
        with self._lock:
            return sorted(k for k in self._objects if k.startswith(prefix))

    def __repr__(self) -> str:
        return f"MemoryStore({len(self._objects)} keys)"
