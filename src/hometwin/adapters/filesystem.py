"""`file:///path` ObjectStore: the embedded default. Versioned, write-once on request, never deletes.

Layout (plain files, so a copy of the folder is a backup):

    <root>/<key>/v00000001/data        the bytes of version 1
    <root>/<key>/v00000001/meta.json   its metadata, time and sha256
    <root>/<key>/v00000002/...         a later version (overwrite=True puts)
    <root>/<key>/.current              hint: the newest version folder's name

A version is written into a hidden temporary folder, fsynced, then renamed into place. Renaming a
folder onto an existing non-empty one fails, so the rename is both the atomic commit and the
write-once check: two writers can never both create version 1. Versions are numbered without
gaps, so the newest is found from the hint by checking whether the next one exists.
This module has no code path that removes a version.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from hometwin.adapters.object_keys import check_key, check_metadata
from hometwin.ports import AlreadyExists, NotFound, PortError, StoredObject

_VERSION_ID = re.compile(r"^\d{8}$")
_CURRENT = ".current"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, 0o444)  # versions are immutable; read-only says so to anyone browsing the folder


class FileSystemStore:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()  # orders writers within one process; renames order the rest

    def put(self, key: str, data: bytes, metadata: Mapping[str, str] | None = None,
            *, overwrite: bool = True) -> str:
        check_key(key)
        meta = check_metadata(metadata)
        folder = self.root / key
        now = datetime.now(UTC)
        record = {"key": key, "metadata": meta, "last_modified": now.isoformat(),
                  "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PortError(f"cannot create {folder}: {exc}") from exc
        with self._lock:
            number = 1 if not overwrite else self._newest(folder) + 1
            if not overwrite and (folder / "v00000001").exists():
                raise AlreadyExists(f"{key} exists and is write-once")
            tmp = folder / f".tmp-{secrets.token_hex(8)}"
            try:
                tmp.mkdir()
                _write_file(tmp / "data", bytes(data))
                _write_file(tmp / "meta.json", json.dumps(record, sort_keys=True).encode())
                _fsync_dir(tmp)
                number = self._commit(tmp, folder, number, overwrite, key)
            except OSError as exc:
                raise PortError(f"cannot write {key} under {self.root}: {exc}") from exc
            finally:
                self._discard_tmp(tmp)
            self._write_hint(folder, number)
        return f"{number:08d}"

    def get(self, key: str, version_id: str | None = None) -> StoredObject:
        check_key(key)
        folder = self.root / key
        if version_id is None:
            number = self._newest(folder)
            if number == 0:
                raise NotFound(f"no object {key}")
        elif _VERSION_ID.match(version_id):
            number = int(version_id)
        else:
            raise NotFound(f"no version {version_id!r} of {key}")
        version = folder / f"v{number:08d}"
        try:
            record = json.loads((version / "meta.json").read_bytes())
            data = (version / "data").read_bytes()
        except FileNotFoundError:
            missing = f"no version {version_id} of {key}" if version_id else f"no object {key}"
            raise NotFound(missing) from None
        except (OSError, ValueError) as exc:
            raise PortError(f"cannot read {version}: {exc}") from exc
        if hashlib.sha256(data).hexdigest() != record.get("sha256"):
            raise PortError(f"{version}/data does not match its recorded sha256: the file was altered")
        return StoredObject(key, data, dict(record.get("metadata", {})), f"{number:08d}",
                            datetime.fromisoformat(record["last_modified"]))

    def versions(self, key: str) -> list[str]:
        check_key(key)
        return [f"{n:08d}" for n in range(1, self._newest(self.root / key) + 1)]

    def list(self, prefix: str) -> list[str]:
        # Start the walk at the deepest folder the prefix names, then filter by the plain prefix.
        start = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not start.is_dir():
            return []
        keys: list[str] = []
        for dirpath, dirnames, _files in os.walk(start):
            here = Path(dirpath)
            if "v00000001" in dirnames:
                key = here.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
            dirnames[:] = [d for d in dirnames if not d.startswith(".") and not re.match(r"^v\d{8}$", d)]
        return sorted(keys)

    def _commit(self, tmp: Path, folder: Path, number: int, overwrite: bool, key: str) -> int:
        while True:
            try:
                os.rename(tmp, folder / f"v{number:08d}")
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                if not overwrite:
                    raise AlreadyExists(f"{key} exists and is write-once") from None
                number += 1  # another process committed this number first
                continue
            _fsync_dir(folder)
            return number

    def _newest(self, folder: Path) -> int:
        """The newest version number (0: none), from the hint and then by probing forward."""
        try:
            number = int((folder / _CURRENT).read_text().strip().lstrip("v") or 0)
        except (OSError, ValueError):
            number = 0
        if number and not (folder / f"v{number:08d}").is_dir():
            number = 0  # a hint from a restored partial backup: probe from the start
        while (folder / f"v{number + 1:08d}").is_dir():
            number += 1
        return number

    def _write_hint(self, folder: Path, number: int) -> None:
        tmp = folder / f".current-{secrets.token_hex(8)}"
        with contextlib.suppress(OSError):  # only a hint: readers probe forward from what it says
            tmp.write_text(f"v{number:08d}\n")
            os.replace(tmp, folder / _CURRENT)

    @staticmethod
    def _discard_tmp(tmp: Path) -> None:
        """Remove our own uncommitted temporary folder (never a committed version)."""
        if tmp.name.startswith(".tmp-") and tmp.is_dir():
            for child in tmp.iterdir():
                child.unlink()
            tmp.rmdir()

    def __repr__(self) -> str:
        return f"FileSystemStore({str(self.root)!r})"
