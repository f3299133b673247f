"""Random SIGKILLs over the scheduler, the monitoring and the actuation while an emergency is active
and events stream in: shared by tests/e2e/test_kill_loop.py (about 20 kills, in `make test`) and
benchmarks/reliability.py (100 and more).

The event load: threads post `LoadEvent`s to the scheduler; an HTTP receiver in this process
(`scheduler_helpers.Receiver`) is registered for them. An event counts as acknowledged when the
scheduler answered 202; each must reach the receiver (at least once), however often the scheduler
was killed. Each kill is followed at once by a restart (as a Kubernetes Deployment would), and the
killed part's downtime is an outage window for the e-mail verdict of `outage_plan.judge`.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

import httpx

from tests.e2e.alerting_stack import AlertingStack
from tests.e2e.outage_plan import MARGIN_MINUTES, Interval, Verdict, Window, judge, reminder_gaps
from tests.e2e.scheduler_helpers import Receiver

KILLED = ("scheduler", "monitoring", "actuation")
SINK = "/load_sink"


@dataclass
class KillLoopResult:
    kills: dict[str, int] = field(default_factory=dict)
    windows: list[Window] = field(default_factory=list)
    acknowledged: int = 0
    lost: list[str] = field(default_factory=list)
    verdict: Verdict = field(default_factory=Verdict)
    reminder_gaps: list[Interval] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        values = [i.gap for i in self.reminder_gaps]
        gaps = f"{min(values):.1f}-{max(values):.1f}" if values else "-"
        return (f"kills {self.kills} in {self.seconds:.0f} s; events acknowledged {self.acknowledged}, "
                f"lost {len(self.lost)}; e-mail: {self.verdict.summary()}; reminder gaps {gaps} min")


class EventLoad:
    """Posts LoadEvents to the scheduler from a few threads, noting each one it acknowledged."""

    def __init__(self, scheduler_url: str, threads: int = 2, pause: float = 0.02) -> None:
        self.url, self.pause = scheduler_url, pause
        self.acked: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._post, args=(n,), daemon=True) for n in range(threads)]

    def __enter__(self) -> EventLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)

    def _post(self, n: int) -> None:
        with httpx.Client(base_url=self.url, timeout=5) as client:
            sequence = 0
            while not self._stop.is_set():
                sequence += 1
                try:
                    response = client.post("/api/event", json={"name": "LoadEvent", "data": {"n": n, "i": sequence}})
                except httpx.HTTPError:
                    time.sleep(0.05)  # the scheduler is being restarted
                    continue
                if response.status_code == 202:
                    with self._lock:
                        self.acked.append(response.json()["id"])
                time.sleep(self.pause)


def register_sink(stack: AlertingStack, receiver: Receiver) -> None:
    response = httpx.post(f"{stack.stack.url('scheduler')}/api/function", timeout=10,
                          json={"name": "load_sink", "subs": ["LoadEvent"], "url": f"{receiver.base}{SINK}",
                                "method": "POST"})
    response.raise_for_status()


def run_kill_loop(stack: AlertingStack, kills: int, *, seed: int = 13, pause: tuple[float, float] = (0.3, 1.5),
                  settle_timeout: float = 120.0) -> KillLoopResult:
    """`kills` SIGKILLs, each followed by a restart; then wait for the load and the e-mail to settle."""
    rng = random.Random(seed)
    receiver = Receiver().start()
    result = KillLoopResult(kills={name: 0 for name in KILLED})
    started = time.time()
    try:
        register_sink(stack, receiver)
        with EventLoad(stack.stack.url("scheduler")) as load:
            for _ in range(kills):
                part = rng.choice(KILLED)
                window = Window((part,), 0.0, time.time())
                stack.stop(part, kill=True)
                stack.start_again(part)
                window.back = time.time()
                result.windows.append(window)
                result.kills[part] += 1
                time.sleep(rng.uniform(*pause))
        result.acknowledged = len(load.acked)
        deadline = time.time() + settle_timeout
        while True:
            delivered = {e for r in receiver.for_path(SINK) for e in r.event_ids}
            result.lost = [e for e in load.acked if e not in delivered]
            if not result.lost or time.time() > deadline:
                break
            time.sleep(0.5)
        time.sleep(stack.scale.real(MARGIN_MINUTES) + 1.0)
        result.verdict = judge(stack, result.windows)
        result.reminder_gaps = reminder_gaps(stack, result.windows)
    finally:
        receiver.stop()
    result.seconds = time.time() - started
    return result
