"""The monitoring's copy, on its own disk, of the model it detects with and of its alert book.

Why: the model and the alert book live in the object store. A monitoring that starts while the
store is down (a power cut after which the Pi is up before MinIO) would otherwise watch nobody, and
one killed during an outage would lose the alert book's changes made meanwhile. So the monitoring
keeps, per home, under `<data dir>/monitoring/<home id>/`:

    model.json.gz {"format", "version", "document"}, gzipped (a model is hundreds of KiB of JSON,
                  and a fleet replica keeps one per home on a size-limited pod volume): the model
                  version it last took from the registry
    book.json     {"format", "book", "base", "tried", "unsaved", "written_at"}: its alert book after
                  every check that changed it

`base` is the SHA-256 of the stored book this one descends from (None: the store had none),
`tried` those of the books whose write to the store failed since (a write that timed out may still
have landed), and `unsaved` says whether the book holds changes the store has not got. On start,
and when the store answers again, `BookKeeper` compares: a local book with unsaved changes wins
only while the store holds its base or one of the books it tried to write (nobody else wrote the
book meanwhile); otherwise the store's book wins.

Every write is atomic and durable: a temporary file in the same folder, fsync, rename, fsync of the
folder; a crash leaves the old file or the new one, never half of one. A local file that cannot be
read is logged and ignored (the store's state is then the only one), never a crash.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from hometwin.atomic_file import write_atomically

log = logging.getLogger(__name__)

FORMAT = "hometwin-monitoring-local/1"
_HOME_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def digest(data: bytes | None) -> str | None:
    """The `base` of a book descending from the stored bytes `data` (None: no stored book)."""
    return hashlib.sha256(data).hexdigest() if data is not None else None


@dataclass(frozen=True, slots=True)
class LocalBook:
    book: dict[str, Any]  # AlertBook.to_dict()
    base: str | None  # digest() of the stored book it descends from
    unsaved: bool  # holds changes the store has not got
    written_at: datetime | None = None
    tried: tuple[str, ...] = ()  # digest() of books whose store write failed since `base` (may have landed)


@dataclass(frozen=True, slots=True)
class LocalModel:
    version: str
    document: dict[str, Any]


class LocalCopy:
    """One home's local model and book under `root/<home id>/`."""

    def __init__(self, root: Path, home_id: str) -> None:
        if not _HOME_ID.fullmatch(home_id):
            raise ValueError(f"home id {home_id!r} is not valid")
        self.folder = Path(root) / home_id
        self.home_id = home_id
        self.book_path = self.folder / "book.json"
        self.model_path = self.folder / "model.json.gz"
        self.error: str | None = None  # the last failed write, until one succeeds
        self._last_book: bytes | None = None

    # -- the alert book --------------------------------------------------------------------------

    def save_book(self, book: dict[str, Any], *, base: str | None, unsaved: bool, now: datetime,
                  tried: tuple[str, ...] = ()) -> bool:
        """Write the book; False when the disk refused (logged; the store and memory go on)."""
        fields = {"book": book, "base": base, "unsaved": unsaved, "tried": list(tried)}
        body = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("utf-8")
        if body == self._last_book:
            return True  # unchanged: no write, no fsync
        data = json.dumps({"format": FORMAT, **fields, "written_at": now.isoformat()}, sort_keys=True,
                          separators=(",", ":")).encode("utf-8")
        if not self._write(self.book_path, data, "alert book"):
            return False
        self._last_book = body
        return True

    def load_book(self) -> LocalBook | None:
        """The book last written, or None (none yet, or unreadable: logged)."""
        document = self._read(self.book_path, "alert book")
        if document is None:
            return None
        try:
            book, base, unsaved = document["book"], document["base"], document["unsaved"]
            if not (isinstance(book, dict) and isinstance(unsaved, bool) and (base is None or isinstance(base, str))):
                raise TypeError("book, base or unsaved has the wrong type")
            written = document.get("written_at")
            written_at = datetime.fromisoformat(written) if isinstance(written, str) else None
            tried = tuple(str(t) for t in document.get("tried", []))
        except (KeyError, TypeError, ValueError) as exc:
            log.error("ignoring the local alert book %s: %s", self.book_path, exc)
            return None
        return LocalBook(book, base, unsaved, written_at, tried)

    # -- the model -------------------------------------------------------------------------------

    def save_model(self, version: str, document: dict[str, Any]) -> bool:
        data = json.dumps({"format": FORMAT, "version": version, "document": document},
                          separators=(",", ":")).encode("utf-8")
        return self._write(self.model_path, gzip.compress(data, 6, mtime=0), f"model {version}")

    def load_model(self) -> LocalModel | None:
        document = self._read(self.model_path, "model", gzipped=True)
        if document is None:
            return None
        version, model = document.get("version"), document.get("document")
        if not isinstance(version, str) or not isinstance(model, dict):
            log.error("ignoring the local model %s: no version or document", self.model_path)
            return None
        return LocalModel(version, model)

    # -- files -----------------------------------------------------------------------------------

    def _write(self, path: Path, data: bytes, what: str) -> bool:
        try:
            write_atomically(path, data)
        except OSError as exc:
            if self.error is None:
                log.error("cannot keep the local copy of the %s at %s: %s", what, path, exc)
            self.error = f"{path}: {exc}"[:300]
            return False
        self.error = None
        return True

    def _read(self, path: Path, what: str, *, gzipped: bool = False) -> dict[str, Any] | None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.error("cannot read the local %s %s: %s", what, path, exc)
            return None
        try:
            document = json.loads(gzip.decompress(data) if gzipped else data)
        except (ValueError, OSError, EOFError) as exc:  # gzip: BadGzipFile is an OSError
            log.error("ignoring the local %s %s: not JSON: %s", what, path, exc)
            return None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            log.error("ignoring the local %s %s: not in format %s", what, path, FORMAT)
            return None
        return document
