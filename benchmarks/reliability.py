"""Reliability soak: the full outage matrix and a long kill loop over the real alerting stack.

    .venv/bin/python benchmarks/reliability.py [--speed 30] [--durations 2,6,20] [--rows all]
        [--kills 100] [--seed 13]

The stack is tests/e2e/alerting_stack.py: the scheduler, the monitoring and the actuation as real
processes, SeaweedFS, aiosmtpd and the event source, the home's clock accelerated `--speed` times
and every real-time setting divided by it (its docstring states the scale). `make test` runs a
subset of each (tests/e2e/test_outages.py, tests/e2e/test_kill_loop.py); this runs all of it:

- Outage matrix: for each row (every part alone, then every pair of parts at once) a fresh stack
  with an active, unacknowledged emergency reminded every 2 minutes; the row's parts are stopped for
  each of `--durations` minutes (home's clock) in turn, 3 minutes apart. After each outage and its
  2-minute margin the e-mail is judged (tests/e2e/outage_plan.py `judge`): every notification id
  in the alert book in the mailbox within outage + 2 minutes, exactly once unless the object store
  was down (copies counted), no dead invocation of an alerting function, reminders on schedule (one
  that fell due while the checks could not run within 2 minutes of their return); while the object
  store is down the monitoring's checks must go on finding the emergency.
- Kill loop: a fresh stack under event load (LoadEvents posted to the scheduler, a receiver
  registered for them), `--kills` random SIGKILLs of the scheduler, the monitoring and the actuation,
  each followed by a restart (tests/e2e/kill_loop.py). Acknowledged events lost, e-mails missing,
  late or doubled, reminders off their schedule.

Prints one Markdown table row per outage as it goes (docs/reliability.md holds a run's output) and
exits 1 if any check failed. `--rows` takes `all`, `singles`, `pairs`, `none`, or a comma-separated
list of those and of rows such as `store,store+smtp`. Parts: scheduler, monitoring, actuation, store (SeaweedFS), smtp
(aiosmtpd), source (the event source).
"""

from __future__ import annotations

import argparse
import itertools
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the stack and its verdict live with the tests they serve

from tests.e2e.alerting_stack import PARTS, AlertingStack, Scale  # noqa: E402
from tests.e2e.kill_loop import run_kill_loop  # noqa: E402
from tests.e2e.outage_plan import MARGIN_MINUTES, Window, judge, reminder_gaps, run_outage  # noqa: E402
from tests.servers import wait_until  # noqa: E402

PAUSE_MINUTES = 3.0  # home's clock between two outages of one row


def rows(spec: str) -> list[tuple[str, ...]]:
    singles = [(p,) for p in PARTS]
    pairs = list(itertools.combinations(PARTS, 2))
    named = {"all": singles + pairs, "singles": singles, "pairs": pairs, "none": []}
    out: list[tuple[str, ...]] = []
    for item in spec.split(","):
        if item.strip() in named:
            out += named[item.strip()]
            continue
        parts = tuple(p.strip() for p in item.split("+"))
        unknown = [p for p in parts if p not in PARTS]
        if unknown:
            raise SystemExit(f"unknown part(s) {unknown}; parts are {', '.join(PARTS)}")
        out.append(parts)
    return out


