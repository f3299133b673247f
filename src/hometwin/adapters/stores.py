"""Open an ObjectStore from a URL, and the key and metadata rules every store enforces.

`file:///abs/path` (embedded default), `memory://[name]` (tests and demos; one name = one store
within the process), `s3://bucket/prefix` (MinIO, SeaweedFS or any S3; endpoint and keys from
`S3Options`). The key and metadata rules all three enforce live in `object_keys.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from hometwin.ports import ObjectStore

if TYPE_CHECKING:
    from hometwin.adapters.s3 import S3Options

def open_object_store(url: str, s3: S3Options | None = None) -> ObjectStore:
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
        from hometwin.adapters.s3 import S3Options, S3Store

        return S3Store.open(parts.netloc, parts.path.strip("/"), s3 or S3Options())
    raise ValueError(f"unsupported object store URL {url!r}: use file:///path, memory:// or s3://bucket/prefix")
