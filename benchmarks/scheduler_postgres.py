"""Benchmark of the scheduler on PostgreSQL with one and two replicas, against SQLite.

    .venv/bin/python benchmarks/scheduler_postgres.py [--duration 6] [--concurrency 32]
        [--joins 1,3] [--repeat 3] [--setups sqlite,pg1,pg2]

Starts a real PostgreSQL 15 (tests/servers.py: Debian's server, its own data directory on
127.0.0.1, default settings: fsync and synchronous_commit on) and a receiver (the aiohttp app of
benchmarks/scheduler.py). For each setup, a fresh state (a new SQLite file, or a new database):

- sqlite: one `hometwin scheduler` on SQLite (FULL, the default durability);
- pg1: one scheduler on `postgresql://` (synchronous_commit on, the default);
- pg2: two schedulers on the same database, the clients split between them.

For each join size (1: one event per invocation, 3: joins of three events), `--concurrency`
clients post the join's events back to back for `--duration` seconds (closed loop, clients spread
over the replicas), then the receiver is drained. Printed per setup and join size: events
acknowledged per second, invocations delivered per second (until the last one arrives), the
end-to-end latency p50/p99 (client send -> receiver), and the CPU spent per event by the
scheduler process(es) and by the PostgreSQL server. The setups alternate within each repeat; the
medians of all repeats are printed at the end with each setup's ratio to SQLite. Read medians and
ratios, not one run: every process here (load, receiver, schedulers, PostgreSQL) shares the cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from scheduler import RECEIVER, SUBS, cpu_seconds, drain, pct, post_event  # noqa: E402
from tests.servers import PostgresServer, ServerProcess, free_port, start_postgres, wait_until  # noqa: E402

COLUMNS = ("ingest ev/s", "deliv inv/s", "p50 ms", "p99 ms", "sched CPU ms/ev", "pg CPU ms/ev")


def postgres_cpu(server: PostgresServer) -> float:
    """CPU seconds so far of the postmaster and all its children (the backends doing the work)."""
    postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
    total = cpu_seconds(postmaster)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == postmaster:
                total += cpu_seconds(int(entry.name))
        except (OSError, ValueError):
            continue  # the process ended meanwhile
    return total


async def closed_loop(urls: list[str], names: list[str], concurrency: int,
                      duration: float) -> tuple[Counter[str], float]:
    """`concurrency` clients, client i on replica i mod len(urls), post the join's events in turn."""
    acked: Counter[str] = Counter()
    deadline = time.perf_counter() + duration
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def client(index: int) -> None:
            url, i = urls[index % len(urls)], index
            while time.perf_counter() < deadline:
                await post_event(session, url, names[i % len(names)])
                acked[names[i % len(names)]] += 1
                i += 1

        start = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(concurrency)))
        return acked, time.perf_counter() - start


