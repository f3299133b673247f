"""The newest model of one kind, parsed once per version and kept while the registry is away.

The monitoring detects on it (an unreachable object store must not stop detection: the model it
had keeps working) and the dashboard shows it. `get(now)` asks the registry at most every `poll`
(zero: at every call), parses a new version once, and keeps the model it has when the registry
fails or the new version cannot be read; `failure` says what went wrong, until the next success.

With a `local` copy (the monitoring's, `services.local_copy`) each new version is also written to
disk, and when the registry cannot be reached and no model is held (a start during a store outage)
the local one is used (`from_local`) until the registry answers: then its latest version wins.

Only the parsed model and the version's metadata are held, not the registry's document: as Python
dicts and lists a document takes several times the memory of the model parsed from it (about
1 MiB a home, most of a fleet monitoring's memory: docs/fleet.md). `document()` reads it again.
With `metadata=False` (the monitoring, which never shows it) the metadata is not held either:
about 3 KiB of small dicts and strings a home (tracemalloc, a trained model's metadata).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from hometwin.registry import ModelRegistry, ModelVersion
from hometwin.services.local_copy import LocalCopy

log = logging.getLogger(__name__)
Model = TypeVar("Model")


@dataclass(frozen=True, slots=True)
class ModelFailure:
    what: str  # "registry": it did not answer; "unreadable": the newest version cannot be parsed
    reason: str
    since: datetime
    version: str | None = None  # the unreadable version

    def to_dict(self) -> dict[str, Any]:
        return {"what": self.what, "reason": self.reason, "since": self.since.isoformat(), "version": self.version}


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


class LatestModel(Generic[Model]):
    """The latest `kind` model of `registry`, parsed by `parse` (e.g. `BehaviourModel.from_dict`)."""

    def __init__(self, registry: ModelRegistry, kind: str, parse: Callable[[dict[str, Any]], Model], *,
                 poll: timedelta = timedelta(minutes=1), local: LocalCopy | None = None, metadata: bool = True) -> None:
        self.registry, self.kind, self.parse, self.poll, self.local = registry, kind, parse, poll, local
        self.keep_metadata = metadata
        self.from_local = False  # `model` is the local copy's; the registry has not answered since
        self.model: Model | None = None
        # The registry's newest version as last seen: its document is {} (see `document`), its metadata
        # too unless `keep_metadata`.
        self.version: ModelVersion | None = None
        self.model_version: str | None = None  # the version `model` was parsed from
        self.failure: ModelFailure | None = None
        self._checked: datetime | None = None

    def get(self, now: datetime) -> Model | None:
        """The newest readable model; asks the registry only when `poll` has passed (or none is held)."""
        if self.model is not None and self._checked is not None and now - self._checked < self.poll:
            return self.model
        self._checked = now
        try:
            # The alias alone (a few bytes) each poll; the document (hundreds of KiB of JSON) only when
            # the name changed. Reading it every minute was most of a check's time (benchmarks/fleet.py).
            # An unreadable newest version is read again at each poll, as its document is not kept.
            name = self.registry.latest_name(self.kind)
            if name is None:
                latest = None
            elif self.version is not None and self.version.version == name == self.model_version:
                latest = self.version  # metadata only: its document is parsed in `model` already
            else:
                latest = self.registry.get(self.kind, name)
        except Exception as exc:  # noqa: BLE001 - whatever the store does, the model held keeps working
            self._fail(ModelFailure("registry", _reason(exc), now), "the model registry is unreachable")
            if self.model is None and self.local is not None:
                self._restore_local()
            return self.model
        self.version = latest if latest is None else dataclasses.replace(
            latest, document={}, metadata=latest.metadata if self.keep_metadata else {})
        if latest is None or latest.version == self.model_version:
            self._recovered()
            return self.model
        try:
            model = self.parse(latest.document)
        except Exception as exc:  # noqa: BLE001 - a bad document must not take the model held away
            self._fail(ModelFailure("unreadable", _reason(exc), now, latest.version),
                       f"model version {latest.version} cannot be read")
            return self.model
        self.model, self.model_version = model, latest.version
        log.info("using %s model %s", self.kind, latest.version)
        if self.local is not None:
            self.local.save_model(latest.version, latest.document)
        self._recovered()
        return model

    def document(self) -> dict[str, Any] | None:
        """The document of `version`, read from the registry now (it is not held); None without a version."""
        return None if self.version is None else self.registry.get(self.kind, self.version.version).document

    @property
    def registry_down(self) -> bool:
        return self.failure is not None and self.failure.what == "registry"

    def _fail(self, failure: ModelFailure, what: str) -> None:
        if self.failure is None or (self.failure.what, self.failure.version) != (failure.what, failure.version):
            held = f"; keeps using version {self.model_version}" if self.model is not None else ""
            log.error("%s%s: %s", what, held, failure.reason)  # once per outage, not at every poll
            self.failure = failure
        else:
            self.failure = ModelFailure(failure.what, failure.reason, self.failure.since, failure.version)

    def _restore_local(self) -> None:
        assert self.local is not None
        copy = self.local.load_model()
        if copy is None:
            return
        try:
            self.model = self.parse(copy.document)
        except Exception as exc:  # noqa: BLE001 - an unreadable local copy is only no copy
            log.error("the local copy of %s model %s cannot be read: %s", self.kind, copy.version, _reason(exc))
            return
        self.model_version, self.from_local = copy.version, True
        log.warning("the model registry is unreachable: using the local copy of %s model %s", self.kind, copy.version)

    def _recovered(self) -> None:
        self.from_local = False
        if self.failure is not None:
            log.info("model registry answers again (%s since %s)", self.failure.what, self.failure.since.isoformat())
            self.failure = None
