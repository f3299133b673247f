"""Build a component's ports from the settings: the only place components open backends.

Opening a port does not require its server to be up (S3 checks its bucket lazily on first use),
so a component starts, serves its health routes, and reports the missing dependency on /readyz.
"""

from __future__ import annotations

from dataclasses import dataclass

from hometwin.adapters.sources import open_source
from hometwin.adapters.stores import open_object_store
from hometwin.clock import Clock
from hometwin.config import SourceSettings, StoreSettings
from hometwin.ports import ObjectStore, SensorSource
from hometwin.registry import ModelRegistry
from hometwin.services.alert_store import AlertStore


@dataclass
class Ports:
    source: SensorSource
    registry: ModelRegistry
    state: ObjectStore
    alerts: AlertStore
    clock: Clock


def build_ports(clock_spec: str = "real") -> Ports:
    stores = StoreSettings()
    source = open_source("", SourceSettings())
    state = open_object_store(stores.state_store, stores)
    registry = ModelRegistry(open_object_store(stores.model_store, stores), stores.home_id)
    return Ports(source, registry, state, AlertStore(state, stores.home_id), Clock.parse(clock_spec))