def run_setup(args: argparse.Namespace, setup: str, server: PostgresServer, tmp: Path) -> dict[str, list[float]]:
    """One setup on a fresh state: {join size: row}."""
    rport = free_port()
    (tmp / "bench_receiver.py").write_text(RECEIVER)
    receiver = ServerProcess([sys.executable, str(tmp / "bench_receiver.py"), str(rport)], tmp / "receiver.log",
                             {"HOMETWIN_LOG_LEVEL": "WARNING"}).start()
    if setup == "sqlite":
        state, replicas = f"sqlite:///{tmp / f'state-{time.time_ns()}.sqlite'}", 1
    else:
        state, replicas = server.new_database("bench"), 1 if setup == "pg1" else 2
    env = {"HOMETWIN_LOG_LEVEL": "WARNING"}
    schedulers = []
    for n in range(replicas):
        port = free_port()
        schedulers.append((port, ServerProcess(
            [sys.executable, "-m", "hometwin", "scheduler", "--port", str(port), "--state", state],
            tmp / f"{setup}-{n}.log", env).start()))
    urls, rurl = [f"http://127.0.0.1:{port}" for port, _ in schedulers], f"http://127.0.0.1:{rport}"
    rows: dict[str, list[float]] = {}
    try:
        for url in urls:
            wait_until(lambda url=url: httpx.get(f"{url}/readyz").status_code == 200, 30, what="scheduler")
        wait_until(lambda: httpx.get(f"{rurl}/stats").status_code == 200, 30, what="receiver")
        client = httpx.Client(base_url=urls[0], timeout=30)
        for k in (int(j) for j in args.joins.split(",")):
            client.post("/api/function", json={"name": f"join{k}", "subs": SUBS[k], "url": f"127.0.0.1:{rport}/join{k}",
                                               "method": "POST"}).raise_for_status()
        for k in (int(j) for j in args.joins.split(",")):
            names = SUBS[k]
            start = time.time()
            cpu = sum(cpu_seconds(p.pid) for _, p in schedulers), postgres_cpu(server)
            acks, seconds = asyncio.run(closed_loop(urls, names, args.concurrency, args.duration))
            acked = sum(acks.values())
            stats = drain(client, rurl, min(acks[n] for n in names), f"/join{k}")
            rows[str(k)] = [acked / seconds, stats["n"] / (stats["last"] - start), pct(stats["lat"], .5),
                            pct(stats["lat"], .99),
                            (sum(cpu_seconds(p.pid) for _, p in schedulers) - cpu[0]) / acked * 1000,
                            (postgres_cpu(server) - cpu[1]) / acked * 1000]
            print_row(setup, str(k), rows[str(k)])
            time.sleep(0.5)  # the leftovers of an incomplete join wait; nothing else in flight
    finally:
        for _, process in schedulers:
            process.stop()
        receiver.stop()
    return rows


def print_header() -> None:
    print(f"{'setup':>6} {'join':>4} " + " ".join(f"{c:>15}" for c in COLUMNS), flush=True)


def print_row(setup: str, join: str, values: list[float], suffix: str = "") -> None:
    cells = " ".join(f"{v:>15.{0 if i < 2 else 1 if i < 4 else 2}f}" for i, v in enumerate(values))
    print(f"{setup:>6} {join:>4} {cells}{suffix}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds of load per join size")
    parser.add_argument("--concurrency", type=int, default=32, help="closed-loop clients (over all replicas)")
    parser.add_argument("--joins", default="1,3", help="function shapes: events per join")
    parser.add_argument("--setups", default="sqlite,pg1,pg2", help="sqlite, pg1 (one replica), pg2 (two)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per setup; medians are printed at the end")
    args = parser.parse_args()
    setups = [s.strip() for s in args.setups.split(",")]
    print(f"# scheduler on PostgreSQL: {os.cpu_count()} cores, python {sys.version.split()[0]}, "
          f"{args.duration:g} s per step, {args.concurrency} clients, {args.repeat} run(s) per setup, "
          f"load average {os.getloadavg()[0]:.2f}")
    server = start_postgres()
    runs: dict[tuple[str, str], list[list[float]]] = {}
    try:
        print_header()
        with tempfile.TemporaryDirectory(prefix="hometwin-bench-pg-") as tmp:
            for _ in range(args.repeat):
                for setup in setups:
                    for join, row in run_setup(args, setup, server, Path(tmp)).items():
                        runs.setdefault((setup, join), []).append(row)
    finally:
        server.stop()
    print(f"# medians of {args.repeat} runs; in brackets: ingest and delivery relative to sqlite")
    print_header()
    medians = {key: [statistics.median(c) for c in zip(*rows, strict=True)] for key, rows in runs.items()}
    for (setup, join), row in medians.items():
        base = medians.get(("sqlite", join))
        suffix = f"   [{row[0] / base[0]:.2f}x, {row[1] / base[1]:.2f}x]" if base else ""
        print_row(setup, join, row, suffix)


if __name__ == "__main__":
    main()
