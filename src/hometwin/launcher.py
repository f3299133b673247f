"""Run the scheduler and the components as real HTTP services on one machine.

The demo and the end-to-end tests use this: every part is its own process (`python -m hometwin
...`), in its own process group, stopped by PID, with its log in a file, so a Ctrl-C or a failing
test never leaves a stray server behind.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

COMPONENTS = ("modeling", "actuation", "monitoring", "dashboard")
PORT_ATTEMPTS = 3  # starts of a child on newly drawn ports, when another process took the drawn one


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ChildProcess:
    """A child in its own process group, logging into a file, stopped by PID."""

    argv: Sequence[str]
    log: Path
    env: Mapping[str, str] | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> ChildProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                list(self.argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env={**os.environ, **(self.env or {})},
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group: what a power cut or an OOM kill looks like."""
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 10.0) -> None:
        if not self.alive():
            return
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def wait_healthy(url: str, process: ChildProcess | None = None, timeout: float = 60.0) -> None:
    """Poll `url` until it answers 200; fail early with the log when the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and not process.alive():
            raise RuntimeError(f"{process.argv[3:5]} exited during start-up:\n{process.tail()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    tail = process.tail() if process is not None else ""
    raise TimeoutError(f"{url} not healthy within {timeout:.0f}s\n{tail}")


@dataclass
class Stack:
    """The scheduler and the four components on 127.0.0.1, sharing one environment.

    Unless `env` names one, a random dispatch secret is generated for the stack, so the scheduler
    signs every invocation and the components accept only signed ones, as in a deployment."""

    workdir: Path
    env: dict[str, str]
    python: str = sys.executable
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, ChildProcess] = field(default_factory=dict)
    _names_scheduler: bool = field(default=True, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.env.get("HOMETWIN_DISPATCH_SECRET_FILE"):
            self.env.setdefault("HOMETWIN_DISPATCH_SECRET", secrets.token_hex(32))
        self._names_scheduler = "SCH_SERVICE_NAME" not in self.env  # else the caller's address stays

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def _start(self, name: str, command: Callable[[int], tuple[list[str], dict[str, str]]]) -> ChildProcess:
        """Start `name` on its port and wait until it is healthy. A port the stack drew is free when
        drawn, not when the child binds it (an outgoing connection can get it from the same range):
        the child then exits with "address already in use", and starts again on a newly drawn port.
        A port given by the caller, or kept by a restart, gets one attempt."""
        drawn = name not in self.ports
        for attempt in range(1, PORT_ATTEMPTS + 1):
            port = self.ports.setdefault(name, free_port())
            argv, env = command(port)
            log = self.workdir / "logs" / f"{name}.log"
            logged_before = log.stat().st_size if log.exists() else 0  # the log is kept across starts
            process = ChildProcess(argv, log, env).start()
            self.processes[name] = process
            try:
                wait_healthy(f"{self.url(name)}/healthz", process)
                return process
            except RuntimeError:
                with open(log, "rb") as f:
                    f.seek(logged_before)
                    taken = b"address already in use" in f.read().lower()
                if not (drawn and taken) or attempt == PORT_ATTEMPTS:
                    raise
                del self.ports[name]
        raise AssertionError("unreachable")

    def start_scheduler(self) -> ChildProcess:
        def command(port: int) -> tuple[list[str], dict[str, str]]:
            state = f"sqlite:///{self.workdir / 'scheduler.sqlite'}"
            if self._names_scheduler:
                self.env["SCH_SERVICE_NAME"] = self.url("scheduler")
            return ([self.python, "-m", "hometwin", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                     "--state", state], self.env)

        return self._start("scheduler", command)

    def start_component(self, name: str) -> ChildProcess:
        def command(port: int) -> tuple[list[str], dict[str, str]]:
            return ([self.python, "-m", "hometwin", "component", name, "--host", "127.0.0.1", "--port", str(port)],
                    {**self.env, "PUBLIC_URL": self.url(name)})

        return self._start(name, command)

    def start_all(self, components: Sequence[str] = COMPONENTS) -> None:
        self.start_scheduler()
        for name in components:
            self.start_component(name)

    def restart(self, name: str, *, kill: bool = False) -> ChildProcess:
        process = self.processes[name]
        process.kill() if kill else process.stop()
        return self.start_scheduler() if name == "scheduler" else self.start_component(name)

    def stop_all(self) -> None:
        # Components first, so none of them logs the scheduler's disappearance as an error.
        for name in reversed(list(self.processes)):
            self.processes[name].stop()
