"""Benchmark of the scheduler on PostgreSQL with one and two replicas, against SQLite.

    .venv/bin/python benchmarks/scheduler_postgres.py [--duration 6] [--concurrency 32]
        [--joins 1,3] [--repeat 3] [--setups sqlite,pg1,pg2] [--scheduler-cpu 0.25]
        [--cpu-period-ms 100] [--sample-backends]

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
medians of all repeats are printed at the end with each setup's ratio to SQLite and, with pg1 and
pg2 both run, the ratio of two replicas to one. Read medians and ratios, not one run: every
process here (load, receiver, schedulers, PostgreSQL) shares the cores.

`--scheduler-cpu CORES` emulates a fleet where the scheduler process is the limit (a small node,
the database elsewhere with room to spare): each scheduler process runs in its own cgroup with a
CPU quota of CORES per `--cpu-period-ms` (cgroup v1 `cpu` controller, or v2 `cpu.max`; needs
root), so that PostgreSQL, the clients and the receiver have the rest of the machine. The rows
then also show how much of its budget each replica used and how often it was throttled, and
PostgreSQL's share of a core. The cgroups are removed at the end, also after an error, Ctrl-C or
SIGTERM. Without a writable cgroup `cpu` controller it stops at once with exit code 3.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from scheduler import RECEIVER, SUBS, cpu_seconds, drain, pct, post_event  # noqa: E402
from tests.servers import PostgresServer, ServerProcess, free_port, start_postgres, wait_until  # noqa: E402

COLUMNS = ("ingest ev/s", "deliv inv/s", "p50 ms", "p99 ms", "sched CPU ms/ev", "pg CPU ms/ev",
           "sched cores", "pg cores", "throttled %")
EXIT_NO_CGROUP = 3

# Run beside the load (its own process, so it takes no time from the clients' event loop): what
# the schedulers' database connections are doing, sampled every few milliseconds from
# pg_stat_activity. "lock" is a join batch waiting for another replica's generation row lock.
SAMPLER = """
import json, sys, time
from collections import Counter
import psycopg
url, seconds = sys.argv[1], float(sys.argv[2])
seen = Counter()
with psycopg.connect(url, autocommit=True) as conn:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for state, kind in conn.execute("SELECT state, wait_event_type FROM pg_stat_activity "
                                        "WHERE application_name = 'hometwin-scheduler'"):
            if state == "active":
                seen["lock" if kind == "Lock" else "io" if kind in ("IO", "LWLock") else "running"] += 1
            else:
                seen["in transaction" if state and state.startswith("idle in") else "idle"] += 1
        time.sleep(0.003)
