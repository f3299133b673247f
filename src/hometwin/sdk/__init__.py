"""HomeTwin's component SDK, the successor of the course's `sifec_base`.

A course component migrates by changing one line,
`from sifec_base import ...` -> `from hometwin.sdk import ...`; see docs/sdk.md.
This package imports nothing from hometwin.domain or hometwin.adapters.
"""

from hometwin.sdk.durations import parse_duration
from hometwin.sdk.event import BaseEventFabric, ExampleEventFabric
from hometwin.sdk.gateway import LocalGateway
from hometwin.sdk.idempotency import (
    IdempotencyGuard,
    IdempotencyMemory,
    InMemoryIdempotency,
    ObjectStoreIdempotency,
)
from hometwin.sdk.invocation import (
    IDEMPOTENCY_HEADER,
    EventPayload,
    Invocation,
    event_data,
    parse_invocation,
    read_invocation,
)
from hometwin.sdk.log import base_logger
from hometwin.sdk.settings import SdkSettings
from hometwin.sdk.trigger import CronSpecTrigger, OneShotTrigger, PeriodicTrigger, Trigger, parse_cron

__all__ = [
    "IDEMPOTENCY_HEADER",
    "BaseEventFabric",
    "CronSpecTrigger",
    "EventPayload",
    "ExampleEventFabric",
    "IdempotencyGuard",
    "IdempotencyMemory",
    "InMemoryIdempotency",
    "Invocation",
    "LocalGateway",
    "ObjectStoreIdempotency",
    "OneShotTrigger",
    "PeriodicTrigger",
    "SdkSettings",
    "Trigger",
    "base_logger",
    "event_data",
    "parse_cron",
    "parse_duration",
    "parse_invocation",
    "read_invocation",
]
