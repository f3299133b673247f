"""The key and metadata rules every ObjectStore enforces, so memory, file and S3 behave the same in
the contract tests. A leaf: the stores import it, and it imports none of them."""

from __future__ import annotations

import re
from collections.abc import Mapping

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
