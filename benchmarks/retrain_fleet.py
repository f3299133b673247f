"""Retraining a fleet: N simulated homes through the modeling component's weekly retrain.

    nice .venv/bin/python benchmarks/retrain_fleet.py [--homes 40] [--days 365] [--workers 1,2] [--repeat 1]

Setup: N homes, each its own `--days` of the resident simulator (`hometwin.sim.simulate`, one seed
each), in the embedded store as a fleet keeps them (`<data dir>/homes/<id>.sqlite`), and a homes file
naming them. The modeling component is built from the environment exactly as `hometwin component
modeling` builds it (`components.modeling.create_app` over `build_ports`, the file-system model and
state stores), with HOMETWIN_MODELING_WINDOW_DAYS = `--window-days` (default: the whole period, so a
home's training is a home-year) and the default calibration; its clock stands at the end of the
simulated period and its events go nowhere. The weekly `TrainOccupancyModelEvent` (no home named) is
posted to its route (Starlette's TestClient: the app's own event loop and lifespan, in this process).

A first round (with the most workers) registers every home's first model and is reported apart; the
measured rounds are then weekly retrains (each compares with the previous model), per worker count
interleaved `--repeat` times, median reported: wall time of the invocation, CPU time of this process
(the component) and of its worker processes (reaped at the app's shutdown), home-years per minute,
the peak resident memory of the largest worker process so far (the workers stop after each
retrain, so it is read from the reaped children's accounting), the workers left running after the round
and of this process, and the extrapolation
to 1,000 homes with its arithmetic. The load average is printed with every round: the machine is
shared, read the figures with it. docs/fleet.md ("Retraining") has the results.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fleet import START, TickClock, rss_kib  # noqa: E402

from hometwin.adapters.sqlite import SQLiteEventStore  # noqa: E402
from hometwin.sim import simulate  # noqa: E402


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def build_fleet(root: Path, homes: int, days: int) -> None:
    """`homes` homes of `days` simulated days each, in their own SQLite files, and the homes file."""
    (root / "homes").mkdir(parents=True)
    began = time.monotonic()
    for i in range(homes):
        events = simulate(days=days, seed=i + 1, start=START).events
        with SQLiteEventStore(root / "homes" / f"home{i:04d}.sqlite") as store:
            store.append(events)
        if i == 0:
            print(f"a home: {len(events):,} events over {days} days", flush=True)
    (root / "homes.yaml").write_text("homes:\n" + "".join(f"  - id: home{i:04d}\n" for i in range(homes)))
    print(f"{homes} homes simulated and stored in {time.monotonic() - began:.0f} s", flush=True)


def retrain(workers: int, key: str, days: int) -> dict[str, float]:
    """One weekly retrain of the whole fleet by a fresh modeling component with `workers` workers."""
    from fastapi.testclient import TestClient

    from hometwin.components.modeling import create_app
    from hometwin.components.wiring import build_ports
    from hometwin.config import ModelingSettings

    ports = dataclasses.replace(build_ports(), clock=TickClock(START + timedelta(days=days)))
    app = create_app(ModelingSettings(modeling_workers=workers), ports=ports, emit=lambda name, data: True)
    load = os.getloadavg()[0]
    self0, children0 = cpu_seconds(resource.RUSAGE_SELF), cpu_seconds(resource.RUSAGE_CHILDREN)
    with TestClient(app) as client:
        began = time.monotonic()
        answer = client.post("/api/train_occupancy_model", headers={"Idempotency-Key": key},
                             json={"TrainOccupancyModelEvent": {"data": {"reason": "schedule"}}})
        wall = time.monotonic() - began
        left = len(multiprocessing.active_children())  # the workers stop once no training is in flight
    # Out of the `with`: the app's shutdown stopped (and so reaped) the workers, their CPU is counted.
    component = cpu_seconds(resource.RUSAGE_SELF) - self0
    in_workers = cpu_seconds(resource.RUSAGE_CHILDREN) - children0
    assert answer.status_code == 200, answer.text
    statuses = {r["status"] for r in answer.json()["homes"].values()}
    assert statuses == {"trained"}, f"not every home trained: {statuses}"
    return {"wall": wall, "component_cpu": component, "worker_cpu": in_workers, "load": load,
            "worker_peak_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            "workers_left": left, "self_rss_mib": rss_kib() / 1024}


def show(label: str, homes: int, days: int, r: dict[str, float]) -> None:
    cpu = r["component_cpu"] + r["worker_cpu"]
    years = homes * days / 365
    print(f"{label:<22} wall {r['wall']:7.1f} s  CPU {cpu:7.1f} s (component {r['component_cpu']:.1f}, workers "
          f"{r['worker_cpu']:.1f}) = {cpu / homes:.2f} s a home  {years / r['wall'] * 60:5.1f} home-years/min  "
          f"load {r['load']:.1f}  largest worker's RSS peak {r['worker_peak_mib']:.0f} MiB, "
          f"workers left running {r['workers_left']:.0f}",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--homes", type=int, default=40)
    parser.add_argument("--days", type=int, default=365, help="simulated days per home")
    parser.add_argument("--window-days", type=float, default=None,
                        help="HOMETWIN_MODELING_WINDOW_DAYS (default: --days, the whole period)")
    parser.add_argument("--workers", default="1,2", help="HOMETWIN_MODELING_WORKERS values (comma-separated)")
    parser.add_argument("--repeat", type=int, default=1, help="measured rounds per worker count (median)")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    window = args.window_days or float(args.days)

    root = Path(tempfile.mkdtemp(prefix="hometwin-retrain-"))
    os.environ.update({"HOMETWIN_DATA_DIR": str(root), "HOMETWIN_HOMES_FILE": str(root / "homes.yaml"),
                       "HOMETWIN_MODELING_WINDOW_DAYS": str(window), "HOMETWIN_LOG_LEVEL": "WARNING"})
    for name in ("HOMETWIN_EVENTS", "HOMETWIN_MODEL_STORE", "HOMETWIN_STATE_STORE"):
        os.environ.pop(name, None)
    trained_days = min(window, args.days)
    rounds: dict[int, list[dict[str, float]]] = {w: [] for w in counts}
    try:
        build_fleet(root, args.homes, args.days)
        print(f"uptime before the rounds: {os.getloadavg()}")
        show(f"first models, {max(counts)} w", args.homes, trained_days, retrain(max(counts), "first", args.days))
        for k in range(args.repeat):
            for w in counts:
                rounds[w].append(retrain(w, f"week{k}-{w}", args.days))
                show(f"retrain, {w} worker(s)", args.homes, trained_days, rounds[w][-1])
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(f"\nmedians of {args.repeat} round(s); {args.homes} homes, {trained_days:g} days each, calibration included")
    base: float | None = None
    for w in counts:
        med: dict[str, Any] = {key: statistics.median(r[key] for r in rounds[w]) for key in rounds[w][0]}
        cpu = med["component_cpu"] + med["worker_cpu"]
        per_home = med["wall"] / args.homes
        base = base or med["wall"]
        print(f"{w} worker(s): wall {med['wall']:.1f} s (x{base / med['wall']:.2f}), CPU {cpu / args.homes:.2f} s a "
              f"home, {args.homes * trained_days / 365 / med['wall'] * 60:.1f} home-years/min; 1,000 homes: "
              f"1000 x {med['wall']:.1f} s / {args.homes} = {1000 * per_home / 60:.1f} min; "
              f"largest worker's RSS peak {med['worker_peak_mib']:.0f} MiB, component "
              f"{med['self_rss_mib']:.0f} MiB "
              f"(load {med['load']:.1f})")


if __name__ == "__main__":
    main()