def outage_row(parts: tuple[str, ...], durations: list[float], scale: Scale, workdir: Path) -> bool:
    stack = AlertingStack(workdir, scale)
    ok = True
    try:
        stack.start()
        wait_until(lambda: len(stack.mails()) >= 2, timeout=90, what="the emergency e-mail and a reminder")
        windows: list[Window] = []
        for minutes in durations:
            windows.append(run_outage(stack, parts, minutes))
            time.sleep(scale.real(MARGIN_MINUTES) + 1.0)
            verdict = judge(stack, windows)
            index = len(windows) - 1
            window = windows[-1]
            watched = "store" in parts and not {"monitoring", "scheduler"} & set(parts)
            detection = (f"{window.checks_seen} checks, min {min(window.findings_seen, default=0)} finding(s)"
                         if watched else "-")
            detection_ok = not watched or window.detection_went_on()
            schedule = reminder_gaps(stack, windows)
            off = [i for i in schedule if not i.on_time(MARGIN_MINUTES)]
            row_ok = verdict.ok and detection_ok and not off
            ok = ok and row_ok
            real_down = window.end - window.down
            after_back = f"{verdict.after_back[index]:+.1f}" if index in verdict.after_back else "-"
            print(f"| {'+'.join(parts)} | {minutes:g} ({real_down * scale.speed / 60:.1f}) "
                  f"| {real_down:.1f} | {verdict.held.get(index, 0)} | {after_back} "
                  f"| {verdict.notifications} | {len(verdict.missing)} | {len(verdict.late)} | {verdict.copies} "
                  f"| {len(verdict.dead)} | {len(schedule)} / {len(off)} | {detection} "
                  f"| {'pass' if row_ok else 'FAIL'} |", flush=True)
            if not row_ok:
                print(f"    {verdict.summary()}; off schedule: {off}", flush=True)
            time.sleep(scale.real(PAUSE_MINUTES))
    except Exception as exc:  # noqa: BLE001 - report the row as failed, go on with the next
        print(f"| {'+'.join(parts)} | error: {exc!r} ||||||||||| FAIL |", flush=True)
        print(stack.logs(15) if hasattr(stack, "stack") else "", flush=True)
        ok = False
    finally:
        stack.close()
    return ok


def kill_soak(kills: int, seed: int, speed: float, workdir: Path) -> bool:
    scale = Scale(speed=speed, repeat_minutes=4.0)
    stack = AlertingStack(workdir, scale)
    try:
        stack.start()
        wait_until(lambda: len(stack.mails()) >= 1, timeout=90, what="the emergency e-mail")
        result = run_kill_loop(stack, kills, seed=seed, settle_timeout=300)
    finally:
        stack.close()
    off = [i for i in result.reminder_gaps if not i.on_time(MARGIN_MINUTES)]
    v = result.verdict
    ok = (not result.lost and v.ok and v.copies == 0 and not off)
    gaps = [i.gap for i in result.reminder_gaps if i.kind == "reminder"]
    print("\n| kills (scheduler / monitoring / actuation) | real s | events acknowledged | lost | e-mails due "
          "| missing | late | copies | dead | reminder gaps (min) | off schedule | result |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {sum(result.kills.values())} ({result.kills['scheduler']} / {result.kills['monitoring']} / "
          f"{result.kills['actuation']}) | {result.seconds:.0f} | {result.acknowledged} | {len(result.lost)} "
          f"| {v.notifications} | {len(v.missing)} | {len(v.late)} | {v.copies} | {len(v.dead)} "
          f"| {min(gaps, default=0):.1f}-{max(gaps, default=0):.1f} | {len(off)} | {'pass' if ok else 'FAIL'} |")
    if not ok:
        print(f"    {result.summary()}\n    off schedule: {off}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed", type=float, default=30.0, help="simulated seconds per real second")
    parser.add_argument("--durations", default="2,6,20", help="outage lengths, minutes of the home's clock")
    parser.add_argument("--rows", default="all", help="all, singles, pairs, none, or e.g. store,store+smtp")
    parser.add_argument("--kills", type=int, default=100, help="SIGKILLs of the kill loop (0: skip it)")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    # A SIGTERM (or SIGINT, ignored in background jobs) unwinds like an error, so every server is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    durations = [float(d) for d in args.durations.split(",") if d.strip()]
    scale = Scale(speed=args.speed)
    started = time.time()
    ok = True
    with tempfile.TemporaryDirectory(prefix="hometwin-reliability-") as tmp:
        selected = rows(args.rows)
        if selected:
            print(f"Outage matrix: speed {args.speed:g}x, e-mail repeated every {scale.repeat_minutes:g} min, "
                  f"margin {MARGIN_MINUTES:g} min (home's clock)\n")
            print("| parts down | outage, min (measured) | real s | e-mails held | last arrival after back, min "
                  "| e-mails judged | missing | late | copies | dead | reminders checked / off schedule "
                  "| detection while store down | result |")
            print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for n, parts in enumerate(selected):
            ok = outage_row(parts, durations, scale, Path(tmp) / f"row{n}") and ok
        if args.kills:
            ok = kill_soak(args.kills, args.seed, args.speed, Path(tmp) / "kills") and ok
    print(f"\n{'all passed' if ok else 'FAILURES above'}; {time.time() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