print(json.dumps(seen))
"""
SAMPLED = ("lock", "io", "running", "in transaction", "idle")


class CgroupUnavailable(RuntimeError):
    """No writable cgroup `cpu` controller: --scheduler-cpu cannot confine the schedulers."""


class CpuBudget:
    """One CPU-quota cgroup per scheduler process, each limited to `cores` cores.

    cgroup v1: a directory under the `cpu` controller's mount with `cpu.cfs_quota_us` /
    `cpu.cfs_period_us`; cgroup v2: a directory under the unified mount with `cpu.max` (the mount
    must offer the `cpu` controller to its children). Every directory made is removed by `close`.
    """

    def __init__(self, cores: float, period_ms: float) -> None:
        self.period_us = int(period_ms * 1000)
        self.quota_us = int(cores * self.period_us)
        if not 1000 <= self.period_us <= 1_000_000 or self.quota_us < 1000:
            raise CgroupUnavailable(f"a quota of {cores:g} core per {period_ms:g} ms is outside what the kernel "
                                    "takes (period 1-1000 ms, quota at least 1 ms)")
        self.root, self.v2 = self._find_cpu_controller()
        self.made: list[Path] = []
        self._name = f"hometwin-bench-{os.getpid()}"
        self.close(self.confine(None))  # a probe: fail now, before anything is started

    @staticmethod
    def _find_cpu_controller() -> tuple[Path, bool]:
        mounts = Path("/proc/mounts").read_text().splitlines() if Path("/proc/mounts").exists() else []
        for line in mounts:
            _, where, kind, options, *_ = line.split()
            if kind == "cgroup" and "cpu" in options.split(","):
                return Path(where), False
        for line in mounts:
            _, where, kind, *_ = line.split()
            controllers = Path(where) / "cgroup.controllers"
            if kind == "cgroup2" and controllers.exists() and "cpu" in controllers.read_text().split():
                return Path(where), True
        raise CgroupUnavailable("no cgroup `cpu` controller is mounted (neither v1 `cpu` nor v2 with `cpu` "
                                "in cgroup.controllers)")

    def confine(self, pid: int | None) -> Path:
        """A new cgroup with the quota, `pid` moved into it (all its threads)."""
        group = self.root / f"{self._name}-{len(self.made)}"
        try:
            if self.v2:
                subtree = self.root / "cgroup.subtree_control"
                if "cpu" not in subtree.read_text().split():
                    subtree.write_text("+cpu")
            group.mkdir()
            self.made.append(group)
            if self.v2:
                (group / "cpu.max").write_text(f"{self.quota_us} {self.period_us}")
            else:
                (group / "cpu.cfs_period_us").write_text(str(self.period_us))
                (group / "cpu.cfs_quota_us").write_text(str(self.quota_us))
            if pid is not None:
                (group / "cgroup.procs").write_text(str(pid))
        except OSError as exc:
            raise CgroupUnavailable(f"cannot set a CPU quota in {group} ({exc.strerror or exc}); "
                                    "--scheduler-cpu needs root and a writable cgroup `cpu` controller") from exc
        return group

    @staticmethod
    def throttling(group: Path) -> tuple[int, int]:
        """(periods, throttled periods) so far."""
        stat = dict(line.split() for line in (group / "cpu.stat").read_text().splitlines() if " " in line)
        return int(stat.get("nr_periods", 0)), int(stat.get("nr_throttled", 0))

    def close(self, only: Path | None = None) -> None:
        """Remove the cgroups made (or `only` that one); a process still in one goes back to the root."""
        for group in [only] if only else list(self.made):
            try:
                for pid in (group / "cgroup.procs").read_text().split():
                    (self.root / "cgroup.procs").write_text(pid)
                group.rmdir()
            except FileNotFoundError:
                pass
            except OSError as exc:
                print(f"# could not remove the cgroup {group}: {exc}", file=sys.stderr)
                continue
            self.made.remove(group)


@contextmanager
def cpu_budget(cores: float | None, period_ms: float) -> Iterator[CpuBudget | None]:
    """The budget for the run (None: no quota); its cgroups are removed however the run ends."""
    if cores is None:
        yield None
        return
    try:
        budget = CpuBudget(cores, period_ms)
    except CgroupUnavailable as exc:
        print(f"error: --scheduler-cpu: {exc}", file=sys.stderr)
        sys.exit(EXIT_NO_CGROUP)
    # SIGTERM's default ends the process without running `finally`: make it an exception.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        yield budget
    finally:
        signal.signal(signal.SIGTERM, previous)
        budget.close()


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


def run_setup(args: argparse.Namespace, setup: str, server: PostgresServer, tmp: Path,
              budget: CpuBudget | None) -> dict[str, list[float]]:
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
    schedulers: list[tuple[int, ServerProcess]] = []
    groups: list[Path] = []
    rows: dict[str, list[float]] = {}
    try:
        for n in range(replicas):
            port = free_port()
            schedulers.append((port, ServerProcess(
                [sys.executable, "-m", "hometwin", "scheduler", "--port", str(port), "--state", state],
                tmp / f"{setup}-{n}.log", env).start()))
            if budget is not None:
                groups.append(budget.confine(schedulers[-1][1].pid))
        urls, rurl = [f"http://127.0.0.1:{port}" for port, _ in schedulers], f"http://127.0.0.1:{rport}"
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
            before = [cpu_seconds(p.pid) for _, p in schedulers], postgres_cpu(server)
            throttled = [CpuBudget.throttling(g) for g in groups]
            others = time.process_time(), cpu_seconds(receiver.pid)
            sampler = subprocess.Popen([sys.executable, "-c", SAMPLER, server.admin_url, str(args.duration)],
                                       stdout=subprocess.PIPE, text=True) if args.sample_backends and \
                setup != "sqlite" else None
            acks, seconds = asyncio.run(closed_loop(urls, names, args.concurrency, args.duration))
            # Cores used while the load ran: one figure per replica, then PostgreSQL's.
            during = [cpu_seconds(p.pid) for _, p in schedulers], postgres_cpu(server)
            clients, received = time.process_time() - others[0], cpu_seconds(receiver.pid) - others[1]
            periods = [(b[0] - a[0], b[1] - a[1]) for a, b in zip(throttled, map(CpuBudget.throttling, groups),
                                                                  strict=True)]
            acked = sum(acks.values())
            stats = drain(client, rurl, min(acks[n] for n in names), f"/join{k}")
            cores = [(b - a) / seconds for a, b in zip(before[0], during[0], strict=True)]
            rows[str(k)] = [acked / seconds, stats["n"] / (stats["last"] - start), pct(stats["lat"], .5),
                            pct(stats["lat"], .99),
                            (sum(cpu_seconds(p.pid) for _, p in schedulers) - sum(before[0])) / acked * 1000,
                            (postgres_cpu(server) - before[1]) / acked * 1000,
                            sum(cores), (during[1] - before[1]) / seconds,
                            100 * sum(t for _, t in periods) / max(1, sum(n for n, _ in periods))
                            if periods else float("nan")]
            each = "+".join(f"{c:.2f}" for c in cores)
            if sampler is not None:
                seen = json.loads(sampler.communicate(timeout=30)[0])
                total = max(1, sum(seen.values()))
                each += " (their db connections: " + ", ".join(
                    f"{k} {100 * seen.get(k, 0) / total:.0f}%" for k in SAMPLED) + ")"
            print_row(setup, str(k), rows[str(k)], f"   replicas {each}, clients {clients / seconds:.2f}, "
                      f"receiver {received / seconds:.2f} cores; load {os.getloadavg()[0]:.2f}")
            time.sleep(0.5)  # the leftovers of an incomplete join wait; nothing else in flight
    finally:
        for _, process in schedulers:
            process.stop()
        receiver.stop()
        for group in groups:
            if budget is not None:
                budget.close(group)
    return rows


def print_header() -> None:
    print(f"{'setup':>6} {'join':>4} " + " ".join(f"{c:>15}" for c in COLUMNS), flush=True)


DECIMALS = (0, 0, 1, 1, 2, 2, 2, 2, 0)


def print_row(setup: str, join: str, values: list[float], suffix: str = "") -> None:
    cells = " ".join(f"{v:>15.{d}f}" for v, d in zip(values, DECIMALS, strict=True))
    print(f"{setup:>6} {join:>4} {cells}{suffix}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds of load per join size")
    parser.add_argument("--concurrency", type=int, default=32, help="closed-loop clients (over all replicas)")
    parser.add_argument("--joins", default="1,3", help="function shapes: events per join")
    parser.add_argument("--setups", default="sqlite,pg1,pg2", help="sqlite, pg1 (one replica), pg2 (two)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per setup; medians are printed at the end")
    parser.add_argument("--scheduler-cpu", type=float, default=None, metavar="CORES",
                        help="CPU quota of each scheduler process, in cores (its own cgroup; needs root)")
    parser.add_argument("--sample-backends", action="store_true",
                        help="sample what the schedulers' PostgreSQL connections wait for (lock, io, ...)")
    parser.add_argument("--cpu-period-ms", type=float, default=100.0,
                        help="the quota's period (the kernel's default: 100 ms)")
    args = parser.parse_args()
    setups = [s.strip() for s in args.setups.split(",")]
    if unknown := set(setups) - {"sqlite", "pg1", "pg2"}:
        parser.error(f"unknown setup(s) {', '.join(sorted(unknown))}: choose from sqlite, pg1, pg2")
    if args.scheduler_cpu is not None and not 0 < args.scheduler_cpu <= (os.cpu_count() or 1):
        parser.error(f"--scheduler-cpu must be more than 0 and at most the {os.cpu_count()} cores")
    with cpu_budget(args.scheduler_cpu, args.cpu_period_ms) as budget:
        quota = (f", each scheduler limited to {args.scheduler_cpu:g} core per {args.cpu_period_ms:g} ms "
                 f"(cgroup {'v2' if budget.v2 else 'v1'})" if budget else "")
        print(f"# scheduler on PostgreSQL: {os.cpu_count()} cores, python {sys.version.split()[0]}, "
              f"{args.duration:g} s per step, {args.concurrency} clients, {args.repeat} run(s) per setup{quota}, "
              f"load average {os.getloadavg()[0]:.2f}")
        server = start_postgres()
        runs: dict[tuple[str, str], list[list[float]]] = {}
        loads: list[float] = []
        try:
            print_header()
            with tempfile.TemporaryDirectory(prefix="hometwin-bench-pg-") as tmp:
                for repeat in range(args.repeat):
                    # Alternate the order too, so a drift of the machine's load favours no setup.
                    for setup in setups if repeat % 2 == 0 else setups[::-1]:
                        for join, row in run_setup(args, setup, server, Path(tmp), budget).items():
                            runs.setdefault((setup, join), []).append(row)
                        loads.append(os.getloadavg()[0])
        finally:
            server.stop()
    print_medians(args.repeat, runs, loads)


def print_medians(repeat: int, runs: dict[tuple[str, str], list[list[float]]], loads: list[float]) -> None:
    print(f"# medians of {repeat} runs (load average {min(loads):.2f}-{max(loads):.2f} after the setups); "
          "in brackets: ingest and delivery relative to sqlite, or of pg2 relative to pg1; then the "
          "spread (min-max) of ingest")
    print_header()
    medians = {key: [statistics.median(c) for c in zip(*rows, strict=True)] for key, rows in runs.items()}
    for (setup, join), row in medians.items():
        base = medians.get(("pg1" if setup == "pg2" else "sqlite", join))
        suffix = f"   [{row[0] / base[0]:.2f}x, {row[1] / base[1]:.2f}x]" if base and base is not row else ""
        ingest = [r[0] for r in runs[(setup, join)]]
        print_row(setup, join, row, f"{suffix}   {min(ingest):.0f}-{max(ingest):.0f}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # everything was stopped and removed on the way out
        print("interrupted", file=sys.stderr)
        sys.exit(130)
