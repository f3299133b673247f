"""Helpers for the SDK tests (no tests here): uvicorn in a thread, and a scripted scheduler.

`SchedulerDouble` is a stand-in for the scheduler, served over real HTTP by uvicorn on 127.0.0.1.
It exists because the real scheduler cannot be told to answer 429/503/422 on cue or to forget a
function on demand; the e2e tests (tests/e2e/test_sdk_*.py) run the SDK against the real one.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.servers import free_port, wait_until


def reserve_port() -> socket.socket:
    """A socket bound to a free loopback port but not listening: connections to it are refused
    (a server that is down) and no other process can take the port before a server uses it."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class ThreadedServer:
    """A real uvicorn server on 127.0.0.1 in a background thread of the test process."""

    def __init__(self, app: Any, port: int | socket.socket | None = None) -> None:
        self.sock = port if isinstance(port, socket.socket) else None
        self.port = self.sock.getsockname()[1] if self.sock else (port or free_port())
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="on"))
        sockets = [self.sock] if self.sock else None
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": sockets}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThreadedServer:
        self.thread.start()

        def started() -> bool:
            if not self.thread.is_alive() and not self.server.started:
                raise RuntimeError(f"uvicorn on port {self.port} failed to start")
            return bool(self.server.started)

        wait_until(started, timeout=15, what=f"uvicorn on {self.port}")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@dataclass
class SchedulerDouble:
    """Records events and registrations; answers with scripted status codes first."""

    token: str | None = None
    url: str = ""  # set once served
    event_answers: deque[int] = field(default_factory=deque)
    function_answers: deque[int] = field(default_factory=deque)
    events: list[dict[str, Any]] = field(default_factory=list)
    event_attempts: int = 0
    registrations: list[dict[str, Any]] = field(default_factory=list)
    functions: dict[str, dict[str, Any]] = field(default_factory=dict)
    auth_headers: list[str | None] = field(default_factory=list)
    status_calls: int = 0

    def app(self) -> FastAPI:
        app = FastAPI()

        def denied(request: Request) -> JSONResponse | None:
            header = request.headers.get("authorization")
            self.auth_headers.append(header)
            if self.token and header != f"Bearer {self.token}":
                return JSONResponse({"detail": "unauthorized"}, status_code=401)
            return None

        @app.post("/api/event")
        async def event(request: Request) -> Any:
            self.event_attempts += 1
            if (refusal := denied(request)) is not None:
                return refusal
            if self.event_answers:
                code = self.event_answers.popleft()
                return JSONResponse({"detail": "scripted"}, status_code=code, headers={"Retry-After": "0"})
            self.events.append(await request.json())
            return {"accepted": True}

        @app.post("/api/function")
        async def function(request: Request) -> Any:
            if (refusal := denied(request)) is not None:
                return refusal
            if self.function_answers:
                return JSONResponse({"detail": "scripted"}, status_code=self.function_answers.popleft())
            body = await request.json()
            self.registrations.append(body)
            self.functions[body["name"]] = body
            return {"registered": body["name"]}

        @app.get("/api/status")
        async def status() -> Any:
            self.status_calls += 1
            return [{"name": f["name"], "subs": f["subs"], "url": f["url"], "method": f.get("method", "GET"),
                     "last_invoke": None}
                    for f in self.functions.values()]

        return app

    def event_names(self) -> list[str]:
        return [e["name"] for e in self.events]

    def forget(self) -> None:
        """What a scheduler restarted with empty state knows: nothing."""
        self.functions.clear()


def wait_for(check: Any, timeout: float = 10.0, what: str = "condition") -> None:
    wait_until(check, timeout=timeout, interval=0.02, what=what)


def later(seconds: float) -> float:
    return time.monotonic() + seconds


def reset_sdk() -> None:
    """Forget process-wide SDK state between tests: event outboxes and the trigger scheduler."""
    from hometwin.sdk import event, runner

    event._close_outboxes()
    runner.shutdown_shared_scheduler()


class Recorder:
    """An event fabric stand-in for triggers: counts calls (a trigger accepts any callable)."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[float] = []
        self.fail = fail

    def __call__(self) -> None:
        self.calls.append(time.monotonic())
        if self.fail:
            raise RuntimeError("fabric exploded")
