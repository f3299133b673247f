"""ModelRegistry on the embedded stores (memory and filesystem); the S3 run is in tests/contract."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hometwin import __version__
from hometwin.adapters.filesystem import FileSystemStore
from hometwin.adapters.memory_store import MemoryStore
from hometwin.domain.model import MODEL_KIND as BEHAVIOUR
from hometwin.ports import AlreadyExists, NotFound, ObjectStore, PortError
from hometwin.registry import ModelRegistry

SRC = Path(__file__).resolve().parents[2] / "src" / "hometwin"
BERLIN = ZoneInfo("Europe/Berlin")


def training(start_day: int, days: int = 28) -> dict:
    start = datetime(2024, 3, start_day, tzinfo=BERLIN)
    return {"training_start": start, "training_end": start + timedelta(days=days), "tz": "Europe/Berlin",
            "events_per_room": {"kitchen": 120, "bedroom": 80},
            "stays_per_room": {"kitchen": 30, "bedroom": 9},
            "params": {"bin_minutes": 60}, "fingerprint": "ab" * 32}


class StepClock:
    """Registration times one hour apart, so order is deterministic (a fake clock: time is an input)."""

    def __init__(self) -> None:
        self.now = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(hours=1)
        return self.now


@pytest.fixture(params=["memory", "filesystem"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    yield MemoryStore() if request.param == "memory" else FileSystemStore(tmp_path / "models")


@pytest.fixture
def registry(store: ObjectStore) -> ModelRegistry:
    return ModelRegistry(store, "home-1", clock=StepClock())


def test_register_then_get_round_trips_document_and_metadata(registry: ModelRegistry) -> None:
    document = {"schema_version": 1, "rooms": ["kitchen", "bedroom"], "grid": [[0.5, 1.25], [0, 3]]}
    model = registry.register(BEHAVIOUR, document, training(1))
    again = registry.get(BEHAVIOUR, model.version)
    assert again.document == document and again.metadata == model.metadata
    meta = again.metadata
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", model.version) and meta["version"] == model.version
    assert (meta["home_id"], meta["kind"], meta["hometwin_version"]) == ("home-1", BEHAVIOUR, __version__)
    assert meta["created_at"] == "2024-06-01T09:00:00+00:00" == again.created_at.isoformat()
    assert again.training_start == datetime(2024, 3, 1, tzinfo=BERLIN)
    assert again.training_end - again.training_start == timedelta(days=28)
    assert meta["events_per_room"] == {"kitchen": 120, "bedroom": 80} and meta["tz"] == "Europe/Berlin"
    assert len(meta["id"]) == 36 and len(meta["document_sha256"]) == 64


def test_versions_are_write_once_objects_under_the_documented_key(registry: ModelRegistry,
                                                                  store: ObjectStore) -> None:
    model = registry.register(BEHAVIOUR, {"a": 1}, training(1))
    key = f"models/home-1/behaviour/{model.version}.json"
    assert key in store.list("models/home-1/")
    with pytest.raises(AlreadyExists):
        store.put(key, b"{}", overwrite=False)
    stored = store.get(key)
    assert json.loads(stored.data)["document"] == {"a": 1}
    assert stored.metadata["training-start"] == "2024-03-01T00:00:00+01:00"  # also as object metadata
    assert stored.metadata["events"] == "200" and stored.metadata["home-id"] == "home-1"


def test_latest_follows_registrations_and_history_keeps_every_version(registry: ModelRegistry) -> None:
    assert registry.latest(BEHAVIOUR) is None and registry.history(BEHAVIOUR) == []
    models = [registry.register(BEHAVIOUR, {"n": i}, training(1 + 7 * i)) for i in range(3)]
    latest = registry.latest(BEHAVIOUR)
    assert latest is not None and latest.version == models[-1].version
    history = registry.history(BEHAVIOUR)
    assert [m.version for m in history] == [m.version for m in models]
    assert [m.document["n"] for m in history] == [0, 1, 2]
    assert [m.training_start.day for m in history] == [1, 8, 15]


def test_alias_history_stays_readable_and_promote_rolls_back(registry: ModelRegistry) -> None:
    first = registry.register(BEHAVIOUR, {"n": 1}, training(1))
    second = registry.register(BEHAVIOUR, {"n": 2}, training(8))
    registry.promote(BEHAVIOUR, first.version)
    latest = registry.latest(BEHAVIOUR)
    assert latest is not None and latest.document == {"n": 1}
    changes = registry.alias_history(BEHAVIOUR)
    assert [c.version for c in changes] == [first.version, second.version, first.version]
    assert changes[0].set_at < changes[1].set_at < changes[2].set_at
    assert len(registry.history(BEHAVIOUR)) == 2  # promoting copies nothing and removes nothing


def test_homes_and_kinds_are_kept_apart(store: ObjectStore) -> None:
    a, b = ModelRegistry(store, "home-a"), ModelRegistry(store, "home-b")
    a.register(BEHAVIOUR, {"home": "a"}, training(1))
    b.register("silence", {"home": "b"}, training(1))
    assert len(a.history(BEHAVIOUR)) == 1 and a.history("silence") == []
    assert b.history(BEHAVIOUR) == [] and b.history("silence")[0].document == {"home": "b"}


def test_latest_survives_a_crash_between_version_and_alias(tmp_path: Path) -> None:
    full = FileSystemStore(tmp_path / "full")
    model = ModelRegistry(full, "h").register(BEHAVIOUR, {"x": 1}, training(1))
    # The crash case: only the version object made it to disk, the alias did not.
    crashed = FileSystemStore(tmp_path / "crashed")
    key = f"models/h/behaviour/{model.version}.json"
    stored = full.get(key)
    crashed.put(key, stored.data, stored.metadata, overwrite=False)
    latest = ModelRegistry(crashed, "h").latest(BEHAVIOUR)
    assert latest is not None and latest.version == model.version


@pytest.mark.parametrize(("change", "message"), [
    ({"training_start": None}, "training period"),
    ({"training_start": datetime(2024, 3, 1)}, "time zone"),
    ({"training_start": "not a date"}, "ISO"),
    ({"training_end": datetime(2024, 2, 1, tzinfo=UTC)}, "before"),
])
def test_bad_metadata_is_refused_and_nothing_is_stored(registry: ModelRegistry, store: ObjectStore,
                                                       change: dict, message: str) -> None:
    meta = {**training(1), **change}
    meta = {k: v for k, v in meta.items() if v is not None}
    with pytest.raises(ValueError, match=message):
        registry.register(BEHAVIOUR, {"a": 1}, meta)
    assert store.list("") == []


def test_a_document_that_is_not_plain_json_is_refused(registry: ModelRegistry, store: ObjectStore) -> None:
    with pytest.raises(ValueError, match="finite"):
        registry.register(BEHAVIOUR, {"mean": float("nan")}, training(1))
    with pytest.raises(ValueError, match="plain JSON"):
        registry.register(BEHAVIOUR, {"when": datetime(2024, 1, 1, tzinfo=UTC)}, training(1))
    assert store.list("") == []


def test_unknown_versions_and_bad_names(registry: ModelRegistry) -> None:
    with pytest.raises(NotFound, match="no behaviour model version"):
        registry.get(BEHAVIOUR, "20240101T000000Z-abcdef")
    with pytest.raises(NotFound, match="not a model version"):
        registry.get(BEHAVIOUR, "../../etc/passwd")
    with pytest.raises(ValueError, match="kind"):
        registry.history("../x")
    with pytest.raises(ValueError, match="home id"):
        ModelRegistry(MemoryStore(), "a/b")


def test_an_altered_model_object_is_detected() -> None:
    store = MemoryStore()
    registry = ModelRegistry(store, "h")
    good = registry.register(BEHAVIOUR, {"a": 1}, training(1))
    envelope = json.loads(store.get(f"models/h/behaviour/{good.version}.json").data)
    envelope["document"]["a"] = 2  # edited without updating document_sha256
    forged = ModelRegistry(MemoryStore(), "h")
    forged.store.put(f"models/h/behaviour/{good.version}.json", json.dumps(envelope).encode())
    with pytest.raises(PortError, match="sha256"):
        forged.get(BEHAVIOUR, good.version)


def test_no_code_path_deletes_a_model() -> None:
    """The registry has no delete, and nothing in HomeTwin calls an object delete."""
    assert not [name for name in dir(ModelRegistry) if re.search("delete|remove|purge|prune", name)]
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        for call in ("remove_object(", "remove_objects(", "delete_object(", "delete_objects(",
                     "remove_bucket("):
            assert call not in text, f"{path.relative_to(SRC)} calls {call}"
    for path in [SRC / "registry.py", *(SRC / "adapters").glob("*.py")]:
        assert "rmtree(" not in path.read_text(), f"{path.name} removes folders"
    fs = (SRC / "adapters" / "filesystem.py").read_text()
    removals = [m.start() for m in re.finditer(r"\.(unlink|rmdir)\(", fs)]
    discard = fs.index("def _discard_tmp")
    assert removals and all(pos > discard for pos in removals), "filesystem removes only its temp folders"
