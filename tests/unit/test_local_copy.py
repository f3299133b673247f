"""The monitoring's local copy (services/local_copy.py) and the store deadline (services/store_deadline.py)."""

from __future__ import annotations

import gzip
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hometwin.adapters.memory_store import MemoryStore
from hometwin.adapters.s3 import S3Options, S3Store
from hometwin.atomic_file import write_atomically
from hometwin.ports import NotFound, Unavailable
from hometwin.services.local_copy import LocalCopy, digest
from hometwin.services.store_deadline import DeadlineStore
from tests.hanging_server import HangingServer

NOW = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


def test_the_book_and_the_model_come_back_as_written(tmp_path: Path) -> None:
    local = LocalCopy(tmp_path, "oma")
    assert local.load_book() is None and local.load_model() is None
    assert local.save_book({"alerts": []}, base=digest(b"stored"), unsaved=True, now=NOW)
    assert local.save_model("20260301T000000Z-abcdef", {"rooms": {"bathroom": 1}})
    book = LocalCopy(tmp_path, "oma").load_book()  # a new process
    assert book is not None and book.book == {"alerts": []} and book.unsaved is True
    assert book.base == digest(b"stored") and book.written_at == NOW
    model = LocalCopy(tmp_path, "oma").load_model()
    assert model is not None and model.version == "20260301T000000Z-abcdef"
    assert model.document == {"rooms": {"bathroom": 1}}
    assert sorted(p.name for p in (tmp_path / "oma").iterdir()) == ["book.json", "model.json.gz"]  # no temporary left


def test_an_unchanged_book_is_not_written_again(tmp_path: Path) -> None:
    local = LocalCopy(tmp_path, "oma")
    local.save_book({"alerts": []}, base=None, unsaved=False, now=NOW)
    before = os.stat(local.book_path).st_mtime_ns
    time.sleep(0.01)
    local.save_book({"alerts": []}, base=None, unsaved=False, now=NOW.replace(minute=1))
    assert os.stat(local.book_path).st_mtime_ns == before
    local.save_book({"alerts": []}, base=None, unsaved=True, now=NOW)
    assert json.loads(local.book_path.read_bytes())["unsaved"] is True


@pytest.mark.parametrize("content", [b"{not json", b"[]", b'{"format": "other"}',
                                     b'{"format": "hometwin-monitoring-local/1", "book": 3, "base": null, '
                                     b'"unsaved": false}'])
def test_an_unreadable_local_file_is_ignored_not_a_crash(tmp_path: Path, content: bytes) -> None:
    local = LocalCopy(tmp_path, "oma")
    local.folder.mkdir(parents=True)
    local.book_path.write_bytes(content)
    local.model_path.write_bytes(gzip.compress(content))
    assert local.load_book() is None and local.load_model() is None
    local.model_path.write_bytes(content)  # not even gzip
    assert local.load_model() is None


def test_a_disk_that_refuses_is_reported_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    local = LocalCopy(blocker, "oma")
    assert local.save_book({"alerts": []}, base=None, unsaved=True, now=NOW) is False
    assert local.error is not None and "file" in local.error
    assert LocalCopy(tmp_path, "oma").save_book({"alerts": []}, base=None, unsaved=True, now=NOW)


def test_an_atomic_write_replaces_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "x.json"
    write_atomically(path, b"old")
    write_atomically(path, b"new")
    assert path.read_bytes() == b"new" and [p.name for p in path.parent.iterdir()] == ["x.json"]


def test_a_bad_home_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="home id"):
        LocalCopy(tmp_path, "../etc")


def test_the_deadline_store_passes_results_and_errors_through() -> None:
    store = DeadlineStore(MemoryStore(), 2.0)
    store.put("a/b.json", b"1")
    assert store.get("a/b.json").data == b"1" and store.list("a/") == ["a/b.json"]
    assert len(store.versions("a/b.json")) == 1
    with pytest.raises(NotFound):
        store.get("missing.json")
    with pytest.raises(ValueError):
        DeadlineStore(MemoryStore(), 0)


def test_a_hanging_s3_server_costs_one_deadline_then_fails_at_once() -> None:
    """A real S3 client against a listener that accepts and never answers (tests/hanging_server.py):
    without the deadline each call would wait the client's 30 s timeout times its retries."""
    with HangingServer() as server:
        s3 = S3Store.open("state", "home", S3Options(endpoint=server.endpoint, access_key="k", secret_key="s",
                                                     timeout_seconds=30))
        store = DeadlineStore(s3, 0.5)
        began = time.monotonic()
        with pytest.raises(Unavailable, match="did not answer get state/home/alerts.json within 0.5 s"):
            store.get("state/home/alerts.json")
        first = time.monotonic() - began
        assert 0.4 < first < 3.0, first
        began = time.monotonic()
        with pytest.raises(Unavailable, match="has not answered"):
            store.put("state/home/alerts.json", b"{}")
        assert time.monotonic() - began < 0.2  # the store hangs: no second thread waits behind the first
        assert store.hanging and server.accepted >= 1
