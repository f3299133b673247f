"""The model registry: every trained model is a new, write-once, never-deleted version.

On any ObjectStore (filesystem, S3, memory):

    models/<home>/<kind>/<version>.json   one JSON object per version: {"format", "metadata", "document"}
    models/<home>/<kind>/latest           the `latest` alias: {"version", "set_at", ...}

Versions are written with `overwrite=False`, so the store refuses to replace them (and S3 locks
them against deletion). The alias is overwritten, but every store keeps the older versions of an
object (S3 bucket versioning; the filesystem store's append-only version folders), so the alias's
own history - which version was current when - stays readable too. The registry has no delete:
no code path in HomeTwin removes a model.

Metadata (in the JSON object, and its scalar fields also as object metadata, so `mc stat` or the
S3 console shows them): id, version, kind, home_id, created_at, hometwin_version, document_sha256,
plus what the caller gives - training_start and training_end (required), tz, n_events, n_stays,
events_per_room, stays_per_room, params, fingerprint (sha256 of the training events); see
`hometwin.services.training.model_metadata`.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from hometwin import __version__
from hometwin.ports import NotFound, ObjectStore, PortError

FORMAT = "hometwin-model/1"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_VERSION = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")
REQUIRED = ("training_start", "training_end")
# Scalar metadata copied into the object's own metadata (S3 headers: small and ASCII).
_HEADER_FIELDS = ("id", "version", "kind", "home_id", "created_at", "training_start", "training_end",
                  "tz", "hometwin_version", "fingerprint", "document_sha256")
_HEADER_TOTALS = {"events": "events_per_room", "stays": "stays_per_room"}


@dataclass(frozen=True, slots=True)
class ModelVersion:
    version: str
    created_at: datetime
    metadata: dict[str, Any]
    document: dict[str, Any] = field(repr=False)

    @property
    def training_start(self) -> datetime:
        return datetime.fromisoformat(self.metadata["training_start"])

    @property
    def training_end(self) -> datetime:
        return datetime.fromisoformat(self.metadata["training_end"])


@dataclass(frozen=True, slots=True)
class AliasChange:
    """One past value of an alias: from `set_at` on, `version` was current."""

    version: str
    set_at: datetime


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _canonical(value: Any, what: str) -> bytes:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not plain JSON (numbers must be finite): {exc}") from exc


def _iso(value: Any, name: str) -> str:
    """An aware datetime or ISO string, as ISO text; naive times are refused (whose clock?)."""
    moment = value if isinstance(value, datetime) else None
    if moment is None:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            raise ValueError(f"metadata {name} must be an ISO date-time, got {value!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"metadata {name} must carry a time zone, got {value!r}")
    return moment.isoformat()


class ModelRegistry:
    def __init__(self, store: ObjectStore, home_id: str, *,
                 clock: Callable[[], datetime] = _utc_now) -> None:
        if not _NAME.match(home_id):
            raise ValueError(f"home id {home_id!r} must match {_NAME.pattern}")
        self.store = store
        self.home_id = home_id
        self.clock = clock

    def register(self, kind: str, document: Mapping[str, Any], metadata: Mapping[str, Any]) -> ModelVersion:
        """Store `document` as a new version and point `latest` at it."""
        self._check_kind(kind)
        missing = [name for name in REQUIRED if name not in metadata]
        if missing:
            raise ValueError(f"model metadata lacks {', '.join(missing)} (the training period)")
        body = _canonical(dict(document), "model document")
        created = self.clock()
        if created.tzinfo is None:
            raise ValueError("the registry clock must return aware datetimes")
        version = f"{created.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        meta: dict[str, Any] = {
            **metadata,
            "training_start": _iso(metadata["training_start"], "training_start"),
            "training_end": _iso(metadata["training_end"], "training_end"),
            "id": str(uuid.uuid4()), "version": version, "kind": kind, "home_id": self.home_id,
            "created_at": created.isoformat(), "hometwin_version": __version__,
            "document_sha256": hashlib.sha256(body).hexdigest(),
        }
        if datetime.fromisoformat(meta["training_end"]) < datetime.fromisoformat(meta["training_start"]):
            raise ValueError("training_end is before training_start")
        envelope = {"format": FORMAT, "metadata": meta, "document": json.loads(body)}
        data = _canonical(envelope, "model metadata")
        self.store.put(self._key(kind, version), data, self._headers(meta), overwrite=False)
        self._set_alias(kind, version, created)
        return ModelVersion(version, created, meta, envelope["document"])

    def get(self, kind: str, version: str) -> ModelVersion:
        self._check_kind(kind)
        if not _VERSION.match(version):
            raise NotFound(f"{version!r} is not a model version name (like 20240105T120000Z-3f2a1b)")
        try:
            stored = self.store.get(self._key(kind, version))
        except NotFound:
            raise NotFound(f"no {kind} model version {version} for home {self.home_id}") from None
        return self._parse(stored.data, kind, version)

    def latest(self, kind: str) -> ModelVersion | None:
        """The version the `latest` alias names; None when no model was registered yet."""
        name = self.latest_name(kind)
        return None if name is None else self.get(kind, name)

    def latest_name(self, kind: str) -> str | None:
        """Only the name of the version `latest` points at: one small read, for a poller that holds
        the model already (versions are write-once, so the same name is the same document)."""
        self._check_kind(kind)
        try:
            alias = json.loads(self.store.get(self._alias_key(kind)).data)
        except NotFound:
            versions = self.versions(kind)  # a crash between the version and its alias
            return versions[-1] if versions else None
        return str(alias["version"])

    def versions(self, kind: str) -> list[str]:
        """Version names, oldest first (the names sort by creation time)."""
        self._check_kind(kind)
        prefix = f"{self._prefix(kind)}/"
        names = {key[len(prefix):-len(".json")] for key in self.store.list(prefix) if key.endswith(".json")}
        # A version hidden from listings (an S3 delete marker) is still found through the alias history.
        names.update(change.version for change in self.alias_history(kind))
        return sorted(name for name in names if _VERSION.match(name))

    def history(self, kind: str) -> list[ModelVersion]:
        """Every version with metadata and document, oldest first."""
        models = [self.get(kind, version) for version in self.versions(kind)]
        return sorted(models, key=lambda m: (m.created_at, m.version))

    def alias_history(self, kind: str) -> list[AliasChange]:
        """Every value the `latest` alias had, oldest first."""
        key = self._alias_key(kind)
        changes = []
        for version_id in self.store.versions(key):
            alias = json.loads(self.store.get(key, version_id).data)
            changes.append(AliasChange(alias["version"], datetime.fromisoformat(alias["set_at"])))
        return changes

    def promote(self, kind: str, version: str) -> ModelVersion:
        """Point `latest` at an existing version (a rollback); the alias history records it."""
        model = self.get(kind, version)
        self._set_alias(kind, version, self.clock())
        return model

    def _set_alias(self, kind: str, version: str, at: datetime) -> None:
        alias = {"alias": "latest", "version": version, "key": self._key(kind, version),
                 "set_at": at.isoformat()}
        self.store.put(self._alias_key(kind), _canonical(alias, "alias"), {"version": version})

    def _parse(self, data: bytes, kind: str, version: str) -> ModelVersion:
        where = self._key(kind, version)
        try:
            envelope = json.loads(data)
            meta, document = envelope["metadata"], envelope["document"]
        except (ValueError, KeyError, TypeError) as exc:
            raise PortError(f"{where} is not a HomeTwin model object: {exc}") from exc
        if envelope.get("format") != FORMAT or meta.get("version") != version:
            raise PortError(f"{where} has format {envelope.get('format')!r} and version "
                            f"{meta.get('version')!r}; expected {FORMAT} and {version}")
        if hashlib.sha256(_canonical(document, "document")).hexdigest() != meta.get("document_sha256"):
            raise PortError(f"{where}: the document does not match its recorded sha256")
        return ModelVersion(version, datetime.fromisoformat(meta["created_at"]), meta, document)

    @staticmethod
    def _headers(meta: Mapping[str, Any]) -> dict[str, str]:
        headers = {name.replace("_", "-"): quote(str(meta[name]), safe=" :+-._/@")
                   for name in _HEADER_FIELDS if isinstance(meta.get(name), str | int | float)}
        for name, per_room in _HEADER_TOTALS.items():  # per-room counts: the header carries the total
            counts = meta.get(per_room)
            if isinstance(counts, Mapping):
                headers[name] = str(sum(v for v in counts.values() if isinstance(v, int | float)))
        return headers

    @staticmethod
    def _check_kind(kind: str) -> None:
        if not _NAME.match(kind):
            raise ValueError(f"model kind {kind!r} must match {_NAME.pattern}")

    def _prefix(self, kind: str) -> str:
        return f"models/{self.home_id}/{kind}"

    def _key(self, kind: str, version: str) -> str:
        return f"{self._prefix(kind)}/{version}.json"

    def _alias_key(self, kind: str) -> str:
        return f"{self._prefix(kind)}/latest"

