"""Run the evaluation over several homes and turn the recorded scores into the result.

`evaluate(homes, cfg)` -> a JSON-able dict: HomeTwin's default-setting figures at the top level
(all injections; `reachable` for the injections whose real data had an event within 30 min), every
method at its default knob (`methods`), the stuck-in-the-bathroom variant (`stuck`), each baseline
at HomeTwin's false-alarm rate and HomeTwin at each baseline's rate (`equal_rate`), the sweeps
(`sweeps`), the per-home figures (`by_home`) and the worst home (`worst_home`), and with
leave-one-home-out selection every method at the knob that meets `target_rate` on the other homes
(`loho`). `tables.py` renders it, `plot(result, path)` draws the sweep curves.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from hometwin.evaluation.harness import EvalConfig, HomeData, HomeRun, run_home
from hometwin.evaluation.loho import FalseAlarmTable, leave_one_home_out, worst_home
from hometwin.evaluation.metrics import (
    RECALL_AT,
    at_equal_rate,
    by_model,
    false_alarm_list,
    fault_notices,
    summarize,
    sweep,
)

MAIN = "hometwin"
HEADLINE = ("false_alarms_per_day", "false_alarms_per_day_ci", "test_days", "median_delay_min",
            "median_delay_day_min", "median_delay_night_min", "mean_delay_min",
            *(f"recall_at_{m}" for m in RECALL_AT))
Progress = Callable[[str, int, int], None]  # (home, work done, work in total)


def evaluate(homes: Sequence[HomeData], cfg: EvalConfig, progress: Progress | None = None,
             jobs: int = 1) -> dict[str, Any]:
    """Replay every home (in `jobs` processes when above 1) and compute the result. Every home's
    injections are drawn from its own seed, so the result does not depend on `jobs`."""
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    if jobs == 1 or len(homes) < 2:
        runs: list[HomeRun] = []
        for home in homes:
            if progress is not None:
                progress(home.name, 0, 1)
            runs.append(run_home(home, cfg, None if progress is None else _per_home(progress, home.name)))
        return result_of(runs, cfg)
    # A fresh interpreter per worker: forking a process that runs threads (the progress bar's, the
    # BLAS pools) can deadlock the child.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(homes)), mp_context=context) as pool:
        futures = {pool.submit(run_home, home, cfg): home.name for home in homes}
        if progress is not None:
            for name in futures.values():
                progress(name, 0, 1)
        for done in as_completed(futures):
            if progress is not None:
                progress(futures[done], 1, 1)
        return result_of([f.result() for f in futures], cfg)


def _per_home(progress: Progress, name: str) -> Callable[[int, int], None]:
    return lambda done, total: progress(name, done, total)


def result_of(runs: Sequence[HomeRun], cfg: EvalConfig) -> dict[str, Any]:
    methods = runs[0].methods
    defaults = {name: summarize(runs, name, m.default_theta) for name, m in methods.items()}
    stuck = {name: summarize(runs, name, m.default_theta, variant="stuck") for name, m in methods.items()}
    sweeps = {name: sweep(runs, name) for name in methods}
    main = defaults[MAIN]
    loho = cfg.loho and len(runs) >= 2
    table = FalseAlarmTable()
    equal = (_equal_rate_loho(runs, defaults, table, cfg.honest) if loho else
             _equal_rate_pooled(methods, defaults, sweeps))
    days = sum(r.test_days for r in runs)
    by_home = {r.name: {name: _short(summarize([r], name, m.default_theta)) for name, m in methods.items()}
               for r in runs}
    result: dict[str, Any] = {
        "method": MAIN,
        **{k: main[k] for k in HEADLINE},
        "reachable": main["reachable"],
        "residual_median_day_min": main["residual_median_day_min"],
        "residual_median_night_min": main["residual_median_night_min"],
        "false_alarms": main["false_alarms"],
        "false_alarms_by": main["false_alarms_by"],
        "resolution_false_alarms_per_day": round(1.0 / days, 4) if days else None,
        "resolution_note": (f"{days:.1f} test days pooled over {len(runs)} home(s): one false alarm more or "
                            f"less changes the rate by {1.0 / days:.3f} per day" if days else ""),
        "homes": [_home(r) for r in runs],
        # HomeTwin's false alarms by the model's rank in the schedule: how a new home's first weeks fare
        "by_model": by_model(runs, MAIN, methods[MAIN].default_theta),
        # each of HomeTwin's false alarms, to read with the events around it (`hometwin evaluate` lists them)
        "false_alarm_list": false_alarm_list(runs, MAIN, methods[MAIN].default_theta),
        # known sensor faults (simulated homes) that a technical finding noticed: not false alarms
        "fault_notices": fault_notices(runs, MAIN, methods[MAIN].default_theta),
        "config": cfg.to_dict(),
        "methods": {name: {"label": m.label, "knob": m.knob, **defaults[name]}
                    for name, m in methods.items()},
        "stuck": stuck,
        "equal_rate": equal,
        "sweeps": sweeps,
        "by_home": by_home,
        "worst_home": {name: worst_home({h: by_home[h][name] for h in by_home}) for name in methods},
    }
    if loho:
        result["loho"] = {"target_rate": cfg.target_rate, "methods": {
            name: leave_one_home_out(runs, name, lambda _others: cfg.target_rate, table) for name in methods}}
    else:
        result["loho"] = None
    return result


def _home(r: HomeRun) -> dict[str, Any]:
    falls = [i for i, inj in enumerate(r.injections) if inj.variant == "fall"]
    reachable = [i for i in falls if r.residuals[i] <= r.reachable_min]
    return {"name": r.name, "train_days": round(r.train_days, 2), "test_days": round(r.test_days, 2),
            "span_days": round((r.test_end - r.test_start).total_seconds() / 86400, 2),
            "models": len(r.folds),
            "injections": len(falls), "reachable_injections": len(reachable),
            "stuck_injections": sum(1 for i in r.injections if i.variant == "stuck")}


def _equal_rate_pooled(methods: dict[str, Any], defaults: dict[str, dict[str, Any]],
                       sweeps: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The earlier comparison: every knob chosen on all homes pooled, the measured ones included."""
    main = defaults[MAIN]
    equal: dict[str, Any] = {}
    for name in methods:
        if name == MAIN:
            continue
        base_at_ours = at_equal_rate(sweeps[name], main["false_alarms_per_day"])
        ours_at_base = at_equal_rate(sweeps[MAIN], defaults[name]["false_alarms_per_day"])
        equal[name] = {
            "selection": "pooled",
            "baseline_at_hometwin_rate": _short(base_at_ours),
            "hometwin_at_baseline_rate": _short(ours_at_base),
            "baseline_default": _short(defaults[name]),
            # both ways: HomeTwin's default against the baseline tuned to HomeTwin's false-alarm
            # rate, and HomeTwin tuned to the baseline's default rate against that default
            "hometwin_beats_baseline": _beats(main, base_at_ours) and _beats(ours_at_base, defaults[name]),
        }
    return equal


