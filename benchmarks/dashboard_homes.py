"""The dashboard's home list for a care service: load times of `/homes` and `/api/homes` as homes grow.

    nice .venv/bin/python benchmarks/dashboard_homes.py [--homes 100,1000,5000] [--loads 9]

N homes (cumulative: 100, then 1,000, ...), set up as benchmarks/fleet.py sets up its monitoring's
homes: each with its own embedded SQLite event database (the last 2 days of one simulated home,
copied), its own model registered under its id (one trained model reused) and its own alert book,
on the local file-system object store. One home in 20 has an open emergency, one in 20 a warning.
The dashboard is `create_app(..., homes=...)` as `hometwin component dashboard` builds it, served by
uvicorn on 127.0.0.1 and loaded over real HTTP (httpx). Per N:
- cold: the first load, which reads every home's alert book, newest event and latest model;
- kept: loads within the refresh interval (the status snapshots are kept), page 1 of 50 rows;
- filtered: `?status=alert` and a search by name, kept snapshots;
- refresh: loads that read every home again (the interval set to 0): what each load cost before the
  snapshots, and what the first load after each interval costs;
median and p95 of `--loads` loads each, and the process's resident memory (VmRSS) after the loads,
giving KiB per home between sizes, and how much of it the list added (VmRSS after the loads minus
before the first one: the kept snapshots and the reads' caches). docs/fleet.md "The dashboard for a
service" explains the figures.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the real-HTTP server helper lives with the tests
sys.path.insert(0, str(ROOT / "benchmarks"))
from fleet import START, TZ, pct, rss_kib  # noqa: E402
from tests.dashboard_helpers import serve  # noqa: E402

from hometwin.adapters.sqlite import SQLiteEventStore  # noqa: E402
from hometwin.adapters.stores import open_object_store  # noqa: E402
from hometwin.clock import Clock  # noqa: E402
from hometwin.components.dashboard import create_app  # noqa: E402
from hometwin.components.wiring import HomePorts  # noqa: E402
from hometwin.config import DashboardSettings  # noqa: E402
from hometwin.domain.alerts import AlertBook, AlertPolicy  # noqa: E402
from hometwin.domain.findings import Finding, FindingKind, Severity  # noqa: E402
from hometwin.domain.model import MODEL_KIND  # noqa: E402
from hometwin.registry import ModelRegistry  # noqa: E402
from hometwin.services.alert_store import AlertStore  # noqa: E402
from hometwin.services.homes import Home  # noqa: E402
from hometwin.services.training import train_and_register  # noqa: E402
from hometwin.sim import simulate  # noqa: E402

TRAIN_DAYS = 28


def template(root: Path) -> tuple[Path, dict[str, Any], Any]:
    """One simulated home: its last 2 days as an event database, and a model trained on its 4 weeks."""
    end = START + timedelta(days=TRAIN_DAYS)
    events = simulate(days=TRAIN_DAYS, seed=1, start=START).events
    version = train_and_register(events, ModelRegistry(open_object_store(f"file://{root / 'template'}"), "template"),
                                 tz=TZ, start=START, end=end).version
    path = root / "template.sqlite"
    with SQLiteEventStore(path) as store:
        store.append(e for e in events if e.time >= end - timedelta(days=2))
    return path, {"document": version.document, "metadata": version.metadata}, end


def add_homes(homes: list[HomePorts], upto: int, root: Path, db: Path, model: dict[str, Any], end: Any) -> None:
    """Homes `len(homes)`..`upto`-1; every 20th has an open emergency, the one after it a warning."""
    models, state = open_object_store(f"file://{root / 'models'}"), open_object_store(f"file://{root / 'state'}")
    policy = AlertPolicy(escalation=("carer@example.org",))
    for i in range(len(homes), upto):
        home_id = f"home{i:05d}"
        path = root / "homes" / f"{home_id}.sqlite"
        path.parent.mkdir(exist_ok=True)
        shutil.copyfile(db, path)
        registry = ModelRegistry(models, home_id)
        registry.register(MODEL_KIND, model["document"], model["metadata"])
        alerts = AlertStore(state, home_id)
        if i % 20 in (0, 1):
            severity = Severity.EMERGENCY if i % 20 == 0 else Severity.WARNING
            finding = Finding(FindingKind.PROLONGED_STAY, severity, "bathroom", end - timedelta(hours=1),
                              observed=3600, expected=600, threshold=2400, percentile=99.7, message="Long stay.")
            book = AlertBook()
            book.advance([finding], end - timedelta(minutes=10), policy)
            alerts.save(book)
        homes.append(HomePorts(Home(id=home_id, name=f"Client {i:05d}", tz=TZ),
                               SQLiteEventStore(path), registry, alerts))


def timed(load: Callable[[], httpx.Response], count: int) -> tuple[float, float]:
    """Median and p95 in milliseconds of `count` loads."""
    seconds = []
    for _ in range(count):
        t0 = time.perf_counter()
        response = load()
        seconds.append(time.perf_counter() - t0)
        response.raise_for_status()
    return statistics.median(seconds) * 1000, pct(seconds, 0.95) * 1000


def measure(homes: list[HomePorts], root: Path, end: Any, loads: int) -> dict[str, Any]:
    settings = DashboardSettings(data_dir=root, dashboard_refresh_seconds=3600, home_id=homes[0].home.id)
    app = create_app(settings, homes=homes, clock=Clock(end, 1.0, time.time()))
    with serve(app) as url, httpx.Client(base_url=url, timeout=600) as client:
        before_list = rss_kib() / 1024  # every home's service and stores, before the list read any
        t0 = time.perf_counter()
        first = client.get("/api/homes")
        cold = (time.perf_counter() - t0) * 1000
        assert first.json()["total"] == len(homes) and first.json()["homes"][0]["status"] == "alert"
        r: dict[str, Any] = {"cold_ms": cold, "before_list_mib": before_list}
        r["api"] = timed(lambda: client.get("/api/homes"), loads)
        r["page"] = timed(lambda: client.get("/homes"), loads)
        r["last_page"] = timed(lambda: client.get("/homes", params={"page": 1_000_000}), loads)
        r["filter"] = timed(lambda: client.get("/homes", params={"status": "alert"}), loads)
        r["search"] = timed(lambda: client.get("/homes", params={"q": f"client {len(homes) - 1:05d}"}), loads)
        app.state.homes.snapshots.max_age = timedelta(0)  # as HOMETWIN_DASHBOARD_REFRESH_SECONDS=0
        r["refresh"] = timed(lambda: client.get("/api/homes"), max(3, loads // 3))
    r["rss_mib"] = rss_kib() / 1024
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--homes", default="100,1000", help="list sizes, ascending (comma-separated), e.g. "
                                                            "100,1000,5000")
    parser.add_argument("--loads", type=int, default=9, help="loads per figure")
    args = parser.parse_args()
    sizes = sorted(int(n) for n in args.homes.split(","))
    root = Path(tempfile.mkdtemp(prefix="hometwin-dashboard-homes-"))
    try:
        db, model, end = template(root)
        homes: list[HomePorts] = []
        base = rss_kib() / 1024
        print(f"resident memory before the homes: {base:.0f} MiB", flush=True)
        print(f"\nhome list over real HTTP, {args.loads} loads per figure, median / p95 in ms, 50 rows per page")
        print(f"{'homes':>6} {'cold':>8} {'/api/homes':>13} {'/homes':>13} {'last page':>13} {'?status=alert':>14} "
              f"{'?q=':>13} {'every load reads':>17} {'RSS':>8} {'KiB/home':>9} {'list MiB':>9}", flush=True)
        previous = (0, base)
        for n in sizes:
            add_homes(homes, n, root, db, model, end)
            r = measure(homes, root, end, args.loads)
            per_home = (r["rss_mib"] - previous[1]) * 1024 / (n - previous[0])
            previous = (n, r["rss_mib"])
            cells = " ".join(f"{r[k][0]:>6.0f}/{r[k][1]:<6.0f}"
                             for k in ("api", "page", "last_page", "filter", "search"))
            print(f"{n:>6} {r['cold_ms']:>8.0f} {cells} {r['refresh'][0]:>8.0f}/{r['refresh'][1]:<8.0f} "
                  f"{r['rss_mib']:>4.0f} MiB {per_home:>9.0f} {r['rss_mib'] - r['before_list_mib']:>9.0f}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
