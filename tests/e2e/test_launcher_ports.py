"""The launcher (the demo's and the end-to-end tests' stack) when a drawn port is taken.

`free_port()` returns a port that is free when drawn; another process can bind it before the child
does (an outgoing connection gets its port from the same range). The child then exits with
"address already in use". The stack must start it again on a newly drawn port, name the scheduler's
new address to the components, and keep a port the caller gave or a restart reuses.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hometwin import launcher


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port held by a listening socket of this test (it answers no HTTP)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_the_scheduler_starts_on_a_new_port_when_the_drawn_one_is_taken(
        tmp_path: Path, taken_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    draws: list[int] = []
    real = launcher.free_port

    def first_taken() -> int:
        draws.append(taken_port if not draws else real())
        return draws[-1]

    monkeypatch.setattr(launcher, "free_port", first_taken)
    stack = launcher.Stack(tmp_path, {"HOMETWIN_DATA_DIR": str(tmp_path / "data")})
    try:
        stack.start_scheduler()
        port = stack.ports["scheduler"]
        assert draws[0] == taken_port and port == draws[-1] != taken_port
        assert stack.env["SCH_SERVICE_NAME"] == f"http://127.0.0.1:{port}"  # what the components call
        assert httpx.get(f"{stack.url('scheduler')}/healthz", timeout=5).status_code == 200
        assert "address already in use" in (tmp_path / "logs" / "scheduler.log").read_text().lower()
        stack.restart("scheduler")
        assert stack.ports["scheduler"] == port  # a restart keeps its address
        assert httpx.get(f"{stack.url('scheduler')}/healthz", timeout=5).status_code == 200
    finally:
        stack.stop_all()


def test_a_taken_port_given_by_the_caller_fails_with_the_childs_log(tmp_path: Path, taken_port: int) -> None:
    stack = launcher.Stack(tmp_path, {"HOMETWIN_DATA_DIR": str(tmp_path / "data")},
                           ports={"scheduler": taken_port})
    try:
        with pytest.raises(RuntimeError, match="address already in use"):
            stack.start_scheduler()
        assert stack.ports["scheduler"] == taken_port
    finally:
        stack.stop_all()
