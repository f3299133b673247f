"""Benchmark of the scheduler: ingest, delivery and end-to-end latency under uvicorn on 127.0.0.1.

    .venv/bin/python benchmarks/scheduler.py [--duration 6] [--concurrency 1,8,32] [--joins 1,2,3]
        [--rate 200] [--synchronous FULL,NORMAL] [--repeat 3]

Starts `hometwin scheduler` (real subprocess, fresh SQLite state, durable acknowledgements) and a
receiver (a tiny aiohttp.web app in its own process; the load also uses aiohttp, the cheapest
client at hand, so that the cores go to the scheduler as far as possible), registers one function
per join size (1: one event, 2 and 3: joins of two and three events), then for each join size:

- closed loop: N concurrent clients post events back to back for `--duration` seconds; prints
  the ingest rate (202s per second), delivered invocations per second (until the outbox is
  empty), the outbox depth at the end of the load (a growing backlog shows here) and the
  end-to-end latency p50/p95/p99 (client send of the event completing a join -> receiver);
- steady: `--rate` events per second, open loop, for `--duration` seconds: latency p50/p95/p99.

Each SQLite mode runs `--repeat` times (modes alternating, a fresh scheduler each run); the
medians of all runs are printed at the end (the machine is shared: read medians, not one run).

Latency is measured with the wall clock of one machine (send time is carried in the event data).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.servers import ServerProcess, free_port, wait_until  # noqa: E402

RECEIVER = """
import json, sys, time
from aiohttp import web
stats = {}
async def stats_view(request):
    payload = dict(stats)
    stats.clear()
    return web.json_response(payload)
async def invocation(request):
    now = time.time()
    body = await request.read()
    sent = max(v["data"]["t"] for v in json.loads(body).values())
    entry = stats.setdefault(request.path, {"n": 0, "lat": [], "first": now, "last": now})
    entry["n"] += 1
    entry["lat"].append(now - sent)
    entry["last"] = now
    return web.Response(text="{}", content_type="application/json")
app = web.Application()
app.router.add_get("/stats", stats_view)
app.router.add_post("/{name}", invocation)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""

SUBS = {1: ["E1"], 2: ["J2a", "J2b"], 3: ["J3a", "J3b", "J3c"]}


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


async def post_event(session: aiohttp.ClientSession, url: str, name: str) -> None:
    async with session.post(f"{url}/api/event", json={"name": name, "data": {"t": time.time()}}) as r:
        await r.read()
        if r.status != 202:
            raise RuntimeError(f"event refused: HTTP {r.status}")


async def closed_loop(url: str, names: list[str], concurrency: int,
                      duration: float) -> tuple[Counter[str], float]:
    """`concurrency` clients post the join's events in turn, back to back; returns (acks, seconds)."""
    acked: Counter[str] = Counter()
    deadline = time.perf_counter() + duration
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def client(offset: int) -> None:
            i = offset
            while time.perf_counter() < deadline:
                await post_event(session, url, names[i % len(names)])
                acked[names[i % len(names)]] += 1
                i += 1

        start = time.perf_counter()
        await asyncio.gather(*(client(0) for _ in range(concurrency)))
        return acked, time.perf_counter() - start


