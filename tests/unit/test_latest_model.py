"""`LatestModel`: one cache of the newest model, polled, kept while the registry is away."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hometwin.registry import ModelRegistry
from hometwin.services.latest_model import LatestModel
from tests.outages import FakeOutageStore

T0 = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
META = {"training_start": "2026-02-01T00:00:00+00:00", "training_end": "2026-03-01T00:00:00+00:00"}


def parse(document: dict[str, Any]) -> dict[str, Any]:
    if "broken" in document:
        raise ValueError("not a model")
    return dict(document)


def test_polls_at_most_every_interval_and_keeps_the_model_while_the_registry_is_down() -> None:
    store = FakeOutageStore()
    registry = ModelRegistry(store, "home")
    latest = LatestModel(registry, "behaviour", parse, poll=timedelta(minutes=1))
    assert latest.get(T0) is None and latest.failure is None  # nothing registered yet
    registry.register("behaviour", {"n": 1}, META)
    assert latest.get(T0) == {"n": 1}
    registry.register("behaviour", {"n": 2}, META)
    assert latest.get(T0 + timedelta(seconds=30)) == {"n": 1}  # not asked again within the interval
    assert latest.get(T0 + timedelta(minutes=1)) == {"n": 2}

    store.down = True
    assert latest.get(T0 + timedelta(minutes=2)) == {"n": 2}  # kept
    assert latest.registry_down and latest.failure is not None and "fake outage" in latest.failure.reason
    since = latest.failure.since
    latest.get(T0 + timedelta(minutes=3))
    assert latest.failure.since == since  # one outage, one failure
    store.down = False
    assert latest.get(T0 + timedelta(minutes=4)) == {"n": 2} and latest.failure is None


def test_an_unreadable_new_version_keeps_the_model_held_and_says_which() -> None:
    registry = ModelRegistry(FakeOutageStore(), "home")
    latest = LatestModel(registry, "behaviour", parse, poll=timedelta(0))
    registry.register("behaviour", {"n": 1}, META)
    assert latest.get(T0) == {"n": 1}
    bad = registry.register("behaviour", {"broken": True}, META)
    assert latest.get(T0) == {"n": 1}
    assert latest.failure is not None and (latest.failure.what, latest.failure.version) == ("unreadable", bad.version)
    assert latest.model_version != bad.version and latest.version is not None and latest.version.version == bad.version


class CountingStore(FakeOutageStore):
    """A real MemoryStore behind FakeOutageStore, counting reads of model documents (not of the alias)."""

    def __init__(self) -> None:
        super().__init__()
        self.document_reads = 0

    def get(self, key: str, version_id: str | None = None) -> Any:
        if not key.endswith("/latest"):
            self.document_reads += 1
        return super().get(key, version_id)


def test_a_poll_reads_only_the_alias_until_a_new_version_is_named() -> None:
    store = CountingStore()
    registry = ModelRegistry(store, "home")
    latest = LatestModel(registry, "behaviour", parse, poll=timedelta(0))
    registry.register("behaviour", {"n": 1}, META)
    assert latest.get(T0) == {"n": 1}
    reads = store.document_reads
    for minute in range(1, 6):
        assert latest.get(T0 + timedelta(minutes=minute)) == {"n": 1}
    assert store.document_reads == reads  # five polls, no document read
    first = latest.version
    second = registry.register("behaviour", {"n": 2}, META)
    assert latest.get(T0 + timedelta(minutes=6)) == {"n": 2} and latest.model_version == second.version
    registry.promote("behaviour", first.version if first else "")  # a rollback is a new name for the poller
    assert latest.get(T0 + timedelta(minutes=7)) == {"n": 1}


def test_holds_the_model_and_the_metadata_but_not_the_document() -> None:
    # The registry's document as Python objects is several times the parsed model (docs/fleet.md):
    # a fleet monitoring holding one per home ran out of memory first.
    store = CountingStore()
    registry = ModelRegistry(store, "home")
    latest = LatestModel(registry, "behaviour", parse, poll=timedelta(0))
    registered = registry.register("behaviour", {"n": 1, "training": {"n_events": 5}}, META)
    assert latest.get(T0) == {"n": 1, "training": {"n_events": 5}}
    assert latest.version is not None and latest.version.document == {}
    assert latest.version.metadata == registered.metadata and latest.version.version == registered.version
    reads = store.document_reads
    assert latest.get(T0 + timedelta(minutes=1)) == {"n": 1, "training": {"n_events": 5}}
    assert store.document_reads == reads  # still only the alias at each poll
    assert latest.document() == {"n": 1, "training": {"n_events": 5}}  # read on demand
    assert store.document_reads == reads + 1


def test_an_unreadable_newest_version_stays_reported_after_a_registry_outage() -> None:
    store = FakeOutageStore()
    registry = ModelRegistry(store, "home")
    latest = LatestModel(registry, "behaviour", parse, poll=timedelta(0))
    registry.register("behaviour", {"n": 1}, META)
    latest.get(T0)
    bad = registry.register("behaviour", {"broken": True}, META)
    for minute in (1, 2):  # polled twice: the document is not held, so it is read and refused again
        assert latest.get(T0 + timedelta(minutes=minute)) == {"n": 1}
        failure = latest.failure
        assert failure is not None and (failure.what, failure.version) == ("unreadable", bad.version)
    store.down = True
    latest.get(T0 + timedelta(minutes=3))
    assert latest.failure is not None and latest.failure.what == "registry"
    store.down = False
    assert latest.get(T0 + timedelta(minutes=4)) == {"n": 1}
    assert latest.failure is not None and (latest.failure.what, latest.failure.version) == ("unreadable", bad.version)
    assert "not a model" in latest.failure.reason


def test_without_metadata_it_holds_the_versions_name_only() -> None:
    # The monitoring's holder: it never shows the metadata, about 3 KiB a home in a fleet (docs/fleet.md).
    store = CountingStore()
    registry = ModelRegistry(store, "home")
    latest = LatestModel(registry, "behaviour", parse, poll=timedelta(0), metadata=False)
    registered = registry.register("behaviour", {"n": 1}, META)
    assert latest.get(T0) == {"n": 1}
    assert latest.version is not None and latest.version.version == registered.version
    assert latest.version.metadata == {} and latest.version.document == {}
    assert registered.metadata["training_start"] == META["training_start"]  # there was metadata to drop
    reads = store.document_reads
    assert latest.get(T0 + timedelta(minutes=1)) == {"n": 1} and store.document_reads == reads  # polls as before
    newer = registry.register("behaviour", {"n": 2}, META)
    assert latest.get(T0 + timedelta(minutes=2)) == {"n": 2} and latest.model_version == newer.version
