"""`sqlite:///abs/path.sqlite` -> Path: the one rule for every SQLite URL (scheduler state, events).

A leaf module (imports nothing from hometwin), so the CLI, the scheduler and the adapters share it.
Rules: three slashes and an absolute path (`sqlite:///var/lib/x.sqlite`); four slashes are read the
same way (`sqlite:////var/lib/x.sqlite`, SQLAlchemy's spelling of an absolute path). A relative
`sqlite://x.sqlite` is refused: SQLAlchemy reads it as relative, a URL parser as host `x.sqlite`.
A plain path without a scheme is taken as it is.
"""

from __future__ import annotations

from pathlib import Path


def sqlite_path(url: str, what: str = "database") -> Path:
    """The file named by a `sqlite:///` URL (or a plain path); ValueError naming `what` otherwise."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        if url.lower().startswith("sqlite:"):
            raise ValueError(f"{what} URL {url!r}: write sqlite:///absolute/path.sqlite")
        if not url.strip():
            raise ValueError(f"{what} URL is empty: write sqlite:///absolute/path.sqlite")
        return Path(url)
    if scheme.lower() != "sqlite":
        raise ValueError(f"{what} URL {url!r} is not a sqlite:/// URL")
    if not rest.startswith("/"):
        raise ValueError(f"{what} URL {url!r}: write an absolute path with three slashes, "
                         "sqlite:///absolute/path.sqlite")
    path = "/" + rest.lstrip("/")
    if path == "/":
        raise ValueError(f"{what} URL {url!r} names no file: write sqlite:///absolute/path.sqlite")
    return Path(path)
