"""Logging in and out: the throttled login form and a logout that ends the session server-side.

The login page (`GET /login`), the form (`POST /login`) and `POST /logout`.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from .api import gate
from .auth import safe_next
from .views import render

router = APIRouter(include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = Query("/")) -> HTMLResponse:  # noqa: A002
    return render(request, "login.html", "login", next=safe_next(next), error=None,
                  method=gate(request).method)


@router.post("/login")
async def login(request: Request, secret: str = Form("", max_length=1000), account: str = Form("", max_length=63),
                next: str = Form("/")) -> Response:  # noqa: A002
    g = gate(request)
    client = g.client(request)
    if g.required and (wait := g.throttle.retry_after(client)):
        return too_many_attempts(request, wait, next_page=next)
    # scrypt takes a while: off the event loop, like the wait below.
    user = await asyncio.to_thread(g.login, secret, account.strip()) if g.required else None
    if user is None:
        if g.required:
            g.throttle.failed(client)  # before the wait, so parallel guesses count at once
        await asyncio.sleep(1.0)  # slows guessing down; the event loop keeps serving others
        return render(request, "login.html", "login", next=safe_next(next), method=g.method,
                      error="That did not match. Try again.", status_code=401)
    g.throttle.succeeded(client)
    response = RedirectResponse(safe_next(next), status_code=303)
    g.set_cookie(response, g.signer.new(user), request)
    return response


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    g = gate(request)
    session = g.session(request)
    if session is None or not g.signer.csrf_ok(session, csrf):
        raise HTTPException(403, "the form has expired; reload the page and try again")
    g.end(session)
    response = RedirectResponse("/login", status_code=303)
    g.delete_cookie(response, request)
    return response


def too_many_attempts(request: Request, wait_s: int, *, next_page: str = "/") -> Response:
    """429 with Retry-After: the login page saying how long to wait."""
    g = gate(request)
    minutes = -(-wait_s // 60)
    response = render(request, "login.html", "login", next=safe_next(next_page), method=g.method,
                      error=f"Too many wrong attempts. Try again in {minutes} minute{'s' if minutes != 1 else ''}.",
                      status_code=429)
    response.headers["Retry-After"] = str(wait_s)
    return response
