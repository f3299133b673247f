"""The services' error types: a notification that is not one, too little data to train, an alert
book that cannot be read, an acknowledgement for an episode that is over."""

from __future__ import annotations

from hometwin.ports import PortError


class InvalidNotification(ValueError):
    """The event data is not a notification; the message names the field (HTTP 422 upstream)."""


class NotEnoughData(ValueError):
    """Too little history to learn a routine from; the message says how much there is."""


class CorruptAlertState(PortError):
    """The stored alert book cannot be read as an AlertBook; it is left as is for a human to inspect."""


class EpisodeOver(ValueError):
    """The acknowledgement is for an episode of the alert that is over; the alert came back since."""

    def __init__(self, alert_id: str, episode: int, current: int) -> None:
        super().__init__(f"this acknowledgement is for episode {episode} of alert {alert_id}, which is over; "
                         f"the alert is now in episode {current} and needs its own acknowledgement")
        self.alert_id, self.episode, self.current = alert_id, episode, current
