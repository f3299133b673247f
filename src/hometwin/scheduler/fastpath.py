"""A lean path for the hot route, `POST /api/event`, as pure ASGI middleware.

Under load the scheduler is CPU-bound, and FastAPI's request machinery (dependency solving, the
pydantic model, the exception and exit-stack layers) cost about as much CPU per event as the
transaction itself. This middleware answers only the plain good case itself: a JSON object with a
string `name` of 1-200 characters, an authorised request and a running writer. Everything else
(bad JSON, wrong types, a missing token, a stopped writer, any other route) goes on to the FastAPI
app unchanged, with the body replayed, so every error answer is exactly the app's. The answer is
the same 202 with the same JSON as the FastAPI route, sent only after the commit (both call
`accept`). Body size limits stay with `BodySizeLimit`, which wraps this middleware. The body is
parsed by the routes' strict parser (json_input.py), so hostile JSON goes to the route's 422; an
event over the fan-out budget gets the route's 413 here.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from hometwin.asgi_body import replay_body
from hometwin.scheduler import json_input
from hometwin.scheduler.errors import LimitExceeded, StoreUnavailable

NAME_MAX = 200  # as `Name` in app.py


class EventFastPath:
    def __init__(self, app: ASGIApp, accept: Callable[[str, Any, int], Awaitable[bytes]],
                 ready: Callable[[], bool], token: str | None) -> None:
        self.app = app
        self.accept = accept
        self.ready = ready
        self.bearer = None if token is None else token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/api/event"
                and self._json_and_authorised(scope["headers"]) and self.ready()):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        event = _plain_event(body)
        if event is None:
            await self.app(scope, replay_body(body, receive), send)
            return
        try:
            answer = await self.accept(*event, len(body))
        except StoreUnavailable as exc:
            await _send_json(send, 503, json.dumps({"detail": f"state store unavailable: {exc}"}).encode())
            return
        except LimitExceeded as exc:  # the route's answer too (app.py)
            await _send_json(send, exc.http_status, json.dumps({"detail": str(exc)}).encode())
            return
        await _send_json(send, 202, answer)

    def _json_and_authorised(self, headers: list[tuple[bytes, bytes]]) -> bool:
        is_json = authorised = False
        for name, value in headers:
            if name == b"content-type":
                is_json = value.split(b";", 1)[0].strip().lower() == b"application/json"
            elif name == b"authorization" and self.bearer is not None:
                scheme, _, given = value.partition(b" ")
                authorised = scheme.lower() == b"bearer" and secrets.compare_digest(given.strip(), self.bearer)
        return is_json and (authorised or self.bearer is None)


def _plain_event(body: bytes) -> tuple[str, Any] | None:
    """(name, data) when the body is what EventRequest accepts without a complaint, else None."""
    try:
        doc = json_input.loads(body)  # the routes' strict parser: hostile JSON goes to the route's 422
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    name = doc.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= NAME_MAX:
        return None
    return name, doc.get("data")



async def _send_json(send: Send, status: int, payload: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})
