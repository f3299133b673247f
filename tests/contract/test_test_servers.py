"""The test servers start only when the program just started is the one on its port.

A port drawn by `free_port()` is free when drawn, not when the server binds it: another process
(another test's server, a parallel run) can take it in between. The server then exits with
"address already in use" while the other process answers every "is the port open?" check, and the
tests would talk to the wrong server. Here a squatter holds the first drawn port: a start must not
take the squatter for the server, and must come up on a newly drawn port.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests import servers


class _Healthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # answers 200 on every path, as a health check wants
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def squatter():
    """An HTTP server on a free port that answers 200 everywhere (passes a TCP and a health check)."""
    server = HTTPServer(("127.0.0.1", 0), _Healthy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port
    server.shutdown()
    server.server_close()


@pytest.fixture
def squatted_first_draw(monkeypatch: pytest.MonkeyPatch, squatter: int) -> int:
    """`free_port()` hands out the squatter's port once, then really free ones."""
    draw = servers.free_port
    handed = []

    def first_squatted() -> int:
        if not handed:
            handed.append(squatter)
            return squatter
        return draw()

    monkeypatch.setattr(servers, "free_port", first_squatted)
    return squatter


def _mine(process: servers.ServerProcess, port: int) -> bool:
    return process.alive() and servers.listens(process, port)


def test_an_smtp_server_on_a_taken_port_fails_with_its_log(tmp_path: Path, squatter: int) -> None:
    with pytest.raises(RuntimeError, match="aiosmtpd did not start"):
        smtp = servers.start_smtp(tmp_path, port=squatter)
        smtp.process.stop()


def test_an_smtp_server_comes_up_on_another_port_when_the_drawn_one_is_taken(
        tmp_path: Path, squatted_first_draw: int) -> None:
    smtp = servers.start_smtp(tmp_path)
    try:
        assert smtp.port != squatted_first_draw
        assert _mine(smtp.process, smtp.port)
        with socket.create_connection((smtp.host, smtp.port), timeout=5) as conn:
            assert conn.recv(100).startswith(b"220")  # an SMTP greeting, not the squatter's HTTP
    finally:
        smtp.process.stop()


def test_victoria_comes_up_on_another_port_when_the_drawn_one_is_taken(
        tmp_path: Path, squatted_first_draw: int) -> None:
    if servers.victoria_binary() is None:
        pytest.skip("victoria-metrics is not installed (Debian package victoria-metrics; .ci/system-deps)")
    vm = servers.start_victoria(tmp_path)
    try:
        assert not vm.url.endswith(f":{squatted_first_draw}")
        assert _mine(vm.process, int(vm.url.rsplit(":", 1)[1]))
    finally:
        vm.process.stop()


def test_mosquitto_comes_up_on_another_port_when_the_drawn_one_is_taken(
        tmp_path: Path, squatted_first_draw: int) -> None:
    if servers.mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed (Debian package mosquitto; .ci/system-deps)")
    broker = servers.start_mosquitto(tmp_path)
    try:
        assert broker.port != squatted_first_draw
        assert broker.process is not None and _mine(broker.process, broker.port)
        broker.restart()  # a restart keeps its port
        assert broker.process is not None and _mine(broker.process, broker.port)
    finally:
        broker.stop()
