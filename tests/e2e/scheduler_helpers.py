"""Helpers for the scheduler's end-to-end tests: start the real scheduler, and real HTTP receivers.

The receiver is a real HTTP server (stdlib ThreadingHTTPServer on 127.0.0.1) that records every
invocation and answers per path from a script: a list of statuses consumed one per request (the
last one repeats) and an optional delay. `StreamingServer` answers with a body as large as asked,
streamed without holding it (a function with a huge reply).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from tests.servers import ServerProcess, free_port, wait_until

PYTHON = str(Path(sys.executable))


@dataclass
class Received:
    path: str
    method: str
    key: str
    event_ids: list[str]
    attempt: int
    body: Any
    at: float
    status: int


@dataclass
class Script:
    statuses: list[int] = field(default_factory=lambda: [200])
    delay: float = 0.0


class Receiver:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.scripts: dict[str, Script] = {}
        self.retry_after: dict[str, str] = {}  # path -> Retry-After header on non-2xx answers
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        return f"127.0.0.1:{self.port}"  # without scheme, as course components register

    def script(self, path: str, statuses: list[int] | None = None, delay: float = 0.0) -> None:
        self.scripts[path] = Script(statuses or [200], delay)

    def for_path(self, path: str, status: int | None = 200) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path and (status is None or r.status == status)]

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                script = receiver.scripts.get(self.path, Script())
                with receiver._lock:
                    status = script.statuses.pop(0) if len(script.statuses) > 1 else script.statuses[0]
                if script.delay:
                    time.sleep(script.delay)
                ids = self.headers.get("X-Event-Ids", "")
                with receiver._lock:
                    receiver.received.append(Received(
                        self.path, self.command, self.headers.get("Idempotency-Key", ""),
                        ids.split(",") if ids else [], int(self.headers.get("X-Invocation-Attempt", "0")),
                        json.loads(raw) if raw else None, time.time(), status))
                payload = b"{}"
                self.send_response(status)
                if status >= 300 and self.path in receiver.retry_after:
                    self.send_header("Retry-After", receiver.retry_after[self.path])
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class StreamingServer:
    """Answers any request to `/<status>/<bytes>` with that status and a body of that many bytes,
    written in 64 KiB chunks; `sent` holds the bytes written per request before it ended or the
    client went away."""

    CHUNK = b"x" * 65536

    def __init__(self) -> None:
        self.sent: list[int] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                _, status, size = self.path.split("/")
                total, written = int(size), 0
                self.send_response(int(status))
                self.send_header("Content-Length", str(total))
                self.end_headers()
                try:
                    while written < total:
                        piece = server.CHUNK[: min(len(server.CHUNK), total - written)]
                        self.wfile.write(piece)
                        written += len(piece)
                except OSError:  # the client closed the connection
                    self.close_connection = True
                server.sent.append(written)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def rss_bytes(pid: int) -> int:
    """The resident set size of a process (VmRSS in /proc/<pid>/status), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class Scheduler:
    """`hometwin scheduler` as a real subprocess under uvicorn, on a given state file."""

    def __init__(self, state: Path, log: Path, env: dict[str, str] | None = None, port: int | None = None):
        self.port = port or free_port()
        self.state = state
        self.env = {"HOMETWIN_SCHEDULER_BACKOFF_INITIAL": "0.05", "HOMETWIN_SCHEDULER_BACKOFF_MAX": "0.5",
                    "HOMETWIN_DATA_DIR": str(state.parent), **(env or {})}
        self.token = self.env.get("HOMETWIN_SCHEDULER_TOKEN")
        self.process = ServerProcess(
            [PYTHON, "-m", "hometwin", "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
             "--state", f"sqlite:///{state}"], log, self.env)
        self.client = httpx.Client(base_url=self.url, timeout=10,
                                   headers={"Authorization": f"Bearer {self.token}"} if self.token else {})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Scheduler:
        self.process.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.process.alive():
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.process.stop()
        raise RuntimeError(f"scheduler did not start:\n{self.process.tail()}")

    def stop(self) -> None:
        self.process.stop()

    def rss(self) -> int:
        """The scheduler process's resident memory, bytes."""
        return rss_bytes(self.process.pid)

    def register(self, name: str, subs: list[str], url: str, method: str = "POST", **extra: Any) -> dict:
        response = self.client.post("/api/function", json={"name": name, "subs": subs, "url": url,
                                                           "method": method, **extra})
        response.raise_for_status()
        return response.json()

    def event(self, name: str, data: Any = None) -> dict:
        response = self.client.post("/api/event", json={"name": name, "data": data})
        assert response.status_code == 202, response.text
        return response.json()

    def invocations(self, status: str | None = None, function: str | None = None) -> list[dict]:
        params = {k: v for k, v in {"status": status, "function": function, "limit": 10000}.items() if v}
        response = self.client.get("/api/invocations", params=params)
        response.raise_for_status()
        return response.json()

    def wait_idle(self, timeout: float = 20.0) -> None:
        """Until nothing is waiting for delivery."""
        wait_until(lambda: not self.invocations("pending"), timeout, what="empty outbox")
