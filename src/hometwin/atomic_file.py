"""The project's one way to replace a small file so that a crash or power cut leaves the old or the new.

Used for the monitoring's local copy (services/local_copy.py), the homes file written through the
dashboard (services/homes.py) and the dashboard's record of logouts. A leaf module: it imports
nothing from hometwin, so every layer may use it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace `path` by `data`: write a temporary file beside it, fsync it, rename it over `path`,
    fsync the folder. `mode`: the new file's permissions (default: mkstemp's 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if mode is not None:
            os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut only once the folder is synced
    finally:
        os.close(directory)
