"""Behaviour-model benchmark: training on a simulated year of one home.

    .venv/bin/python benchmarks/model.py [--days 365] [--repeat 5] [--seed 1]

Prints, per phase, the median over the repeats (and min/max): the whole `train_model`, and its
parts (event arrays + stays, the statistics of domain/model_training.py, the silence model of
domain/silence.py, the fingerprint), JSON size and round trip, a query, then memory: the peak of
Python/numpy allocations during one training (tracemalloc, a separate untimed run) and the
process's peak resident memory (ru_maxrss, including the simulated events themselves).
Then the per-home calibration (domain/calibration.py, what services/training.py adds to a training)
and one monitoring check (`detect` on the last 36 h, as the monitoring runs it) at many moments of
the last simulated week. Targets (issue 14): training one home-year < 5 s and < 300 MB peak, one
check < 20 ms.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from hometwin.domain.calibration import calibrate
from hometwin.domain.detection import RECENT_WINDOW, detect
from hometwin.domain.model import BehaviourModel, fingerprint, train_model
from hometwin.domain.model_training import learn
from hometwin.domain.silence import SilenceModel
from hometwin.domain.stays import event_arrays, timeline_from_arrays
from hometwin.services.training import numerics_on_one_thread
from hometwin.sim import simulate

TZ = "Europe/Berlin"


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def report(name: str, seconds: list[float], extra: str = "") -> None:
    med = statistics.median(seconds)
    print(f"{name:<30} median {med * 1000:8.1f} ms  (min {min(seconds) * 1000:.1f}, "
          f"max {max(seconds) * 1000:.1f}) {extra}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    sim_s, sim = timed(lambda: simulate(days=args.days, seed=args.seed, start=datetime(2024, 1, 1, tzinfo=UTC)))
    events = sim.events
    print(f"simulated {args.days} days: {len(events):,} events in {sim_s:.1f} s (not part of the target)")

    phases: dict[str, list[float]] = {k: [] for k in ("train_model", "arrays+stays", "statistics",
                                                       "silence", "fingerprint")}
    model: BehaviourModel | None = None
    for _ in range(args.repeat):
        s, model = timed(lambda: train_model(events, tz=TZ))
        phases["train_model"].append(s)
        s, arrays = timed(lambda: event_arrays(events))
        s2, tl = timed(lambda a=arrays: timeline_from_arrays(a))
        phases["arrays+stays"].append(s + s2)
        t_start, t_end = float(arrays.t[0]), float(arrays.t[-1])
        params = model.params
        phases["statistics"].append(
            timed(lambda a=arrays, t=tl, p=params, lo=t_start, hi=t_end: learn(a, t, TZ, p, lo, hi))[0])
        phases["silence"].append(timed(lambda t=tl, p=params: SilenceModel.train(events, t, TZ, p.silence,
                                                                                 p.stays))[0])
        phases["fingerprint"].append(timed(lambda a=arrays: fingerprint(a))[0])
    assert model is not None
    for name, seconds in phases.items():
        extra = f"-> {len(events) / statistics.median(seconds):,.0f} events/s" if name == "train_model" else ""
        report(name, seconds, extra)

    doc_s, text = timed(lambda: json.dumps(model.to_dict()))
    load_s, _ = timed(lambda: BehaviourModel.from_dict(json.loads(text)))
    print(f"JSON document                  {len(text) / 1024:.0f} KiB (to_dict+dumps {doc_s * 1000:.0f} ms, "
          f"loads+from_dict {load_s * 1000:.0f} ms)")
    at = datetime(2025, 1, 6, 8, tzinfo=UTC)
    queries = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for i in range(1000):
            model.stay_duration("bathroom", at + timedelta(minutes=i))
        queries.append((time.perf_counter() - t0) / 1000)
    print(f"stay_duration query            median {statistics.median(queries) * 1e6:.0f} us")

    cal_s = []
    for _ in range(max(1, args.repeat // 2)):
        cal_s.append(timed(lambda: calibrate(events, tz=TZ, budget=0.1, params=model.params))[0])
    report("calibration (4 folds, 28 days)", cal_s, "(cross-validates the last 8 weeks)")
    total = statistics.median(phases["train_model"]) + statistics.median(cal_s)
    print(f"training with calibration       {total:.1f} s (medians added; target < 5 s)")

    import bisect
    times = [e.time for e in events]
    checks = []
    for k in range(200):
        now = events[-1].time - timedelta(days=7) + timedelta(minutes=50 * k + 7)
        hi, lo = bisect.bisect_right(times, now), bisect.bisect_left(times, now - RECENT_WINDOW)
        recent = events[lo:hi]
        checks.append(timed(lambda r=recent, n=now: detect(model, r, n))[0])
    checks.sort()
    print(f"one monitoring check           median {statistics.median(checks) * 1000:.1f} ms, "
          f"p95 {checks[int(0.95 * len(checks))] * 1000:.1f} ms, max {checks[-1] * 1000:.1f} ms (200 moments)")

    tracemalloc.start()
    train_model(events, tz=TZ)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"peak allocations in train_model {peak / 2**20:.0f} MiB (tracemalloc; beyond the input events)")
    print(f"peak RSS of this process        {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB "
          "(simulator, events and training together)")


if __name__ == "__main__":
    with numerics_on_one_thread():  # as services/training.py trains: no spinning BLAS/OpenMP threads
        main()
