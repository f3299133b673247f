"""Reading an invocation: the scheduler calls a function with `{"EventName": {"data": ..., "timestamp": ...}}`
(for POST/PUT; GET invocations carry no body) and headers naming the invocation.

In a handler:

    async def notify(invocation: Invocation = Depends(read_invocation)): ...
    async def notify(alert: Alert = Depends(event_data("EmergencyEvent", Alert))): ...

Bad bodies answer 422 naming the field, like any FastAPI validation error; the scheduler does not
retry a 4xx, so a malformed event is reported once instead of looping.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

# Headers the HomeTwin scheduler sends with every invocation (the course's sent none).
IDEMPOTENCY_HEADER = "Idempotency-Key"  # the invocation id: the same on every redelivery
EVENT_IDS_HEADER = "X-Event-Ids"  # comma-separated ids of the joined events
ATTEMPT_HEADER = "X-Invocation-Attempt"  # 1 on the first delivery
FUNCTION_HEADER = "X-Function-Name"

M = TypeVar("M", bound=BaseModel)


class EventPayload(BaseModel):
    """One event of an invocation."""

    model_config = ConfigDict(extra="allow")

    data: Any = None
    timestamp: datetime | None = None


class Invocation(BaseModel):
    """The events one invocation delivers (one per subscribed event name), and its identity."""

    events: dict[str, EventPayload] = Field(default_factory=dict)
    idempotency_key: str | None = None
    invocation_id: str | None = None  # the scheduler uses the Idempotency-Key as invocation id
    event_ids: list[str] = Field(default_factory=list)
    attempt: int | None = None
    function: str | None = None

    def __getitem__(self, name: str) -> EventPayload:
        try:
            return self.events[name]
        except KeyError:
            raise KeyError(f"event {name!r} is not in this invocation (it has {sorted(self.events)})"
                           ) from None

    def __contains__(self, name: object) -> bool:
        return name in self.events

    def data(self, name: str, model: type[M]) -> M:
        """The event's data validated as `model`; ValueError naming the field otherwise."""
        try:
            return model.model_validate(self[name].data)
        except ValidationError as exc:
            raise ValueError(f"event {name!r}: {_describe(exc)}") from exc


def _describe(exc: ValidationError, prefix: str = "") -> str:
    return "; ".join(f"{'.'.join(str(p) for p in (prefix, *err['loc']) if p != '') or 'data'}: {err['msg']}"
                     for err in exc.errors())


def parse_invocation(body: Any, headers: Mapping[str, str] | None = None) -> Invocation:
    """Build an Invocation from a decoded body (None for GET) and the request headers.

    Raises ValueError naming the field when the body is not `{name: {data, timestamp}}`."""
    headers = headers or {}
    if body is None or body == b"" or body == "":
        body = {}
    if not isinstance(body, Mapping):
        raise ValueError("invocation body must be a JSON object keyed by event name")
    events: dict[str, EventPayload] = {}
    for name, payload in body.items():
        try:
            events[str(name)] = EventPayload.model_validate(payload)
        except ValidationError as exc:
            raise ValueError(f"invocation body: {_describe(exc, prefix=str(name))}") from exc
    lower = {k.lower(): v for k, v in headers.items()}
    key = lower.get(IDEMPOTENCY_HEADER.lower()) or None
    ids = lower.get(EVENT_IDS_HEADER.lower(), "")
    attempt = lower.get(ATTEMPT_HEADER.lower(), "")
    return Invocation(events=events, idempotency_key=key, invocation_id=key,
                      event_ids=[i.strip() for i in ids.split(",") if i.strip()],
                      attempt=int(attempt) if attempt.isdigit() else None,
                      function=lower.get(FUNCTION_HEADER.lower()) or None)


async def read_invocation(request: Request) -> Invocation:
    """FastAPI dependency: the request as an Invocation (422 naming the field when malformed)."""
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else None
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than the parser goes
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body",),
                                       "msg": f"invalid JSON: {exc}", "input": None}]) from exc
    if body is not None and not isinstance(body, dict):
        raise RequestValidationError([{"type": "dict_type", "loc": ("body",),
                                       "msg": "must be an object keyed by event name", "input": body}])
    for name, payload in (body or {}).items():
        try:
            EventPayload.model_validate(payload)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**err, "loc": ("body", name, *err["loc"])} for err in exc.errors()]) from exc
    return parse_invocation(body, request.headers)


def event_data(name: str, model: type[M]) -> Callable[[Request], Coroutine[Any, Any, M]]:
    """FastAPI dependency factory: the data of event `name` validated as `model` (422 otherwise)."""

    async def dependency(request: Request) -> M:
        invocation = await read_invocation(request)
        if name not in invocation:
            raise RequestValidationError([{"type": "missing", "loc": ("body", name), "input": None,
                                           "msg": f"event {name} missing from the invocation"}])
        try:
            return model.model_validate(invocation[name].data)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**err, "loc": ("body", name, "data", *err["loc"])} for err in exc.errors()]) from exc

    dependency.__name__ = f"event_data_{name}"
    return dependency
