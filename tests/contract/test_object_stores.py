"""One suite, every ObjectStore: memory, filesystem and S3 against a real SeaweedFS server.

The registry's promises (write-once models, readable history, nothing deleted) rest on these.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hometwin.adapters.filesystem import FileSystemStore
from hometwin.adapters.memory_store import MemoryStore
from hometwin.adapters.stores import open_object_store
from hometwin.ports import AlreadyExists, NotFound, ObjectStore

STORES = ["memory", "filesystem"]


@pytest.fixture(params=STORES)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], ObjectStore]]:
    """A factory: each call opens the SAME backing storage again (a restart, as far as data goes)."""
    kind = request.param
    if kind == "memory":
        name = f"contract-{secrets.token_hex(4)}"
        yield lambda: open_object_store(f"memory://{name}")
    elif kind == "filesystem":
        yield lambda: open_object_store((tmp_path / "store").as_uri())
    else:  # pragma: no cover - guarded by params
        raise AssertionError(kind)


@pytest.fixture
def store(make_store: Callable[[], ObjectStore]) -> ObjectStore:
    return make_store()


def test_put_then_get_returns_bytes_metadata_and_version(store: ObjectStore) -> None:
    version = store.put("models/h/behaviour/v1.json", b'{"a": 1}', {"Training-Start": "2024-01-01"},
                        overwrite=False)
    got = store.get("models/h/behaviour/v1.json")
    assert got.data == b'{"a": 1}'
    assert got.metadata["training-start"] == "2024-01-01"  # keys come back lower-case
    assert got.version_id == version and version
    assert got.last_modified is not None and got.last_modified.tzinfo is not None
    assert isinstance(store, ObjectStore)


def test_write_once_refuses_overwrite_and_keeps_the_original(store: ObjectStore) -> None:
    store.put("models/h/k/one.json", b"first", overwrite=False)
    with pytest.raises(AlreadyExists):
        store.put("models/h/k/one.json", b"second", overwrite=False)
    assert store.get("models/h/k/one.json").data == b"first"
    assert len(store.versions("models/h/k/one.json")) == 1


def test_overwrite_keeps_every_older_version_readable(store: ObjectStore) -> None:
    ids = [store.put("models/h/k/latest", f"v{i}".encode(), {"n": str(i)}) for i in range(3)]
    assert store.versions("models/h/k/latest") == ids
    assert store.get("models/h/k/latest").data == b"v2"
    for i, version in enumerate(ids):
        old = store.get("models/h/k/latest", version)
        assert (old.data, old.metadata["n"], old.version_id) == (f"v{i}".encode(), str(i), version)


def test_missing_keys_and_versions_raise_not_found(store: ObjectStore) -> None:
    with pytest.raises(NotFound):
        store.get("state/h/nothing.json")
    store.put("state/h/x.json", b"x")
    with pytest.raises(NotFound):
        store.get("state/h/x.json", "99999999")
    assert store.versions("state/h/nothing.json") == []


def test_list_is_sorted_and_filtered_by_prefix(store: ObjectStore) -> None:
    for key in ["models/b/k/2.json", "models/a/k/1.json", "models/a/k/2.json", "state/a/s.json",
                "models/ab/k/1.json"]:
        store.put(key, b"x", overwrite=False)
    assert store.list("models/a/") == ["models/a/k/1.json", "models/a/k/2.json"]
    assert store.list("models/a") == ["models/a/k/1.json", "models/a/k/2.json", "models/ab/k/1.json"]
    assert store.list("nothing/") == []
    assert len(store.list("")) == 5


def test_data_survives_reopening(make_store: Callable[[], ObjectStore]) -> None:
    first = make_store()
    version = first.put("models/h/k/keep.json", b"kept", {"a": "b"}, overwrite=False)
    again = make_store()
    got = again.get("models/h/k/keep.json", version)
    assert (got.data, got.metadata) == (b"kept", {"a": "b"})
    with pytest.raises(AlreadyExists):
        again.put("models/h/k/keep.json", b"other", overwrite=False)


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "../up", "a/./b", "a/.hidden", "a/v00000001"])
def test_bad_keys_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(ValueError, match="key"):
        store.put(key, b"x")


@pytest.mark.parametrize("metadata", [{"bad key": "x"}, {"k": "caf\u00e9"}, {"k": "x" * 3000}])
def test_bad_metadata_is_refused_before_anything_is_stored(store: ObjectStore, metadata: dict) -> None:
    with pytest.raises(ValueError, match="metadata"):
        store.put("models/h/k/m.json", b"x", metadata)
    assert store.list("models/") == []


def test_concurrent_write_once_puts_have_exactly_one_winner(make_store: Callable[[], ObjectStore]) -> None:
    stores = [make_store() for _ in range(4)]  # separate instances, as separate processes would be
    outcomes: list[str] = []

    def write(i: int) -> None:
        try:
            stores[i].put("models/h/k/race.json", f"w{i}".encode(), overwrite=False)
            outcomes.append(f"won {i}")
        except AlreadyExists:
            outcomes.append("lost")

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if o.startswith("won")]
    assert len(winners) == 1 and outcomes.count("lost") == 3
    assert stores[0].get("models/h/k/race.json").data == f"w{winners[0][-1]}".encode()


def test_memory_urls_name_shared_stores() -> None:
    assert open_object_store("memory://shared-x") is open_object_store("memory://shared-x")
    assert open_object_store("memory://") is not open_object_store("memory://")
    assert isinstance(open_object_store("memory://"), MemoryStore)


def test_file_url_must_be_absolute(tmp_path: Path) -> None:
    assert isinstance(open_object_store(tmp_path.as_uri()), FileSystemStore)
    with pytest.raises(ValueError, match="absolute"):
        open_object_store("file://relative/path")
    with pytest.raises(ValueError, match="unsupported"):
        open_object_store("ftp://x/y")


def test_filesystem_versions_are_plain_files_and_an_altered_file_is_detected(tmp_path: Path) -> None:
    store = FileSystemStore(tmp_path)
    store.put("models/h/k/a.json", b"original", overwrite=False)
    data = tmp_path / "models/h/k/a.json/v00000001/data"
    assert data.read_bytes() == b"original"
    assert not list((tmp_path / "models/h/k/a.json").glob(".tmp-*"))  # no leftovers
    data.chmod(0o644)
    data.write_bytes(b"tampered")
    with pytest.raises(Exception, match="sha256"):
        store.get("models/h/k/a.json")


def test_filesystem_ignores_a_stale_or_missing_hint(tmp_path: Path) -> None:
    store = FileSystemStore(tmp_path)
    for i in range(3):
        store.put("state/h/s.json", str(i).encode())
    (tmp_path / "state/h/s.json/.current").write_text("v00000001\n")  # an older process's hint
    assert store.get("state/h/s.json").data == b"2"
    (tmp_path / "state/h/s.json/.current").unlink()
    assert store.put("state/h/s.json", b"3") == "00000004"
    assert store.get("state/h/s.json").data == b"3"
