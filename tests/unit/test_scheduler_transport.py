"""AiohttpTransport against a real local HTTP server: a reply body is read up to the cap and no further.

The server (tests/e2e/scheduler_helpers.py) streams its reply in chunks without holding it, so a
huge reply costs the test nothing; it counts what the client actually took.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from hometwin.scheduler.transport import AiohttpTransport, Answer
from tests.e2e.scheduler_helpers import StreamingServer
from tests.servers import wait_until


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