async def steady(url: str, names: list[str], rate: float, duration: float) -> int:
    """Open loop: one event every 1/rate seconds, whatever the answers take."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        tasks = []
        start = time.perf_counter()
        n = int(rate * duration)
        for i in range(n):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post_event(session, url, names[i % len(names)])))
        await asyncio.gather(*tasks)
        return n


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def outbox_depth(client: httpx.Client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("hometwin_scheduler_outbox_depth "):
            return float(line.split()[-1])
    return float("nan")


def drain(client: httpx.Client, receiver: str, expected: int, path: str, timeout: float = 120) -> dict:
    """Wait until the receiver has `expected` invocations on `path`; return its stats."""
    total: dict = {"n": 0, "lat": [], "first": None, "last": None}

    def done() -> bool:
        s = httpx.get(f"{receiver}/stats", timeout=10).json().get(path)
        if s:
            total["n"] += s["n"]
            total["lat"] += s["lat"]
            total["first"] = total["first"] or s["first"]
            total["last"] = s["last"]
        return total["n"] >= expected

    wait_until(done, timeout, interval=0.2, what=f"{expected} deliveries on {path}")
    return total


COLUMNS = ("ingest ev/s", "deliv inv/s", "backlog", "p50 ms", "p95 ms", "p99 ms", "sched CPU ms/ev",
           "recv CPU ms/inv")
Row = tuple[str, str, str]  # (synchronous, join size, load)


def run_once(args: argparse.Namespace, synchronous: str) -> dict[Row, list[float]]:
    """One full pass on a fresh scheduler; prints its table and returns the rows."""
    rows: dict[Row, list[float]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="hometwin-bench-"))
    port, rport = free_port(), free_port()
    receiver_py = tmp / "bench_receiver.py"
    receiver_py.write_text(RECEIVER)
    env = {"HOMETWIN_SCHEDULER_SYNCHRONOUS": synchronous, "HOMETWIN_LOG_LEVEL": "INFO"}
    receiver = ServerProcess([sys.executable, str(receiver_py), str(rport)], tmp / "receiver.log", env).start()
    scheduler = ServerProcess([sys.executable, "-m", "hometwin", "scheduler", "--port", str(port),
                               "--state", f"sqlite:///{tmp / 'state.sqlite'}"], tmp / "scheduler.log", env).start()
    url, rurl = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{rport}"
    try:
        wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200, 30, what="scheduler")
        wait_until(lambda: httpx.get(f"{rurl}/stats").status_code == 200, 30, what="receiver")
        client = httpx.Client(base_url=url, timeout=30)
        for k in (int(j) for j in args.joins.split(",")):
            client.post("/api/function", json={"name": f"join{k}", "subs": SUBS[k],
                                               "url": f"127.0.0.1:{rport}/join{k}", "method": "POST"}
                        ).raise_for_status()
        print(f"# run: synchronous={synchronous}, load average {os.getloadavg()[0]:.2f}", flush=True)
        for k in (int(j) for j in args.joins.split(",")):
            names = SUBS[k]
            leftover: Counter[str] = Counter()
            for c in (int(x) for x in args.concurrency.split(",")):
                start = time.time()
                cpu = cpu_seconds(scheduler.pid), cpu_seconds(receiver.pid)
                acks, seconds = asyncio.run(closed_loop(url, names, c, args.duration))
                acked = sum(acks.values())
                backlog = outbox_depth(client)
                # Joins complete per name: leftovers wait for the next round and join then.
                joins = min(acks[n] + leftover[n] for n in names)
                leftover = Counter({n: acks[n] + leftover[n] - joins for n in names})
                stats = drain(client, rurl, joins, f"/join{k}")
                row = [acked / seconds, stats["n"] / (stats["last"] - start), backlog,
                       pct(stats["lat"], .5), pct(stats["lat"], .95), pct(stats["lat"], .99),
                       (cpu_seconds(scheduler.pid) - cpu[0]) / acked * 1000,
                       (cpu_seconds(receiver.pid) - cpu[1]) / max(stats["n"], 1) * 1000]
                rows[(synchronous, str(k), f"c={c}")] = row
                print_row((synchronous, str(k), f"c={c}"), row)
            sent = asyncio.run(steady(url, names, args.rate, args.duration))
            sent_per_name = Counter(names[i % k] for i in range(sent))
            joins = min(sent_per_name[n] + leftover[n] for n in names)
            stats = drain(client, rurl, joins, f"/join{k}")
            row = [args.rate, args.rate / k, outbox_depth(client), pct(stats["lat"], .5),
                   pct(stats["lat"], .95), pct(stats["lat"], .99), float("nan"), float("nan")]
            rows[(synchronous, str(k), f"{args.rate:g}/s")] = row
            print_row((synchronous, str(k), f"{args.rate:g}/s"), row)
        metrics = client.get("/metrics").text
        batch_sum = _sample(metrics, "hometwin_scheduler_commit_batch_size_sum")
        batch_count = _sample(metrics, "hometwin_scheduler_commit_batch_size_count")
        print(f"# group commit: {batch_count:.0f} commits, {batch_sum / max(batch_count, 1):.1f} commands each")
    finally:
        scheduler.stop()
        receiver.stop()
        subprocess.run(["rm", "-rf", str(tmp)], check=False)
    return rows


def print_header() -> None:
    print(f"{'sync':>6} {'join':>4} {'load':>7} " + " ".join(f"{c:>15}" for c in COLUMNS))


def print_row(key: Row, values: list[float]) -> None:
    cells = " ".join("" .rjust(15) if math.isnan(v) else f"{v:>15.{0 if i < 3 else 1 if i < 6 else 2}f}"
                     for i, v in enumerate(values))
    print(f"{key[0]:>6} {key[1]:>4} {key[2]:>7} {cells}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per load step")
    parser.add_argument("--concurrency", default="1,8,32", help="closed-loop client counts")
    parser.add_argument("--joins", default="1,2,3", help="function shapes: events per join")
    parser.add_argument("--rate", type=float, default=200.0, help="steady open-loop events per second")
    parser.add_argument("--synchronous", default="FULL,NORMAL", help="SQLite modes to run, alternating")
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode; medians are printed at the end")
    args = parser.parse_args()
    modes = [m.strip().upper() for m in args.synchronous.split(",")]
    print(f"# scheduler benchmark: {os.cpu_count()} cores, python {sys.version.split()[0]}, "
          f"{args.duration:g} s per step, {args.repeat} run(s) per mode")
    print_header()
    runs: dict[Row, list[list[float]]] = {}
    for _ in range(args.repeat):
        for mode in modes:
            for key, row in run_once(args, mode).items():
                runs.setdefault(key, []).append(row)
    if args.repeat > 1:
        print(f"# medians of {args.repeat} runs")
        print_header()
        for key, rows in runs.items():
            print_row(key, [statistics.median(column) for column in zip(*rows, strict=True)])


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return float("nan")


if __name__ == "__main__":
    main()