def _equal_rate_loho(runs: Sequence[HomeRun], defaults: dict[str, dict[str, Any]], table: FalseAlarmTable,
                     reachable: bool) -> dict[str, Any]:
    """Each home measured at the knob that meets the other method's rate on the other homes."""
    main = defaults[MAIN]
    equal: dict[str, Any] = {}

    def default_rate(name: str) -> Callable[[Sequence[HomeRun]], float]:
        theta = runs[0].methods[name].default_theta
        return lambda others: table.rate(others, name, theta)

    for name in runs[0].methods:
        if name == MAIN:
            continue
        base_at_ours = leave_one_home_out(runs, name, default_rate(MAIN), table)["pooled"]
        ours_at_base = leave_one_home_out(runs, MAIN, default_rate(name), table)["pooled"]
        equal[name] = {
            "selection": "loho",
            "baseline_at_hometwin_rate": _short(base_at_ours),
            "hometwin_at_baseline_rate": _short(ours_at_base),
            "baseline_default": _short(defaults[name]),
            # Knobs chosen on the other homes do not hit the target exactly on the held-out one, so
            # "better" also asks for no more false alarms than the other side.
            "hometwin_beats_baseline": (_beats(main, base_at_ours, reachable, strict_rate=True)
                                        and _beats(ours_at_base, defaults[name], reachable, strict_rate=True)),
            "faster_both_ways": (_beats(main, base_at_ours, reachable)
                                 and _beats(ours_at_base, defaults[name], reachable)),
        }
    return equal


def _short(s: dict[str, Any]) -> dict[str, Any]:
    return {k: s[k] for k in ("theta", "false_alarms", "injections", *HEADLINE, "reachable") if k in s}


def _delay(s: dict[str, Any], key: str) -> float:
    v = s.get(key)
    return float("inf") if v is None else float(v)


def _beats(a: dict[str, Any], b: dict[str, Any], reachable: bool = False, strict_rate: bool = False) -> bool:
    """At no more false alarms than b (the caller picks the points so, or `strict_rate` checks it),
    a is no slower by day or by night and faster in one of them (or notices more within 4 h)."""
    if strict_rate and (a["false_alarms_per_day"] or 0.0) > (b["false_alarms_per_day"] or 0.0):
        return False
    fa, fb = (a["reachable"], b["reachable"]) if reachable else (a, b)
    day_a, day_b = _delay(fa, "median_delay_day_min"), _delay(fb, "median_delay_day_min")
    night_a, night_b = _delay(fa, "median_delay_night_min"), _delay(fb, "median_delay_night_min")
    no_worse = day_a <= day_b and night_a <= night_b
    return bool(no_worse and (day_a < day_b or night_a < night_b
                              or (fa["recall_at_240"] or 0.0) > (fb["recall_at_240"] or 0.0)))


def plot(result: dict[str, Any], path: Path) -> None:
    """False alarms per day against median delay, by day and by night, for every method's sweep."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    horizon = result["config"]["horizon_h"] * 60
    # The honest protocol plots the reachable injections' delays (its headline), the earlier one all.
    reachable = result["config"].get("counting") == "honest"

    def delay(point: dict[str, Any], key: str) -> float:
        v = (point["reachable"] if reachable else point)[key]
        return horizon if v is None else float(v)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    for ax, part, target in ((axes[0], "day", 45), (axes[1], "night", 120)):
        key = f"median_delay_{part}_min"
        for name, curve in result["sweeps"].items():
            xs = [p["false_alarms_per_day"] for p in curve]
            ys = [delay(p, key) for p in curve]
            line, = ax.plot(xs, ys, marker=".", label=result["methods"][name]["label"])
            d = result["methods"][name]
            ax.plot([d["false_alarms_per_day"]], [delay(d, key)], marker="o",
                    markersize=9, color=line.get_color(), markerfacecolor="none")
        ax.axvline(0.1, color="grey", linestyle=":", linewidth=1)
        ax.axhline(target, color="grey", linestyle=":", linewidth=1)
        ax.set_xscale("symlog", linthresh=0.1)
        ax.set_xlim(left=0)
        ax.set_xlabel("false alarms per day (pooled)")
        ax.set_title(f"by {part} (target: <= 0.1 FA/day, median <= {target} min)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"median delay{', reachable falls' if reachable else ''}, minutes "
                       f"({horizon:.0f} = not noticed)")
    axes[0].legend(fontsize=8)
    fig.suptitle("Sensitivity sweep; circles = default setting")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
