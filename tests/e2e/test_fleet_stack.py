"""A fleet of two homes through real processes (issue 16, item 2): the scheduler, the monitoring and
the actuation of tests/e2e/alerting_stack.py, configured by a homes file instead of one home.

The stack's fallen resident is home `reliability` (the stack's InfluxDB source, its caregivers); a
second home, `quiet`, has its own embedded store and no model yet. The fall must be mailed to
`reliability`'s caregivers only, and the home without a model must not hold up the other's checks.
"""

from __future__ import annotations

import email
import email.policy
import time
from pathlib import Path

from tests.e2e.alerting_stack import CAREGIVERS, HOME, AlertingStack

QUIET_FAMILY = "quiet-family@example.org"


def homes_file(tmp_path: Path) -> Path:
    path = tmp_path / "homes.yaml"
    path.write_text(f"""homes:
  - id: {HOME}
    caregivers: [{", ".join(CAREGIVERS)}]
    sensors: {{influx_bucket_pattern: "^[^_]"}}   # the stack's source: every sensor bucket
  - id: quiet
    caregivers: [{QUIET_FAMILY}]
    sensors: {{events: "sqlite://{tmp_path}/quiet.sqlite"}}
""", encoding="utf-8")
    return path


def mailed(stack: AlertingStack) -> list[tuple[str, str]]:
    """(Message-ID, To) of every e-mail the mail server accepted."""
    out = []
    for sub in ("new", "cur"):
        folder = stack.smtp.maildir / sub
        for path in (folder.iterdir() if folder.is_dir() else []):
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            out.append((str(msg["Message-ID"]), str(msg["To"])))
    return out


def test_a_fall_in_one_home_of_a_fleet_is_mailed_to_its_caregivers_only(tmp_path: Path) -> None:
    stack = AlertingStack(tmp_path / "stack", extra_env={"HOMETWIN_HOMES_FILE": str(homes_file(tmp_path))})
    try:
        stack.start()
        deadline = time.monotonic() + 180
        while not stack.mails() and time.monotonic() < deadline:
            time.sleep(1)
        assert stack.mails(), stack.logs()
        homes = stack.status("monitoring")["homes"]
        assert homes[HOME]["last_outcome"]["status"] == "ok"
        assert homes["quiet"]["last_outcome"]["status"] == "no-model"  # and did not hold up the other
        assert set(stack.status("actuation")["homes"]) == {HOME, "quiet"}
        mails = mailed(stack)
        assert mails and all(message_id.endswith(f".{HOME}@hometwin>") for message_id, _ in mails)
        assert all(QUIET_FAMILY not in to and CAREGIVERS[0] in to for _, to in mails), mails
    finally:
        stack.close()
