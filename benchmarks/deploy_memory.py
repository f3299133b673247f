"""Memory of each HomeTwin process, to size the Kubernetes requests and limits (deploy/k8s).

    .venv/bin/python benchmarks/deploy_memory.py [--duration 240] [--idle 20] [--history-days 56]

Two runs, each process found by its command line under /proc:
1. idle: the scheduler and each component started alone (`hometwin scheduler`, `hometwin component
   NAME`) with the production backends configured but unreachable (InfluxDB events, s3:// stores,
   smtp://), so the clients are imported but nothing is loaded; RSS after `--idle` seconds.
2. working: `hometwin demo` (every part as its own process: `--history-days` of history, training,
   a check per simulated minute, an injected fall, e-mails) for `--duration` seconds while every
   dashboard page is fetched about once a second; the peak (VmHWM) of each process over the run.
Prints MiB per process. The demo uses the embedded stores (SQLite, files, Maildir), so the
working figures lack the InfluxDB/MinIO client buffers; the idle run shows their import cost.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HOMETWIN = [sys.executable, "-m", "hometwin"]
PARTS = ("scheduler", "monitoring", "modeling", "actuation", "dashboard")
DASHBOARD_PAGES = ("/", "/today", "/routine", "/models", "/alerts", "/mail")


def status_kib(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def part_of(pid: int) -> str | None:
    """Which HomeTwin part a process runs, from its command line (None: not one of ours)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    words = [a.decode(errors="replace") for a in argv]
    if "hometwin" not in words:
        return None
    rest = words[words.index("hometwin") + 1:]
    if rest[:1] == ["scheduler"]:
        return "scheduler"
    if rest[:1] == ["component"] and len(rest) > 1:
        return rest[1]
    return None


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer")


def idle_run(workdir: Path, idle: float) -> dict[str, int]:
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there: the backends are "down"
    env = {**os.environ, "HOMETWIN_DATA_DIR": str(workdir / "data"), "HOMETWIN_EVENTS": f"influxdb://{dead}",
           "HOMETWIN_MODEL_STORE": "s3://hometwin/models", "HOMETWIN_STATE_STORE": "s3://hometwin/state",
           "HOMETWIN_S3_ENDPOINT": f"http://{dead}", "HOMETWIN_S3_ACCESS_KEY": "unused-key",
           "HOMETWIN_S3_SECRET_KEY": "unused-secret", "HOMETWIN_SMTP_URL": f"smtp://{dead}",
           "HOMETWIN_CAREGIVERS": "carer@example.org"}
    sched_port = free_port()
    env["SCH_SERVICE_NAME"] = f"http://127.0.0.1:{sched_port}"
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        procs["scheduler"] = subprocess.Popen(
            [*HOMETWIN, "scheduler", "--host", "127.0.0.1", "--port", str(sched_port),
             "--state", f"sqlite:///{workdir}/scheduler.sqlite"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_http(f"http://127.0.0.1:{sched_port}/healthz")
        for name in PARTS[1:]:
            port = free_port()
            procs[name] = subprocess.Popen(
                [*HOMETWIN, "component", name, "--host", "127.0.0.1", "--port", str(port)],
                env={**env, "PUBLIC_URL": f"http://127.0.0.1:{port}"},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            wait_http(f"http://127.0.0.1:{port}/healthz")
        time.sleep(idle)
        return {name: status_kib(p.pid, "VmRSS") or 0 for name, p in procs.items()}
    finally:
        for p in procs.values():
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs.values():
            p.wait(15)


def listen_port(pid: int) -> int | None:
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    return int(argv[argv.index("--port") + 1]) if "--port" in argv else None


def browse(port: int) -> None:
    """What a caregiver's phone does: every page of the dashboard once."""
    for page in DASHBOARD_PAGES:
        try:
            httpx.get(f"http://127.0.0.1:{port}{page}", timeout=30)
        except httpx.HTTPError:
            pass


def working_run(workdir: Path, duration: float, history_days: int) -> dict[str, int]:
    demo = subprocess.Popen([*HOMETWIN, "demo", "--dir", str(workdir / "demo"), "--duration", str(duration),
                             "--history-days", str(history_days), "--inject-after", str(min(2.0, duration / 120))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    peak: dict[str, int] = {}
    try:
        while demo.poll() is None:
            for pid in descendants(demo.pid):
                name = part_of(pid)
                hwm = status_kib(pid, "VmHWM") if name else None
                if name and hwm:
                    peak[name] = max(peak.get(name, 0), hwm)
                if name == "dashboard" and (port := listen_port(pid)):
                    browse(port)
            time.sleep(1.0)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGTERM)
            demo.wait(30)
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=240.0, help="seconds of demo (working run)")
    parser.add_argument("--idle", type=float, default=20.0, help="seconds before the idle sample")
    parser.add_argument("--history-days", type=int, default=56,
                        help="days of simulated history (56: the modeling's default training window)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hometwin-mem-") as tmp:
        idle = idle_run(Path(tmp), args.idle)
        working = working_run(Path(tmp), args.duration, args.history_days)
    print(f"{'part':<11} {'idle RSS MiB':>13} {'working peak MiB':>17}")
    for name in PARTS:
        print(f"{name:<11} {idle.get(name, 0) / 1024:>13.1f} {working.get(name, 0) / 1024:>17.1f}")


if __name__ == "__main__":
    main()
