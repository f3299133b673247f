"""Strict JSON for request bodies: the one parser of the FastAPI routes and the event fast path.

Python's `json.loads` accepts more than JSON (RFC 8259), and some of what it accepts breaks the
scheduler later, after the event was stored and acknowledged:

- `NaN`, `Infinity`, `-Infinity` and overflowing numbers (`1e999` becomes `inf`): stored, then
  every answer that contains them fails to encode (`GET /api/invocations` answered 500), and the
  function would receive a body that is not JSON.
- Lone surrogates (`"\\ud800"`, or their UTF-8 bytes): a str that cannot be encoded as UTF-8, so
  storing it, or echoing it in a 422, raised UnicodeEncodeError (a 500).
- Deep nesting: about 1,000 levels exhaust the parser's recursion (500 on the fast path), and a
  few hundred were stored and then broke the encoding of every listing that held them.

`loads` refuses all of these with `json.JSONDecodeError`, which FastAPI answers with its usual
422 `json_invalid` (the message says what was wrong). Numbers with more than 4,300 digits, which
Python refuses with a ValueError, are a JSONDecodeError here too. The body must be UTF-8
(RFC 8259 section 8.1); a leading byte order mark is allowed, as `json.loads` allows it on bytes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

from fastapi import Request, Response
from fastapi.routing import APIRoute

MAX_DEPTH = 64  # nested arrays/objects in one request body; docs/scheduler.md, Limits

# A \u escape of a surrogate: a lone one becomes an unencodable str (a pair is fine, so only a hint).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON (numbers must be finite)")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def loads(body: bytes | str) -> Any:
    """The JSON document in `body`; json.JSONDecodeError (a ValueError) for anything hostile."""
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8-sig")  # strict: refuses invalid UTF-8 and encoded surrogates
        except UnicodeDecodeError as exc:
            raise json.JSONDecodeError("body is not UTF-8", repr(body[:40]), exc.start) from None
    else:
        text = body
    try:
        doc = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise json.JSONDecodeError(f"nested deeper than {MAX_DEPTH} levels", "", 0) from None
    except ValueError as exc:  # NaN/Infinity, 1e999, an int of more than 4,300 digits
        raise json.JSONDecodeError(str(exc), "", 0) from None
    # Both walks are skipped for the usual small event: a document with no more brackets than the
    # limit cannot nest deeper, and one without a surrogate escape holds no lone surrogate.
    deep = text.count("[") + text.count("{") > MAX_DEPTH
    if deep or _SURROGATE_ESCAPE.search(text):
        _check(doc)
    return doc


def _check(doc: Any) -> None:
    """Depth at most MAX_DEPTH and every str (keys too) encodable as UTF-8; iterative, so a deep
    document cannot exhaust the stack here either."""
    stack: list[tuple[Any, int]] = [(doc, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _encodable(value)
        elif isinstance(value, dict | list):
            depth += 1
            if depth > MAX_DEPTH:
                raise json.JSONDecodeError(f"nested deeper than {MAX_DEPTH} levels", "", 0)
            if isinstance(value, dict):
                for key, item in value.items():
                    _encodable(key)
                    stack.append((item, depth))
            else:
                stack.extend((item, depth) for item in value)


def _encodable(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise json.JSONDecodeError("a string holds a lone surrogate (not Unicode text)", "", 0) from None


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class StrictJsonRoute(APIRoute):
    """Routes whose JSON bodies are parsed by `loads` (FastAPI's custom-request-class pattern)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict
