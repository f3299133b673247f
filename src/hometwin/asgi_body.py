"""Hand an ASGI app a request body that a middleware already read.

The scheduler's fast path and the SDK's signature check both read the whole body before they
decide; the app behind them must still be able to read it. A leaf: it imports nothing of HomeTwin.
"""

from __future__ import annotations

from starlette.types import Message, Receive


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then whatever the client does next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
