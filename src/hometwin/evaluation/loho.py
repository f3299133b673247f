"""Leave one home out: every knob the evaluation chooses is chosen without the home it is measured on.

For each home h, the knob is the most eager value of the method's sweep whose false-alarm rate,
pooled over the *other* homes, is at most the target (itself computed on the other homes when it
is another method's rate); h is then measured at that knob. The pool adds up these held-out
measurements, and the worst home is reported next to it. With one home nothing can be held out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hometwin.evaluation.harness import HomeRun
from hometwin.evaluation.metrics import false_alarms, summarize

Target = Callable[[Sequence[HomeRun]], float]  # the false-alarm rate to meet, from the other homes


class FalseAlarmTable:
    """False alarms of every home at every knob value, counted once and reused by every selection."""

    def __init__(self) -> None:
        self._counts: dict[tuple[int, str, float], int] = {}

    def count(self, run: HomeRun, method: str, theta: float) -> int:
        key = (id(run), method, theta)
        if key not in self._counts:
            self._counts[key] = false_alarms(run, method, theta)[0]
        return self._counts[key]

    def rate(self, runs: Sequence[HomeRun], method: str, theta: float) -> float:
        days = sum(r.test_days for r in runs)
        return sum(self.count(r, method, theta) for r in runs) / days if days > 0 else float("inf")


def choose_theta(runs: Sequence[HomeRun], method: str, target: float, table: FalseAlarmTable) -> float:
    """The most eager knob of the sweep meeting `target` false alarms per day on `runs`; the most
    conservative one when none does."""
    sweep = runs[0].methods[method].sweep
    ok = [theta for theta in sweep if table.rate(runs, method, theta) <= target]
    return ok[-1] if ok else sweep[0]


def meets(runs: Sequence[HomeRun], method: str, theta: float, target: float, table: FalseAlarmTable) -> bool:
    return table.rate(runs, method, theta) <= target


def leave_one_home_out(runs: Sequence[HomeRun], method: str, target: Target,
                       table: FalseAlarmTable | None = None) -> dict[str, Any]:
    """Each home measured at the knob chosen on the others; the pool of these; the worst home."""
    if len(runs) < 2:
        raise ValueError("leave-one-home-out needs at least two homes")
    table = table or FalseAlarmTable()
    thetas, targets = [], []
    for i in range(len(runs)):
        others = [*runs[:i], *runs[i + 1:]]
        targets.append(target(others))
        thetas.append(choose_theta(others, method, targets[-1], table))
    by_home = {}
    for i, (r, th, tr) in enumerate(zip(runs, thetas, targets, strict=True)):
        others = [*runs[:i], *runs[i + 1:]]
        # False when no knob met the target on the other homes (the most conservative one is used).
        met = meets(others, method, th, tr, table)
        by_home[r.name] = {"target_rate": round(tr, 4), "target_met_on_others": met, **summarize([r], method, th)}
    pooled = summarize(runs, method, thetas)
    pooled["target_met_on_others"] = sum(1 for s in by_home.values() if s["target_met_on_others"])
    return {"pooled": pooled, "by_home": by_home, "worst_home": worst_home(by_home)}


_MISSING = object()


def _figure(s: dict[str, Any], key: str) -> Any:
    """A figure of a summary ("reachable.x": the reachable injections' figure x); _MISSING when it
    has nothing to say (no injection in that subset, no test day)."""
    if key.startswith("reachable."):
        s, key = s["reachable"], key.removeprefix("reachable.")
    if "delay" in key or "recall" in key:
        return s.get(key) if s.get("injections") else _MISSING
    value = s.get(key)
    return _MISSING if value is None else value


# (figure, larger is worse); a median of None means "> 12 h", the worst.
WORST = (("false_alarms_per_day", True), ("reachable.median_delay_day_min", True),
         ("reachable.median_delay_night_min", True), ("reachable.recall_at_240", False),
         ("median_delay_day_min", True), ("median_delay_night_min", True), ("recall_at_240", False))


def worst_home(by_home: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """For each headline figure, the home where it is worst and its value."""
    out: dict[str, dict[str, Any]] = {}
    for key, larger_worse in WORST:
        items = [(name, v) for name, s in by_home.items() if (v := _figure(s, key)) is not _MISSING]
        if not items:
            continue

        def badness(item: tuple[str, Any], larger: bool = larger_worse) -> float:
            if item[1] is None:
                return float("inf")
            return float(item[1]) if larger else -float(item[1])

        name, value = max(items, key=badness)
        out[key] = {"home": name, "value": value}
    return out
