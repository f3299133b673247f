"""E-mail for many homes: one exactly-once `Notifier` per home, chosen by the event's `home_id`.

Each home's notifier keys its outbox, sent markers and leases under `state/<home>/mail/` and mails
only that home's caregivers (`services.outbox`), so a fall in one home never reaches the caregivers
of another. An event without `home_id` (a monitoring from before homes, or a course component)
belongs to the default home (the first); without a homes file every event belongs to the one home,
whatever it names. In a fleet, an event naming a home this deployment does not serve is refused
(`InvalidNotification`: dead-lettered, not retried).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from pydantic import SecretStr

from hometwin.config import MailSettings
from hometwin.domain.ack_links import home_key
from hometwin.ports import Mailer, ObjectStore, PortError
from hometwin.services.errors import InvalidNotification
from hometwin.services.homes import Homes
from hometwin.services.outbox import FlushReport, Notifier

log = logging.getLogger(__name__)


class HomeNotifiers:
    """The notifiers of the homes one actuation serves; the first is the default home's."""

    def __init__(self, notifiers: Mapping[str, Notifier], *, fleet: bool = True) -> None:
        if not notifiers:
            raise ValueError("an actuation needs at least one home")
        self.notifiers = dict(notifiers)
        self.default = next(iter(self.notifiers))
        self.fleet = fleet  # False: one home without a homes file; /status keeps its single-home form

    @classmethod
    def single(cls, notifier: Notifier) -> HomeNotifiers:
        return cls({notifier.settings.home_id: notifier}, fleet=False)

    def for_event(self, data: Mapping[str, Any]) -> Notifier:
        home_id = data.get("home_id")
        if home_id is None or not self.fleet:  # one home: every event is its, as before homes existed
            return self.notifiers[self.default]
        notifier = self.notifiers.get(str(home_id)) if isinstance(home_id, str) else None
        if notifier is None:
            raise InvalidNotification(f"home_id {home_id!r} is not a home this actuation serves")
        return notifier

    def handle(self, data: Mapping[str, Any], idempotency_key: str) -> str:
        return self.for_event(data).handle(data, idempotency_key)

    def send_report(self, data: Mapping[str, Any], idempotency_key: str) -> str:
        report = data.get("report")
        return self.for_event(data).send_report(report, idempotency_key) if report else "no_report"

    def flush_outbox(self) -> FlushReport:
        """Retry every home's outbox; one home's store failure does not hold up the others."""
        sent = waiting = 0
        failures: list[str] = []
        for home_id, notifier in self.notifiers.items():
            try:
                report = notifier.flush_outbox()
            except (PortError, OSError) as exc:
                failures.append(f"{home_id}: {exc}")
                continue
            sent, waiting = sent + report.sent, waiting + report.waiting
        if failures and len(failures) == len(self.notifiers):
            raise PortError("; ".join(failures)[:500])
        for failure in failures:
            log.error("mail outbox of home %s", failure)
        return FlushReport(sent, waiting)

    def status(self) -> dict[str, Any]:
        if not self.fleet:
            return self.notifiers[self.default].status()
        return {"homes": {home_id: n.status() for home_id, n in self.notifiers.items()}}


def build_notifiers(homes: Homes, mailer: Mailer, store: ObjectStore, settings: MailSettings, *,
                    ack_link_lifetime: timedelta) -> HomeNotifiers:
    """A notifier per home: the mail settings with the home's id, time zone and caregivers.

    In a fleet each home's e-mails link to that home's pages on the dashboard
    (`<HOMETWIN_PUBLIC_DASHBOARD_URL>/h/<home id>`, so the ack link is `.../h/<home id>/ack?token=`),
    signed with the home's own key (`ack_links.home_key`): a link of one home acknowledges nothing
    in another, even where both have an alert of the same id."""
    if homes.implicit:
        return HomeNotifiers.single(Notifier(mailer, store, settings, ack_link_lifetime=ack_link_lifetime))
    secret = settings.ack_key()
    base = (settings.public_dashboard_url or "").rstrip("/")
    notifiers = {}
    for home in homes:
        update: dict[str, Any] = {"home_id": home.id, "tz": home.tz, "caregivers": list(home.caregivers),
                                  "public_dashboard_url": f"{base}/h/{home.id}" if base else None,
                                  "ack_secret": SecretStr(home_key(secret, home.id)) if secret else None,
                                  "ack_secret_file": None}
        notifiers[home.id] = Notifier(mailer, store, settings.model_copy(update=update),
                                      ack_link_lifetime=ack_link_lifetime)
    return HomeNotifiers(notifiers)
