"""`DispatchGuard`: the ASGI middleware by which a component accepts invocations only from its scheduler.

`LocalGateway` wraps its whole app in it when a dispatch secret is configured (HOMETWIN_DISPATCH_SECRET
or ..._FILE). Per request path:

- health routes (`/healthz`, `/readyz`, `/metrics`): open, for probes;
- a deployed function's path: the scheduler's `X-HomeTwin-Signature` must verify (the rule is in
  hometwin/dispatch_signature.py): 401 when it is missing; 403 when it is malformed, stale or does
  not match the body and invocation headers. The form and age are checked before the body is read;
- anything else (`/docs`, `/openapi.json`, a component's own routes such as `/status`):
  `Authorization: Bearer <the dispatch secret>`, 401 when missing, 403 when wrong.

Refusals are 4xx, which the scheduler does not retry: a component whose secret differs from the
scheduler's dead-letters its invocations at once (replay them once the secrets agree).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from hometwin.asgi_body import replay_body
from hometwin.dispatch_signature import SIGNATURE_HEADER, DispatchSigner, SignatureError, signed_target

HEALTH_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# An invocation holds at most a join of a few events (the scheduler caps each at 1 MiB by default);
# a larger body is refused before it is buffered, whatever its signature claims.
MAX_SIGNED_BODY_BYTES = 16 * 1024 * 1024


class DispatchGuard:
    def __init__(self, app: ASGIApp, *, signer: DispatchSigner, is_function: Callable[[str], bool],
                 clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self.signer = signer
        self.is_function = is_function
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in HEALTH_PATHS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if scope["type"] == "websocket":  # no component serves one; never without the bearer
            if self._bearer_refusal(headers) is None:
                await self.app(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        if not self.is_function(scope["path"]):
            refusal = self._bearer_refusal(headers)
            if refusal is None:
                await self.app(scope, receive, send)
            else:
                await _answer(send, *refusal, challenge="Bearer")
            return
        try:
            stamped = self.signer.parse(headers.get(SIGNATURE_HEADER.lower()), self.clock())
        except SignatureError as exc:
            await _answer(send, exc.status, exc.reason)
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_SIGNED_BODY_BYTES:
            await _answer(send, 413, f"invocation body over {MAX_SIGNED_BODY_BYTES} bytes")
            return
        body = await _read_body(receive)
        if body is None:
            await _answer(send, 413, f"invocation body over {MAX_SIGNED_BODY_BYTES} bytes")
            return
        target = signed_target(scope["path"], scope.get("query_string", b"").decode("latin-1"))
        try:
            self.signer.verify(stamped, scope["method"], target, headers, body)
        except SignatureError as exc:
            await _answer(send, exc.status, exc.reason)
            return
        await self.app(scope, replay_body(body, receive), send)

    def _bearer_refusal(self, headers: dict[str, str]) -> tuple[int, str] | None:
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return 401, "this route needs `Authorization: Bearer <the dispatch secret>`"
        if not self.signer.token_ok(given.strip()):
            return 403, "wrong bearer token"
        return None


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body; None once it grows past the limit (a chunked body has no length)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: nothing to verify
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_SIGNED_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)



async def _answer(send: Send, status: int, detail: str, challenge: str = "HomeTwin-Signature") -> None:
    payload = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if status == 401:  # what the client should have sent
        headers.append((b"www-authenticate", challenge.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
