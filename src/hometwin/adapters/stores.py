"""Open an ObjectStore from a URL, and the key and metadata rules every store enforces.

`file:///abs/path` (embedded default), `memory://[name]` (tests and demos; one name = one store
within the process), `s3://bucket/prefix` (MinIO, SeaweedFS or any S3; endpoint and keys from
`StoreSettings`). The rules live here so all three behave the same in the contract tests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from hometwin.ports import ObjectStore

if TYPE_CHECKING:
    from hometwin.config import StoreSettings

_META_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_VERSION_DIR = re.compile(r"^v\d{8}$")  # reserved by the filesystem store for its version folders
METADATA_LIMIT = 2000  # bytes; S3 allows 2 KB of user metadata per object


def check_key(key: str) -> str:
    """A relative `/`-separated path without empty, hidden or reserved segments."""
    if not isinstance(key, str) or not key or len(key) > 900:
        raise ValueError(f"object key must be a non-empty string of at most 900 characters: {key!r}")
    for part in key.split("/"):
        if not part or part.startswith(".") or _VERSION_DIR.match(part) or "\\" in part:
            raise ValueError(f"object key {key!r} has an empty, hidden or reserved segment {part!r}")
        if any(ord(c) < 32 for c in part):
            raise ValueError(f"object key {key!r} contains a control character")
    return key


def check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Lower-cased copy; keys `[a-z0-9-]`, values printable ASCII (S3 sends them as HTTP headers)."""
    clean: dict[str, str] = {}
    for raw_key, value in (metadata or {}).items():
        key = raw_key.lower()
        if not _META_KEY.match(key):
            raise ValueError(f"metadata key {raw_key!r} must match [a-z0-9][a-z0-9-]*")
        if not isinstance(value, str) or not all(32 <= ord(c) < 127 for c in value):
            raise ValueError(f"metadata value of {raw_key!r} must be printable ASCII text: {value!r}")
        clean[key] = value
    if sum(len(k) + len(v) for k, v in clean.items()) > METADATA_LIMIT:
        raise ValueError(f"metadata exceeds {METADATA_LIMIT} bytes; put large data in the object itself")
    return clean


def open_object_store(url: str, settings: StoreSettings | None = None) -> ObjectStore:
    """The store a URL names. Nothing connects here except S3, which checks its bucket once."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "memory":
        from hometwin.adapters.memory_store import MemoryStore

        return MemoryStore.named(parts.netloc + parts.path) if (parts.netloc or parts.path) else MemoryStore()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"file URL must be file:///absolute/path, got {url!r}")
        path = Path(unquote(parts.path))
        if not path.is_absolute():
            raise ValueError(f"file URL must name an absolute path, got {url!r}")
        from hometwin.adapters.filesystem import FileSystemStore

        return FileSystemStore(path)
    if scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"S3 URL must be s3://bucket/prefix, got {url!r}")
        from hometwin.adapters.s3 import S3Store
        from hometwin.config import StoreSettings

        return S3Store.from_settings(parts.netloc, parts.path.strip("/"), settings or StoreSettings())
    raise ValueError(f"unsupported object store URL {url!r}: use file:///path, memory:// or s3://bucket/prefix")
