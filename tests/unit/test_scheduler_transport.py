"""AiohttpTransport against a real local HTTP server: a reply body is read up to the cap and no further.

The server streams its reply in chunks without holding it, so a huge reply costs the test nothing;
it counts what the client actually took.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from hometwin.scheduler.transport import AiohttpTransport, Answer
from tests.servers import wait_until

CHUNK = b"x" * 65536


class StreamingServer:
    """Answers `/<status>/<bytes>` with that status and a body of that many bytes, streamed."""

    def __init__(self) -> None:
        self.sent: list[int] = []  # bytes written per request before it ended or the client left
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                _, status, size = self.path.split("/")
                total, written = int(size), 0
                self.send_response(int(status))
                self.send_header("Content-Length", str(total))
                self.end_headers()
                try:
                    while written < total:
                        piece = CHUNK[: min(len(CHUNK), total - written)]
                        self.wfile.write(piece)
                        written += len(piece)
                except OSError:  # the client closed the connection: the cap at work
                    self.close_connection = True
                server.sent.append(written)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[StreamingServer]:
    s = StreamingServer()
    yield s
    s.stop()


def send(url: str, max_reply_bytes: int, times: int = 1) -> list[Answer]:
    async def main() -> list[Answer]:
        transport = AiohttpTransport(max_reply_bytes=max_reply_bytes)
        await transport.open()
        try:
            return [await transport.send("POST", url, b"{}", {}, timeout=30) for _ in range(times)]
        finally:
            await transport.close()

    return asyncio.run(main())


def test_a_huge_reply_is_cut_at_the_cap(server: StreamingServer):
    (answer,) = send(f"{server.url}/200/{512 * 1024 * 1024}", max_reply_bytes=1024 * 1024)
    assert answer == Answer(200, None, reply_cut=True)
    wait_until(lambda: server.sent, 10, what="the server noticed the client left")
    assert server.sent[0] < 64 * 1024 * 1024  # the server was stopped long before 512 MiB


def test_replies_within_the_cap_are_read_whole(server: StreamingServer):
    answers = send(f"{server.url}/503/{300 * 1024}", max_reply_bytes=1024 * 1024, times=2)
    assert answers == [Answer(503, None, reply_cut=False)] * 2
    assert server.sent == [300 * 1024] * 2
