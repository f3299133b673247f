"""The small interfaces between the pure core and the outside world.

Each port has an embedded default (SQLite, filesystem, a local mail drop) chosen by URL scheme,
so the default configuration needs no server. Adapters live in `hometwin.adapters`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from hometwin.domain.events import SensorEvent


class PortError(RuntimeError):
    """A backend failed in a way the caller should report or retry (message says which)."""


class NotFound(PortError):
    pass


class AlreadyExists(PortError):
    """A write-once object exists already: models are never overwritten."""


class AccessDenied(PortError):
    """The backend refused: bad credentials, missing permission, or a protected (locked) object."""


class Unavailable(PortError):
    """The backend cannot be reached or answered with a server error; retrying later may help."""


@runtime_checkable
class SensorSource(Protocol):
    def read(self, start: datetime, end: datetime) -> list[SensorEvent]:
        """Events with start <= time < end, sorted by time."""

    def stream(self, start: datetime, end: datetime) -> Iterator[SensorEvent]:
        """Like `read`, in order, without holding everything in memory."""

    def latest(self) -> SensorEvent | None:
        """The newest event, or None when the source is empty."""


@runtime_checkable
class SensorSink(Protocol):
    def append(self, events: Iterable[SensorEvent]) -> int:
        """Store events idempotently; returns how many were new."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    data: bytes
    metadata: Mapping[str, str]  # keys lower-case, as every S3 server hands them back differently
    version_id: str | None = None
    last_modified: datetime | None = None


@runtime_checkable
class ObjectStore(Protocol):
    """A versioned key/value store of bytes with metadata (S3, a directory, memory). Nothing is deleted.

    Keys are `/`-separated relative paths. Metadata keys match `[a-z0-9][a-z0-9-]*`, values are
    printable ASCII (they travel as HTTP headers on S3); adapters raise ValueError otherwise.
    Every put of an existing key keeps the older versions readable (S3 bucket versioning; the
    filesystem and memory stores do the same), so the stores never lose data.
    """

    def put(self, key: str, data: bytes, metadata: Mapping[str, str] | None = None,
            *, overwrite: bool = True) -> str | None:
        """Store a new version; with overwrite=False raise AlreadyExists if the key exists (write-once:
        such objects are also protected from deletion where the backend can). Returns the version id."""

    def get(self, key: str, version_id: str | None = None) -> StoredObject:
        """The current (or the given) version; raise NotFound when absent."""

    def versions(self, key: str) -> list[str]:
        """Version ids of key, oldest first; empty when the key does not exist."""

    def list(self, prefix: str) -> list[str]:
        """Keys under prefix (plain string prefix), sorted."""


@dataclass(frozen=True, slots=True)
class InlineImage:
    """A picture the HTML body shows as `<img src="cid:{cid}">`: sent inside the e-mail, nothing fetched."""

    cid: str  # local@domain
    data: bytes
    filename: str
    subtype: str = "png"


@dataclass(frozen=True, slots=True)
class EmailMessage:
    to: tuple[str, ...]
    subject: str
    text: str
    html: str | None = None
    message_id: str | None = None  # stable id so a resend after a crash is recognisable
    images: tuple[InlineImage, ...] = ()  # shown by the HTML body (multipart/related)


@runtime_checkable
class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Deliver or raise PortError (the caller retries)."""
