"""The one `sqlite_path` rule (scheduler state and event URLs) and the leaf modules' isolation."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from hometwin.sqlite_url import sqlite_path

SRC = Path(__file__).resolve().parents[2] / "src" / "hometwin"


@pytest.mark.parametrize(("url", "path"), [
    ("sqlite:///tmp/x.sqlite", "/tmp/x.sqlite"),
    ("sqlite:////tmp/x.sqlite", "/tmp/x.sqlite"),
    ("/tmp/x.sqlite", "/tmp/x.sqlite"),
    ("SQLite:///tmp/x.sqlite", "/tmp/x.sqlite"),  # schemes are case-insensitive
])
def test_state_urls(url: str, path: str):
    assert sqlite_path(url) == Path(path)


@pytest.mark.parametrize("url", ["sqlite://relative.sqlite", "postgres://db/x"])
def test_unsupported_state_urls_are_refused(url: str):
    with pytest.raises(ValueError, match="sqlite:///"):
        sqlite_path(url)


@pytest.mark.parametrize(("url", "message"), [
    ("sqlite://relative.sqlite", "absolute path with three slashes"),  # both callers' wording
    ("sqlite:relative.sqlite", "write sqlite:///absolute/path.sqlite"),
    ("sqlite:///", "names no file"),
    ("", "empty"),
])
def test_bad_sqlite_urls_say_what_to_write(url: str, message: str):
    with pytest.raises(ValueError, match=message):
        sqlite_path(url)


def test_the_error_names_the_url_s_purpose():
    with pytest.raises(ValueError, match="^event URL 'sqlite://x'"):
        sqlite_path("sqlite://x", "event")


@pytest.mark.parametrize("module", ["sqlite_url.py", "backoff.py"])
def test_leaf_modules_import_nothing_from_hometwin(module: str):
    """Every layer (the SDK too) may import them, so they must not pull anything in."""
    tree = ast.parse((SRC / module).read_text())
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [name for name in imported if name.startswith("hometwin")]
