"""The `actuation` component: turns `EmergencyEvent`s into e-mails to the caregivers.

`send_emergency_email` hands each notification to the Notifier, which sends exactly one e-mail per
notification id (the id is remembered in the state store, so a second delivery of the same
invocation, or a replay after a restart, sends nothing) and queues it durably when the mail server
is down. `send_weekly_report` mails the behaviour-change summary of each new model. A periodic job
retries the queue. With the state store down it still e-mails (counted on /status as unchecked
sends, see docs/alerts.md); it answers 503 only when the mail server is down as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI, HTTPException

from hometwin.components.common import add_health
from hometwin.config import ActuationSettings
from hometwin.ports import PortError
from hometwin.sdk import Invocation, LocalGateway
from hometwin.sdk.durations import parse_duration
from hometwin.sdk.invocation import read_invocation
from hometwin.services.errors import InvalidNotification
from hometwin.services.home_mail import HomeNotifiers, build_notifiers
from hometwin.services.outbox import Notifier

log = logging.getLogger(__name__)


def create_app(settings: ActuationSettings, *, notifier: Notifier | HomeNotifiers) -> LocalGateway:
    """`notifier`: one home's, or every home's (the event's `home_id` chooses: services/home_mail.py).
    With HOMETWIN_HOMES_FILE set, one home's notifier is the template of a notifier per home."""
    if isinstance(notifier, HomeNotifiers):
        notifiers = notifier
    elif settings.homes_file is not None:
        from hometwin.components.wiring import homes_from_settings

        notifiers = build_notifiers(homes_from_settings(settings), notifier.mailer, notifier.store,
                                    notifier.settings, ack_link_lifetime=notifier.messages.ack_link_lifetime)
    else:
        notifiers = HomeNotifiers.single(notifier)
    retry_every = parse_duration(settings.actuation_retry_every).total_seconds()

    async def retry_loop() -> None:
        while True:
            await asyncio.sleep(retry_every)
            try:
                report = await asyncio.to_thread(notifiers.flush_outbox)
                if report.sent:
                    log.info("mail outbox: %s", report)
            except (PortError, OSError) as exc:
                log.error("mail outbox unavailable, will retry: %s", exc)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(retry_loop(), name="hometwin-mail-retry")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app = LocalGateway(title="HomeTwin actuation", lifespan=lifespan)

    def handle(invocation: Invocation, event: str, fn: Any) -> dict[str, Any]:
        if event not in invocation:
            raise HTTPException(422, f"the invocation carries no {event}")
        key = invocation.idempotency_key or invocation.invocation_id or ""
        data = invocation[event].data
        if data is not None and not isinstance(data, dict):
            raise HTTPException(422, f"{event}: the event data must be an object, not {type(data).__name__}")
        try:
            return {"status": fn(data or {}, key)}
        except (InvalidNotification, ValueError) as exc:
            raise HTTPException(422, f"{event}: {exc}") from exc  # 4xx: dead-lettered, not retried
        except PortError as exc:
            raise HTTPException(503, f"cannot send now: {exc}") from exc  # retried

    def send_emergency_email(invocation: Invocation = Depends(read_invocation)) -> dict[str, Any]:
        return handle(invocation, "EmergencyEvent", notifiers.handle)

    def send_weekly_report(invocation: Invocation = Depends(read_invocation)) -> dict[str, Any]:
        return handle(invocation, "ModelTrainedEvent", notifiers.send_report)

    def status() -> dict[str, Any]:
        return notifiers.status()

    app.deploy(send_emergency_email, "send_emergency_email", "EmergencyEvent", method="POST")
    app.add_api_route("/status", status, methods=["GET"])
    app.deploy(send_weekly_report, "send_weekly_report", "ModelTrainedEvent", method="POST")
    add_health(app)
    return app
