"""Suite b, the kill loop: random SIGKILLs of the scheduler, the monitoring and the actuation while
an emergency is active and events stream in (tests/e2e/kill_loop.py). 20 kills here; the soak with
100 and more is benchmarks/reliability.py (figures in docs/reliability.md).

Time scale: 30 simulated seconds per real second (tests/e2e/alerting_stack.py, `Scale`); the
emergency is reminded every 4 minutes of the home's clock. Pass: no event the scheduler
acknowledged is lost; every notification id in the alert book reaches the mailbox within 2 minutes,
plus the downtime of killed parts in that span, exactly once; no alerting invocation ends dead; each
reminder comes the repeat interval after the e-mail before it (an escalation the escalation interval
after the one before), never earlier, and at most 2 minutes later plus the time the checks could not
run (the scheduler or the monitoring was down).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.alerting_stack import AlertingStack, Scale, running_stack
from tests.e2e.kill_loop import run_kill_loop
from tests.e2e.outage_plan import MARGIN_MINUTES

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SCALE = Scale(speed=30.0, repeat_minutes=4.0)
KILLS = 20


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertingStack]:
    yield from running_stack(tmp_path_factory.mktemp("kill-loop"), SCALE, first_mails=1, what="the emergency e-mail")


def test_sigkills_lose_no_event_and_no_email_and_keep_the_reminders(stack: AlertingStack) -> None:
    result = run_kill_loop(stack, KILLS)
    print(result.summary())
    assert sum(result.kills.values()) == KILLS and all(result.kills.values()), result.kills
    assert result.acknowledged > 200, "too little load to mean anything"
    assert not result.lost, f"{len(result.lost)} acknowledged events never delivered: {result.lost[:5]}"
    verdict = result.verdict
    assert verdict.ok and verdict.copies == 0, f"{verdict.summary()}\n{stack.logs(15)}"
    assert verdict.notifications >= 5, verdict.summary()
    assert len(result.reminder_gaps) >= 3, "too few reminders to judge their interval"
    off = [i for i in result.reminder_gaps if not i.on_time(MARGIN_MINUTES)]
    assert not off, f"e-mails off their schedule: {off}"
